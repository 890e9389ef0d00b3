#!/usr/bin/env bash
# Real services configured from the document (examples/dnas-services.yaml, with the lab's addresses): on three
# boards (real systemd in systemd-nspawn), Debian's smbd serves the share "family" defined only in the document,
# at the VIP: a client namespace lists it with smbclient, from the board holding the VIP; a hand edit of
# smb.conf is repaired; the share follows the VIP when its holder's link goes dark. Debian's Syncthing, on the
# two boards of the role sync, runs with the config.xml the document gives (owner dnas:dnas, mode 0600), and
# its own REST API shows the document's folder and listen address; each board publishes its Syncthing device ID
# (facts: in the document, read from the cert.pem Syncthing makes at its first start), the config.xml then pairs
# the two, and a file written into /srv/family on b1 appears on b2.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
source "$here/lib/container.sh"
LAB_NAME=hcsmb
LAB_NET=10.95.0
source "$root/scripts/lab.sh"
source "$here/lib/boards.sh"
require_root
command -v smbclient >/dev/null || { echo "smbclient is missing (scripts/install-deps.sh installs it)"; exit 1; }

work=$(mktemp -d /tmp/hcsmb.XXXXXX)
nspawns=()
trap boards_cleanup EXIT
vip=$(lab_ip 250)
client=4 # a namespace on the LAN with no agent: the family's laptop
started=$SECONDS

# The example as this lab's document: its node names and addresses replaced, nothing else.
sed -e "s/192\.168\.1\.11\b/$(lab_ip 1)/; s/192\.168\.1\.12\b/$(lab_ip 2)/; s/192\.168\.1\.13\b/$(lab_ip 3)/" \
  -e "s/192\.168\.1\.250\b/$vip/; s/hc1-n\([0-9]\)/b\1/g" "$root/examples/dnas-services.yaml" >"$work/desired.yaml"
apikey=$(sed -n 's:.*<apikey>\(.*\)</apikey>.*:\1:p' "$work/desired.yaml")

lab_up 4
boards_boot hcsmb 1 2 3 || exit 1
prop() { on "$1" systemctl show -p "$3" --value "$2"; }
active() { [ "$(prop "$1" "$2" ActiveState)" = active ]; }
running_on() { local b now=""; for b in 1 2 3; do active $b "$1" && now+="b$b "; done; echo "${now% }"; }
runs_only_on() { local now; now=$(running_on "$1"); echo "$1 active on: ${now:-none}"; [ "$now" = "$2" ]; }
stat_is() { [ "$(on "$1" stat -c '%a %U:%G' "$2" 2>/dev/null)" = "$3" ]; }
# The share list as the client sees it at the VIP (smbclient -g: "Disk|family|", "IPC|IPC$|IPC Service (...)").
shares() { lab_exec $client timeout 5 smbclient -L "//$vip" -N -g 2>/dev/null; }
served_by() { local got; got=$(shares); echo "$got"; grep -qx 'Disk|family|' <<<"$got" && grep -q "^IPC|IPC\\\$|IPC Service (family share on $1)\$" <<<"$got"; }
# syncthing_api BOARD PATH: Syncthing's REST API on that board, with the document's API key.
syncthing_api() { on "$1" curl -sf -m 2 -H "X-API-Key: $apikey" "http://127.0.0.1:8384$2"; }
agent_log() { on "$1" journalctl -u hcagent.service --no-pager -o cat; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
export INIT1 INIT2 INIT3 vip client apikey LAB_NAME LAB_NET
export -f on prop active running_on runs_only_on stat_is shares served_by syncthing_api agent_log lab_ip lab_ns lab_exec

conf=/var/lib/dnas/.config/syncthing
for b in 1 2 3; do
  # The board as its owner sets it up: the packages' state directories (the container's /var is new), the
  # share's directory, the user dnas for Syncthing with its config directory open to the agent (root:dnas 0770).
  on $b sh -c "mkdir -p /etc/samba /var/lib/samba/private /var/cache/samba /srv/family /etc/homecloud /etc/systemd/system/hcagent.service.d &&
    useradd --system --user-group --create-home --home-dir /var/lib/dnas dnas && chown dnas:dnas /srv/family &&
    install -d -o dnas -g dnas /var/lib/dnas/.config && install -d -o root -g dnas -m 0770 $conf &&
    echo 'a file in the share' > /srv/family/readme.txt"
  printf '[Service]\nReadWritePaths=-/etc/samba -%s\nCapabilityBoundingSet=CAP_CHOWN CAP_DAC_READ_SEARCH\n' "$conf" |
    on $b sh -c 'cat > /etc/systemd/system/hcagent.service.d/managed-files.conf'
  on $b systemctl daemon-reload
  board_agent_config $b "1 2 3" 'policy:
  units: ["smbd.service", "syncthing@dnas.service"]
  exec: ["/usr/bin/testparm -s %s"]
  paths: ["/etc/samba/smb.conf", "'"$conf"'/config.xml"]
  secrets: ["'"$conf"'/cert.pem"]'
  on $b systemctl start hcagent.service
done
echo "  (3 boards booted and set up in $((SECONDS - started)) s)"
check "the three agents see each other alive by gossip" wait_until 20 boards_alive 1 2 3

echo "the share, from the document only"
on 1 sh -c 'cat > /root/d.yaml' <"$work/desired.yaml"
check "hcctl apply accepts the example (generation 1)" bash -c "on 1 hcctl apply /root/d.yaml | tee /dev/stderr | grep -qx 'generation 1 accepted'"
for b in 1 2 3; do
  check "b$b: smb.conf written (validated by testparm), with its node in the server string" wait_until 10 bash -c "
    file_state $b /etc/samba/smb.conf | grep -q '^converged' && on $b grep -qx '  server string = family share on b$b' /etc/samba/smb.conf &&
    on $b grep -qx '  interfaces = lo $vip' /etc/samba/smb.conf && stat_is $b /etc/samba/smb.conf '644 root:root'"
done
check "smbd (placement vip:front) runs on b1 only, the VIP holder" wait_until 10 runs_only_on smbd.service b1
check "it is Debian's smbd, listening on the VIP's port 445" bash -c "
  pid=\$(prop 1 smbd.service MainPID); exe=\$(on 1 readlink /proc/\$pid/exe); echo \"smbd pid \$pid: \$exe\"
  test \"\$exe\" = /usr/sbin/smbd && dpkg -S /usr/sbin/smbd | grep -q '^samba:' && on 1 ss -Hltnp src $vip:445 | tee /dev/stderr | grep -q '\"smbd\"'"
check "the client lists the share family at the VIP, served by b1" wait_until 10 served_by b1
check "the client reads a file of the share as a guest" bash -c "
  lab_exec $client timeout 5 smbclient //$vip/family -N -c 'get readme.txt /dev/stdout' 2>/dev/null | tee /dev/stderr | grep -qx 'a file in the share'"

echo "Syncthing, from the document"
for b in 1 2; do
  check "b$b: config.xml written as dnas:dnas 0600, syncthing@dnas runs" wait_until 15 bash -c "
    stat_is $b $conf/config.xml '600 dnas:dnas' && file_state $b $conf/config.xml | grep -q '^converged' && active $b syncthing@dnas.service"
done
st_started=$(now_ms)
# Each board's device ID as Syncthing itself says (from the cert.pem it made at its first start).
device_id() { on "$1" setpriv --reuid=dnas --regid=dnas --clear-groups syncthing --device-id --home=$conf 2>/dev/null | tail -1; }
# devices_are BOARD ID...: Syncthing's API on BOARD lists exactly these devices, each with the folder family.
devices_are() { local b=$1; shift; syncthing_api $b /rest/config | python3 -c '
import json, sys
config = json.load(sys.stdin)
devices = sorted(d["deviceID"] for d in config["devices"])
shared = sorted(d["deviceID"] for f in config["folders"] if f["id"] == "family" for d in f["devices"])
print("devices", devices, "family shared with", shared)
sys.exit(devices != sorted(sys.argv[1:]) or shared != devices)' "$@"; }
export conf
export -f device_id devices_are
check "b1 and b2 have Syncthing device IDs (Syncthing made its certificate)" wait_until 20 bash -c '
  test -n "$(device_id 1)" && test -n "$(device_id 2)"'
id1=$(device_id 1) id2=$(device_id 2)
echo "  b1 is $id1, b2 is $id2"
check "b2 knows b1's ID as b1 published it, and b1 b2's (state_dir/facts)" wait_until 20 bash -c "
  on 2 grep -qx 'b1 syncthing-id $id1' /var/lib/homecloud/facts && on 1 grep -qx 'b2 syncthing-id $id2' /var/lib/homecloud/facts"
published_ms=$(( $(now_ms) - st_started ))
check "hcctl status lists the fact syncthing-id for b1 and b2 (--json whole, text shortened)" bash -c "
  on 3 hcctl status --json | python3 -c '
import json, sys
rows = {(f[\"name\"], f[\"node\"]): f for f in json.load(sys.stdin).get(\"facts\") or []}
print(rows)
sys.exit(not all(rows.get((\"syncthing-id\", b), {}).get(\"value\") == i and rows[(\"syncthing-id\", b)][\"state\"] == \"known\"
                 for b, i in ((\"b1\", \"$id1\"), (\"b2\", \"$id2\"))))' &&
  text=\$(on 1 hcctl status) && echo \"\$text\" | sed -n '/^facts/,\$p' &&
  grep -Eq '^  syncthing-id +b1 +known +${id1:0:16}' <<<\"\$text\" && grep -Eq '^  syncthing-id +b2 +known +${id2:0:16}' <<<\"\$text\""
for b in 1 2; do
  check "b$b: Syncthing's API lists both boards' devices, sharing the folder family with them" wait_until 40 bash -c "
    active $b syncthing@dnas.service && devices_are $b $id1 $id2 && file_state $b $conf/config.xml | grep -q '^converged'"
done
check "b1's device b2 has the address the template gives" bash -c "
  syncthing_api 1 /rest/config/devices/$id2 | python3 -c 'import json, sys; a = json.load(sys.stdin)[\"addresses\"]; print(a); sys.exit(a != [\"tcp://$(lab_ip 2):22000\"])'"
paired_ms=$(( $(now_ms) - st_started ))
echo "  from Syncthing's first start (its config written, active): IDs published in $published_ms ms, both paired in $paired_ms ms"
for b in 1 2; do
  check "b$b: Syncthing's API (the document's key) has the folder family at /srv/family" wait_until 20 bash -c "
    syncthing_api $b /rest/config/folders | python3 -c '
import json, sys
folders = {f[\"id\"]: f[\"path\"] for f in json.load(sys.stdin)}
print(folders); sys.exit(folders != {\"family\": \"/srv/family\"})'"
  check "b$b: ... and listens where the template says (tcp://$(lab_ip $b):22000)" bash -c "
    syncthing_api $b /rest/config/options | python3 -c '
import json, sys
got = json.load(sys.stdin)[\"listenAddresses\"]; print(got); sys.exit(got != [\"tcp://$(lab_ip $b):22000\"])' &&
    on $b ss -Hltn src $(lab_ip $b):22000 | grep -q ."
done
check "b3 (no role sync) has neither config.xml nor Syncthing" bash -c "on 3 test ! -e $conf/config.xml && ! active 3 syncthing@dnas.service"
check "a wrong API key is refused by Syncthing" bash -c "! on 1 curl -sf -m 2 -H 'X-API-Key: wrong' http://127.0.0.1:8384/rest/config/folders"
writes_now() { for b in 1 2; do file_state $b $conf/config.xml; done; }
export -f writes_now
writes_before=$(writes_now)
echo "  config.xml (state|reason|writes) on b1, b2: $(echo $writes_before)"
sleep 2
check "Syncthing does not rewrite its config.xml once paired: converged, no write more on either board" bash -c "
  test \"\$(writes_now)\" = '$writes_before' && ! grep -qv '^converged|' <<<'$writes_before'"

echo "a file written into /srv/family on b1 appears on b2"
on 1 setpriv --reuid=dnas --regid=dnas --clear-groups sh -c 'echo "from b1 by Syncthing" > /srv/family/from-b1.txt'
t0=$(now_ms)
on 1 curl -sf -m 2 -X POST -H "X-API-Key: $apikey" "http://127.0.0.1:8384/rest/db/scan?folder=family" >/dev/null
if check "b2 has b1's new file, with its content" wait_until 60 bash -c "on 2 grep -qx 'from b1 by Syncthing' /srv/family/from-b1.txt"; then
  echo "  synced in $(( $(now_ms) - t0 )) ms (written on b1, scan asked, polled on b2); $(( $(now_ms) - st_started )) ms after Syncthing's first start"
else
  for b in 1 2; do echo "--- b$b"; syncthing_api $b /rest/db/status?folder=family; syncthing_api $b /rest/system/connections; echo; done
fi

echo "a change of config.xml (serial: true): Syncthing restarts on b1, then on b2 once b1's is active again"
for b in 1 2; do declare "ST$b=$(prop $b syncthing@dnas.service InvocationID)"; done
export ST1 ST2
sed -e 's/^generation: 1$/generation: 2/' -e 's/rescanIntervalS="3600"/rescanIntervalS="600"/' "$work/desired.yaml" | on 1 sh -c 'cat > /root/d2.yaml'
check "hcctl apply accepts generation 2 (a folder's rescan interval changed)" bash -c "on 1 hcctl apply /root/d2.yaml | grep -qx 'generation 2 accepted'"
check "both boards restarted Syncthing, which has the new interval" wait_until 20 bash -c '
  for b in 1 2; do v="ST$b"; test "$(prop $b syncthing@dnas.service InvocationID)" != "${!v}" && active $b syncthing@dnas.service &&
    syncthing_api $b /rest/config/folders | grep -q "\"rescanIntervalS\": 600" || exit 1; done'
b1_up=$(prop 1 syncthing@dnas.service ActiveEnterTimestampMonotonic)
b2_down=$(prop 2 syncthing@dnas.service ActiveExitTimestampMonotonic)
echo "  b1's Syncthing active again at $b1_up us, b2's stopped for its restart at $b2_down us (monotonic): gap $(( (b2_down - b1_up) / 1000 )) ms"
check "b2 stopped its Syncthing only after b1's was active again" test "$b2_down" -gt "$b1_up"
if [ -n "${SERIAL_DEBUG:-}" ]; then
  for b in 1 2; do
    echo "--- b$b"; on $b journalctl -o short-monotonic --no-pager -u syncthing@dnas.service | grep -v INFO | tail -12
    on $b journalctl -o short-monotonic --no-pager -u hcagent.service | grep -E 'serial|syncthing|config.xml' | tail -8
  done
fi
# Whether b2 had to wait depends on whether b1's "sr" reached it before the document did: said, not checked.
agent_log 2 | grep -q 'serial restart of syncthing@dnas.service waits for b1' && echo "  (b2 waited for b1, as its log says)"

on 2 chown root:root $conf/config.xml
check "b2: an owner changed by hand is repaired" wait_until 5 stat_is 2 $conf/config.xml '600 dnas:dnas'
check "b2: the log says why" bash -c "agent_log 2 | grep -q 'config.xml repaired (drift: owner 0:0, wanted dnas:dnas'"

echo "drift of smb.conf"
before=$(prop 1 smbd.service InvocationID)
on 1 sh -c 'sed -i "s/guest ok = yes/guest ok = no/" /etc/samba/smb.conf'
check "b1: the hand edit of smb.conf is repaired" wait_until 5 bash -c "on 1 grep -qx '  guest ok = yes' /etc/samba/smb.conf"
check "b1: smbd was restarted for it, and serves the share again" wait_until 10 bash -c "
  test \"\$(prop 1 smbd.service InvocationID)\" != '$before' && served_by b1"
check "b1: the log says the file was repaired" bash -c "agent_log 1 | grep -q '/etc/samba/smb.conf repaired (drift: content differs)'"

echo "the share follows the VIP"
lab_cut 1
t0=$(now_ms)
wait_until 20 active 2 smbd.service
echo "  smbd active on b2 (the new VIP holder) $(( $(now_ms) - t0 )) ms after the link cut (polled)"
check "b1's link dark: the client lists the share at the VIP from b2" wait_until 20 served_by b2
failover_ms=$(( $(now_ms) - t0 ))
echo "  share back at the VIP in: $failover_ms ms (link cut to smbclient -L answered by b2, polled; a try to the old holder waits up to 5 s)"
check "smbd runs on b2 (and b1, cut off, has not heard); not on b3" bash -c "active 2 smbd.service && ! active 3 smbd.service"

echo "  (test took $((SECONDS - started)) s)"
finish
