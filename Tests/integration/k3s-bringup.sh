#!/usr/bin/env bash
# examples/homecloud/desired.yaml brings k3s up in order on its four boards (real systemd in systemd-nspawn,
# hcagent as its sandboxed unit, agent.yaml from examples/homecloud/agent.yaml with its policy): hc1-n1
# (k3s-init), hc1-n2 and hc1-n3 (k3s-server), hc1-n4 (k3s-agent). k3s is a stand-in (lib/k3s-standin.py: it makes
# the token on the first server, serves 6443, refuses to start a joiner whose config lacks the token or the API
# VIP's URL, and is Type=notify like k3s). The document is the example with the lab's addresses and without the
# dnas role (samba-share.sh tests those services). Joiners wait, and say so in hcctl units, for the first server's
# k3s-api probe and its token; their config (0600) holds the token and the VIP's URL; they start only after the
# probe is healthy on hc1-n1 and the token has arrived, and join through the VIP; the token never shows in status,
# plan, metrics or any journal. A changed server config (serial: true) restarts hc1-n2, then hc1-n3, whose status
# says meanwhile whom it waits for.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
source "$here/lib/container.sh"
LAB_NAME=hk3
LAB_NET=10.62.0
source "$root/scripts/lab.sh"
source "$here/lib/boards.sh"
require_root

work=$(mktemp -d /tmp/hk3-bringup.XXXXXX)
nspawns=()
trap boards_cleanup EXIT
started=$SECONDS
names=(- hc1-n1 hc1-n2 hc1-n4 hc1-n3)  # board b (1..4) is names[b]
vip=$(lab_ip 240)
hold=/run/k3s-standin-hold     # while it exists on hc1-n1, the first server's API does not answer yet
config=/etc/rancher/k3s/config.yaml

# The example as this lab's document: its addresses replaced, and the dnas role taken off the nodes.
sed -e "s/192\.168\.1\.11\b/$(lab_ip 1)/; s/192\.168\.1\.12\b/$(lab_ip 2)/; s/192\.168\.1\.13\b/$(lab_ip 4)/" \
  -e "s/192\.168\.1\.14\b/$(lab_ip 3)/; s/192\.168\.1\.240\b/$vip/; s/192\.168\.1\.250\b/$(lab_ip 250)/" \
  -e '/^  hc1-n[0-9]: /s/, dnas\]/]/' "$root/examples/homecloud/desired.yaml" >"$work/desired.yaml"

lab_up 4
boards_boot hk3 1 2 3 4 || exit 1
prop() { on "$1" systemctl show -p "$3" --value "$2"; }
active() { [ "$(prop "$1" "$2" ActiveState)" = active ]; }
# alive_view BOARD B...: BOARD's gossip sees the boards B... alive.
alive_view() {
  local b=$1
  shift
  on $b hcctl members --json | python3 -c '
import json, sys
view = {m["name"]: m["state"] for m in json.load(sys.stdin)}
sys.exit(any(view.get(n) != "alive" for n in sys.argv[1:]))' "$@"
}
# unit_line BOARD UNIT: the unit's line of hcctl units (NAME DESIRED ACTIVE STATE WHY).
unit_line() { on "$1" hcctl units | grep "^  $2 "; }
# unit_json BOARD UNIT: that unit's entry of the board's status, as compact JSON ("key":value).
unit_json() { on "$1" hcctl status --json | python3 -c '
import json, sys
for u in json.load(sys.stdin).get("units") or []:
    if u["name"] == sys.argv[1]: print(json.dumps(u, separators=(",", ":")))' "$2"; }
converged() { on "$1" hcctl status --json | python3 -c 'import json,sys; sys.exit(json.load(sys.stdin).get("convergence") != "converged")'; }
stat_is() { [ "$(on "$1" stat -c '%a %U:%G' "$2" 2>/dev/null)" = "$3" ]; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
export INIT1 INIT2 INIT3 INIT4 vip config hold
export -f on prop active alive_view unit_line unit_json converged stat_is

key=$(head -c 32 /dev/urandom | base64)
for b in 1 2 3 4; do
  # The stand-in k3s under k3s's own unit names (the document's), and what the board's owner sets up: k3s's
  # config directory, and the agent's sandbox opened for it and for /etc/hosts (the example agent.yaml says why).
  on $b sh -c 'mkdir -p /opt/k3s /etc/rancher/k3s /etc/homecloud /etc/systemd/system/hcagent.service.d && cat > /opt/k3s/k3s-standin.py' <"$here/lib/k3s-standin.py"
  for unit in k3s:server k3s-agent:agent; do
    printf '[Unit]\nDescription=stand-in k3s (%s)\n[Service]\nType=notify\nTimeoutStartSec=120\nEnvironment=K3S_STANDIN_API=%s K3S_STANDIN_HOLD=%s\nExecStart=/usr/bin/python3 /opt/k3s/k3s-standin.py %s\n[Install]\nWantedBy=multi-user.target\n' \
      "${unit#*:}" "$vip" "$hold" "${unit#*:}" | on $b sh -c "cat > /etc/systemd/system/${unit%%:*}.service"
  done
  printf '[Service]\nReadWritePaths=/etc\n' | on $b sh -c 'cat > /etc/systemd/system/hcagent.service.d/homecloud.conf'
  on $b systemctl daemon-reload
  on $b sh -c "echo $key > /etc/homecloud/gossip.key && chmod 600 /etc/homecloud/gossip.key"
  sed -e "s/^node: .*/node: ${names[b]}/; s/^advertise: .*/advertise: $(lab_ip $b):7964/" \
    -e "s/^join: .*/join: [$(lab_ip 1):7964, $(lab_ip 2):7964]/" "$root/examples/homecloud/agent.yaml" | on $b sh -c 'cat > /etc/homecloud/agent.yaml'
  on $b sh -c 'cat > /root/desired.yaml' <"$work/desired.yaml"
done
on 1 touch $hold
echo "  (4 boards booted and set up in $((SECONDS - started)) s)"

check "the document is the example with only its addresses and the dnas role changed" bash -c "
  diff $root/examples/homecloud/desired.yaml $work/desired.yaml | grep '^>' | tee /dev/stderr | grep -v -e '$LAB_NET\.' -e '^> *hc1-n[0-9]: { roles: \[base, k3s-[a-z]*\], address' && exit 1
  ! grep -q 192.168.1 $work/desired.yaml"

echo "hc1-n2, hc1-n3 and hc1-n4 come up before the first server"
for b in 2 3 4; do on $b systemctl start hcagent.service; done
check "hc1-n2, hc1-n3 and hc1-n4 see each other alive" wait_until 20 bash -c '
  for b in 2 3 4; do alive_view $b hc1-n2 hc1-n3 hc1-n4 || exit 1; done'
check "hcctl apply accepts the example (generation 1) on hc1-n2" bash -c "on 2 hcctl apply /root/desired.yaml | tee /dev/stderr | grep -qx 'generation 1 accepted'"
check "hcctl units on hc1-n2: k3s.service waits for the first server's probe and the token" wait_until 15 bash -c "
  unit_line 2 k3s.service | tee /dev/stderr | grep -q 'waiting: probe k3s-api on role k3s-init, secret k3s-token\$'"
check "hcctl units on hc1-n4: k3s-agent.service waits for the same" wait_until 15 bash -c "
  unit_line 3 k3s-agent.service | tee /dev/stderr | grep -q 'waiting: probe k3s-api on role k3s-init, secret k3s-token\$'"
check "no joiner's config is written without the token (the file waits for it)" bash -c "
  for b in 2 3 4; do file_state \$b $config | tee /dev/stderr | grep -q '^converging|waiting for secret k3s-token' && on \$b test ! -e $config || exit 1; done"
check "/etc/hosts on hc1-n2 names the document's four boards" wait_until 10 bash -c "
  on 2 cat /etc/hosts | tee /dev/stderr | grep -c '^$LAB_NET\.[0-9]* hc1-n[1-4]\$' | grep -qx 4"

echo "the first server comes up (its API held for now)"
t_n1=$(now_ms)
on 1 systemctl start hcagent.service
check "hc1-n1 gets the document by gossip, writes its config (cluster-init, the API VIP in tls-san, 0600)" wait_until 20 bash -c "
  on 1 cat $config 2>/dev/null | tee /dev/stderr | grep -qx 'cluster-init: true' && on 1 grep -qx '  - $vip' $config && stat_is 1 $config '600 root:root'"
check "hc1-n1 starts k3s.service, which writes the join token (activating: its API is held)" wait_until 15 bash -c "
  [ \"\$(prop 1 k3s.service ActiveState)\" = activating ] && on 1 test -s /var/lib/rancher/k3s/server/node-token"
token=$(on 1 cat /var/lib/rancher/k3s/server/node-token)
export token
for b in 2 3 4; do
  check "${names[b]}: config.yaml has the token and the API VIP's URL, 0600 root:root" wait_until 15 bash -c "
    on $b grep -qxF 'token: $token' $config && on $b grep -qx 'server: https://$vip:6443' $config && stat_is $b $config '600 root:root'"
done
check "while the first server's API does not answer, hcctl units on the joiners says: waiting for its probe" wait_until 10 bash -c "
  unit_line 2 k3s.service | tee /dev/stderr | grep -q 'waiting: probe k3s-api on role k3s-init\$' &&
  unit_line 4 k3s.service | tee /dev/stderr | grep -q 'waiting: probe k3s-api on role k3s-init\$' &&
  unit_line 3 k3s-agent.service | tee /dev/stderr | grep -q 'waiting: probe k3s-api on role k3s-init\$'"
check "... and no joiner has started its k3s (inactive)" bash -c "
  [ \"\$(prop 2 k3s.service ActiveState) \$(prop 4 k3s.service ActiveState) \$(prop 3 k3s-agent.service ActiveState)\" = 'inactive inactive inactive' ]"

echo "the first server's API answers"
released=$(python3 -c 'import time; print(int(time.monotonic() * 1e6))')  # µs, as systemd's monotonic timestamps
on 1 rm $hold
t_api=$(now_ms)
check "hc1-n2's and hc1-n3's k3s.service and hc1-n4's k3s-agent.service start" wait_until 40 bash -c "
  active 2 k3s.service && active 4 k3s.service && active 3 k3s-agent.service"
check "all three joined the first server through the API VIP with its token" wait_until 25 bash -c "
  on 1 cat /var/lib/rancher/k3s/server/joined 2>/dev/null | sort | tee /dev/stderr | tr '\n' ' ' | grep -qx '$(lab_ip 2) $(lab_ip 3) $(lab_ip 4) '"
t_up=$(now_ms)
echo "  bring-up: $(( t_up - t_api )) ms from the first server's API answering to every role's k3s joined; $(( t_up - t_n1 )) ms from hc1-n1's agent start, $(( t_api - t_n1 )) ms of it held by the test"
check "every board converges" wait_until 30 bash -c "converged 1 && converged 2 && converged 3 && converged 4"
echo "  (every board converged $(( $(now_ms) - t_n1 )) ms after hc1-n1's agent start)"

echo "the order held"
# started B UNIT, up B UNIT: CLOCK_MONOTONIC µs (the boards share the host's kernel) of the unit's last start
# (it left inactive) and of its activation (READY=1: it joined).
started() { prop "$1" "$2" InactiveExitTimestampMonotonic; }
up() { prop "$1" "$2" ActiveEnterTimestampMonotonic; }
export -f started up
# probe_healthy_at: µs of hc1-n1's log line saying its k3s-api probe became healthy (the first one).
probe_healthy_at() { on 1 journalctl -u hcagent.service -o json --no-pager | python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    if "probe k3s-api:" in str(e.get("MESSAGE")) and "-> healthy" in str(e.get("MESSAGE")):
        print(e["__MONOTONIC_TIMESTAMP"]); break'; }
# written_at B: µs (monotonic) when the board's config.yaml was last written (its mtime, from the realtime clock).
written_at() { python3 -c '
import sys, time
print(int((float(sys.argv[1]) - time.time() + time.monotonic()) * 1e6))' "$(on "$1" stat -c %.9Y $config)"; }
healthy=$(probe_healthy_at)
n1=$(up 1 k3s.service) n2=$(started 2 k3s.service) n3=$(started 4 k3s.service) n4=$(started 3 k3s-agent.service)
echo "  hc1-n1's k3s API up at +0 ms, its probe healthy +$(( (healthy - n1) / 1000 )) ms; started: hc1-n2's k3s +$(( (n2 - n1) / 1000 )) ms," \
  "hc1-n3's +$(( (n3 - n1) / 1000 )) ms, hc1-n4's k3s-agent +$(( (n4 - n1) / 1000 )) ms;" \
  "joined (active): +$(( ($(up 2 k3s.service) - n1) / 1000 )) ms, +$(( ($(up 4 k3s.service) - n1) / 1000 )) ms, +$(( ($(up 3 k3s-agent.service) - n1) / 1000 )) ms"
check "the joiners' units were started after the test let hc1-n1's API answer" bash -c "(( $n2 > $released && $n3 > $released && $n4 > $released ))"
# The log line's time is journald's, when it read the line: under load that can be later than the probe turned
# healthy (the joiners hear it by gossip within tens of ms), so it gets a 250 ms allowance: a joiner that did not
# wait for the probe would have started during the hold (checked above) or about a second before (interval 2 s).
check "... and not before hc1-n1's agent logged its probe healthy (250 ms allowed for journald)" bash -c "
  [ -n '$healthy' ] && (( $n2 > $healthy - 250000 && $n3 > $healthy - 250000 && $n4 > $healthy - 250000 ))"
for b in 2 3 4; do
  starts=(- - "$n2" "$n4" "$n3")
  w=$(written_at $b) u=${starts[b]}
  check "${names[b]}: its config with the token was written before its k3s started ($(( (u - w) / 1000 )) ms before)" test "$w" -lt "$u"
done
check "no joiner's stand-in ever refused to start (each started once)" bash -c "
  for u in 2:k3s.service 4:k3s.service 3:k3s-agent.service; do b=\${u%%:*} unit=\${u#*:}
    on \$b journalctl -u \$unit --no-pager -o cat | tee /dev/stderr | grep -q refused && exit 1
    [ \"\$(on \$b journalctl -u \$unit --no-pager -o cat | grep -c '^k3s stand-in: joined the cluster')\" = 1 ] || exit 1
  done; true"
check "the API VIP is on hc1-n1, the first server" bash -c "on 1 ip -4 -o addr show dev eth0 | tee /dev/stderr | grep -q ' $vip/'"

echo "the token never shows"
# A plan that adds a line with the token to the joiners' config: its diff shows the line, with a placeholder.
sed -e 's/^generation: 1/generation: 2/' \
  -e 's|^          token: {{ secrets.k3s-token }}$|&\n          agent-token: {{ secrets.k3s-token }}|' "$work/desired.yaml" >"$work/desired2.yaml"
for b in 1 2 3 4; do on $b sh -c 'cat > /root/desired2.yaml' <"$work/desired2.yaml"; done
check "hcctl plan on hc1-n2 shows its config's change with the token as a placeholder" bash -c "
  out=\$(on 2 hcctl plan /root/desired2.yaml); echo \"\$out\" | grep -A12 $config
  grep -q '^ *+ agent-token: «secret k3s-token»\$' <<<\"\$out\""
for b in 1 2 3 4; do
  check "${names[b]}: the token is in no hcctl status (text, --json), units, plan, metrics or journal" bash -c "
    on $b hcctl status | grep -qF \"\$token\" && { echo status; exit 1; }
    on $b hcctl status --json | grep -qF \"\$token\" && { echo json; exit 1; }
    on $b hcctl units | grep -qF \"\$token\" && { echo units; exit 1; }
    on $b hcctl plan /root/desired2.yaml 2>&1 | grep -qF \"\$token\" && { echo plan; exit 1; }
    on $b curl -sf http://127.0.0.1:9646/metrics | grep -qF \"\$token\" && { echo metrics; exit 1; }
    on $b journalctl --no-pager -o cat | grep -qF \"\$token\" && { echo journal; exit 1; }
    true"
done

echo "a changed server config restarts the servers one at a time (serial: true), and status says who waits"
# From now on hc1-n1's API keeps a join waiting for its answer: a restarted server stays activating (not READY).
on 1 touch $hold
sed -e 's/^generation: 1/generation: 3/' \
  -e '/^  k3s-server:/,/^  k3s-agent:/s|^          token: {{ secrets.k3s-token }}$|&\n          node-label: [restarted=serially]|' \
  "$work/desired.yaml" | on 1 sh -c 'cat > /root/desired3.yaml'
n3_before=$(started 4 k3s.service)
check "hcctl apply accepts generation 3 (a line more in the servers' config)" bash -c "on 1 hcctl apply /root/desired3.yaml | tee /dev/stderr | grep -qx 'generation 3 accepted'"
check "hc1-n2 restarts its k3s first (activating: its join is held)" wait_until 15 bash -c "
  on 2 grep -q restarted=serially $config && [ \"\$(prop 2 k3s.service ActiveState)\" = activating ]"
check "hc1-n3's status --json: its k3s.service waits for its turn after hc1-n2 (waitingForTurn)" wait_until 10 bash -c "
  unit_json 4 k3s.service | tee /dev/stderr | grep -q '\"waitingForTurn\":\[\"hc1-n2\"\]'"
check "hcctl units and status on hc1-n3 say whom its restart waits for (converging, not degraded)" bash -c "
  unit_line 4 k3s.service | tee /dev/stderr | grep -q 'converging *serial restart waits for its turn: after hc1-n2 (role k3s-server, one board at a time)\$' &&
  on 4 hcctl status | tee /dev/stderr | grep -q '^  k3s.service .*serial restart waits for its turn: after hc1-n2' && ! on 4 hcctl status | head -1 | grep -q degraded"
check "hc1-n3's config is written, its k3s not restarted while hc1-n2's restart is under way" bash -c "
  on 4 grep -q restarted=serially $config && [ \"\$(started 4 k3s.service)\" = '$n3_before' ] && active 4 k3s.service"
on 1 rm $hold
check "once hc1-n2's k3s is active again, hc1-n3 restarts its own" wait_until 30 bash -c "
  active 2 k3s.service && [ \"\$(started 4 k3s.service)\" != '$n3_before' ] && active 4 k3s.service"
check "hc1-n3's restart began after hc1-n2's k3s was active again" bash -c "(( \$(started 4 k3s.service) > \$(up 2 k3s.service) ))"
echo "  hc1-n3's restart began $(( ($(started 4 k3s.service) - $(up 2 k3s.service)) / 1000 )) ms after hc1-n2's k3s was active again"
check "hc1-n3 no longer reports a serial wait, and converges" wait_until 15 bash -c "! unit_json 4 k3s.service | grep -q waitingForTurn && converged 4"

echo "  (test took $((SECONDS - started)) s)"
finish
