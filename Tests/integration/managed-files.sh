#!/usr/bin/env bash
# Managed files on three boards (real systemd in systemd-nspawn, hcagent as its sandboxed unit): a templated file
# (node name, address, VIP, an /etc/hosts-like loop over a role's nodes) is written on every board with its
# content and mode; a change restarts the unit named in restart: once, and nothing starts it besides (the
# restart's stop is no drift); a hand edit and a deleted file are repaired; a path the policy does not allow is
# not written and is reported; a path the policy allows but the sandbox does not (no ReadWritePaths) fails alone
# and is reported; a validate command that refuses keeps the old file; a template error is a located error at
# hcagent --check and hcctl apply, and changes nothing.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
source "$here/lib/container.sh"
LAB_NAME=hcm
LAB_NET=10.97.0
source "$root/scripts/lab.sh"
source "$here/lib/boards.sh"
require_root

work=$(mktemp -d /tmp/hcm-files.XXXXXX)
nspawns=()
trap boards_cleanup EXIT
vip=$(lab_ip 250)
started=$SECONDS

lab_up 3
boards_boot hcm 1 2 3 || exit 1
prop() { on "$1" systemctl show -p "$3" --value "$2"; }
status_json() { on "$1" hcctl status --json; }
at_generation() { status_json "$1" | python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(s["desired"].get("generation") != int(sys.argv[1]))' "$2"; }
# The expected app.conf of board B with SETTING.
app_conf() { printf 'node b%s\naddress %s\nvip %s\ncluster hcm\nsetting %s\n' "$1" "$(lab_ip $1)" "$vip" "$2"; }
hosts_file() { printf '%s b1\n%s b2\n%s b3\n' "$(lab_ip 1)" "$(lab_ip 2)" "$(lab_ip 3)"; }
has_content() { [ "$(on "$1" cat "$2" 2>/dev/null)" = "$3" ]; }  # has_content BOARD PATH TEXT
stat_is() { [ "$(on "$1" stat -c '%a %U:%G' "$2" 2>/dev/null)" = "$3" ]; }  # stat_is BOARD PATH "644 root:root"
agent_log() { on "$1" journalctl -u hcagent.service --no-pager -o cat; }
# restart_logged_alone BOARD: the agent's lines about hcm-web from its file's restart on say that restart and no
# start (a start there was the reconciler mistaking the restart's stop for drift: a StartUnit merged into it).
restart_logged_alone() {
  local lines
  lines=$(agent_log "$1" | grep 'hcm-web\.service' | sed -n '/restarting hcm-web\.service (if it runs)/,$p')
  printf '%s\n' "$lines" >&2
  [ -n "$lines" ] && ! grep -v restarting <<<"$lines" | grep -q 'starting hcm-web\.service'
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
export INIT1 INIT2 INIT3 vip LAB_NET
export -f on prop status_json at_generation app_conf hosts_file has_content stat_is agent_log restart_logged_alone lab_ip

for b in 1 2 3; do
  # Its stop takes a moment, as a real service's does (smbd, syncthing): a restart is seen deactivating.
  printf '[Service]\nExecStart=/bin/sleep infinity\nExecStop=/bin/sleep 0.5\n' | on $b sh -c 'cat > /etc/systemd/system/hcm-web.service'
  # The sandbox opens /etc/hcm to the agent, and only it: /etc/hcm-outside is allowed by the policy but stays
  # read-only for the agent (ProtectSystem=strict).
  on $b mkdir -p /etc/homecloud /etc/hcm /etc/hcm-outside /etc/forbidden /etc/systemd/system/hcagent.service.d
  printf '[Service]\nReadWritePaths=/etc/hcm\n' | on $b sh -c 'cat > /etc/systemd/system/hcagent.service.d/managed-files.conf'
  on $b systemctl daemon-reload
  board_agent_config $b "1 2 3" 'policy:
  units: ["hcm-*.service"]
  exec: ["/usr/bin/grep -q ^valid %s"]
  paths: ["/etc/hcm/*", "/etc/hcm-outside/*"]'
done

# document GENERATION SETTING [EXTRA-FILES] [APP-EXTRA]: the cluster's document.
document() {
  cat <<YAML
generation: $1
cluster: hcm
nodes:
  b1: { roles: [web], address: $(lab_ip 1) }
  b2: { roles: [web], address: $(lab_ip 2) }
  b3: { roles: [web], address: $(lab_ip 3) }
vips:
  - { name: front, address: $vip/24, interface: eth0, vrid: 97, priority: { default: 50, b1: 150 } }
roles:
  web:
    units:
      - { name: hcm-web.service, state: running }
    files:
      - path: /etc/hcm/app.conf
        restart: [hcm-web.service]
${4:-}
        content: |
          ${5:-}node {{ node }}
          address {{ address }}
          vip {{ vips.front.ip }}
          cluster {{ cluster }}
          setting $2
      - path: /etc/hcm/hosts
        mode: "0640"
        restart: [hcm-web.service]
        content: |
          {% for n in roles.web.nodes %}
          {{ n.address }} {{ n.name }}
          {% endfor %}
${3:-}
YAML
}
apply() { document "$@" | on 1 sh -c 'cat > /root/d.yaml'; on 1 hcctl apply /root/d.yaml; }
echo "  (3 boards booted in $((SECONDS - started)) s)"

for b in 1 2 3; do on $b systemctl start hcagent.service; done
check "the three agents see each other alive by gossip" wait_until 20 boards_alive 1 2 3

echo "a templated file on every board"
check "hcctl apply accepts generation 1" bash -c "$(declare -f document apply); apply 1 1 | tee /dev/stderr | grep -qx 'generation 1 accepted'"
check "every board runs generation 1" wait_until 10 bash -c 'at_generation 1 1 && at_generation 2 1 && at_generation 3 1'
for b in 1 2 3; do
  check "b$b: app.conf has its node, address, VIP and cluster" wait_until 5 has_content $b /etc/hcm/app.conf "$(app_conf $b 1)"
  check "b$b: app.conf is 0644 root:root" stat_is $b /etc/hcm/app.conf "644 root:root"
  check "b$b: hosts lists every web node with its address, mode 0640" bash -c "has_content $b /etc/hcm/hosts \"\$(hosts_file)\" && stat_is $b /etc/hcm/hosts '640 root:root'"
  check "b$b: hcm-web runs" wait_until 5 bash -c "test \"\$(prop $b hcm-web.service ActiveState)\" = active"
  check "b$b: status shows both files converged" wait_until 3 bash -c "file_state $b /etc/hcm/app.conf | grep -q ^converged && file_state $b /etc/hcm/hosts | grep -q ^converged"
done
check "no temporary file is left beside them" bash -c 'for b in 1 2 3; do test -z "$(on $b find /etc/hcm -name ".*hcagent*")" || exit 1; done'

echo "a changed file: written on every board, the unit restarted once"
sleep 1
for b in 1 2 3; do declare "BEFORE$b=$(prop $b hcm-web.service InvocationID)"; done
export BEFORE1 BEFORE2 BEFORE3
changed_and_restarted() {
  local b before
  for b in 1 2 3; do
    before="BEFORE$b"
    has_content $b /etc/hcm/app.conf "$(app_conf $b 2)" || return 1
    [ "$(prop $b hcm-web.service InvocationID)" != "${!before}" ] || return 1
  done
}
export -f changed_and_restarted
t0=$(now_ms)
check "hcctl apply accepts generation 2 (setting 2)" bash -c "$(declare -f document apply); apply 2 2 | grep -qx 'generation 2 accepted'"
check "every board has the new app.conf and a restarted hcm-web" wait_until 10 changed_and_restarted
changed_ms=$(( $(now_ms) - t0 ))
echo "  changed file to all boards written and unit restarted: $changed_ms ms (apply on b1 to the last board seen, polled)"
for b in 1 2 3; do declare "AFTER$b=$(prop $b hcm-web.service InvocationID)"; done
sleep 2
for b in 1 2 3; do
  after="AFTER$b"
  check "b$b: hcm-web was restarted once (no second restart)" test "$(prop $b hcm-web.service InvocationID)" = "${!after}"
  check "b$b: hosts (unchanged) was not rewritten" bash -c "file_state $b /etc/hcm/hosts | tee /dev/stderr | grep -q '|1\$'"
  check "b$b: the log says hcm-web was restarted for the file, and nothing started it besides" restart_logged_alone $b
done

echo "drift"
on 2 sh -c 'echo "# edited by hand" >> /etc/hcm/app.conf'
t0=$(now_ms)
check "b2: the hand edit is repaired" wait_until 5 has_content 2 /etc/hcm/app.conf "$(app_conf 2 2)"
repair_ms=$(( $(now_ms) - t0 ))
echo "  hand edit repaired in: $repair_ms ms (polled)"
check "b2: the repair took under 1 s" test "$repair_ms" -lt 1000
check "b2: the log says the file was repaired" bash -c "agent_log 2 | grep -q '/etc/hcm/app.conf repaired (drift: content differs)'"
on 3 rm /etc/hcm/hosts
t0=$(now_ms)
check "b3: the deleted hosts file comes back, mode 0640" wait_until 5 bash -c "has_content 3 /etc/hcm/hosts \"\$(hosts_file)\" && stat_is 3 /etc/hcm/hosts '640 root:root'"
echo "  deleted file back in: $(( $(now_ms) - t0 )) ms (polled)"
on 1 chmod 0666 /etc/hcm/app.conf
check "b1: a chmod is repaired" wait_until 5 stat_is 1 /etc/hcm/app.conf "644 root:root"

echo "a path the policy does not allow"
check "hcctl apply of a file in /etc/forbidden is refused, with the place" bash -c "$(declare -f document apply); apply 3 2 '      - { path: /etc/forbidden/x.conf, content: x }' 2>&1 | tee /dev/stderr | grep -q 'roles.web.files\[2\].path: \"/etc/forbidden/x.conf\" is not allowed by policy.paths'"
sleep 1
check "no board wrote /etc/forbidden/x.conf" bash -c 'for b in 1 2 3; do on $b test ! -e /etc/forbidden/x.conf || exit 1; done'
check "every board stays at generation 2" bash -c 'at_generation 1 2 && at_generation 2 2 && at_generation 3 2'

echo "a path the policy allows but the sandbox does not"
check "hcctl apply accepts generation 4 with /etc/hcm-outside/x.conf" bash -c "$(declare -f document apply); apply 4 2 '      - { path: /etc/hcm-outside/x.conf, content: x }' | grep -qx 'generation 4 accepted'"
check "b1 reports the file as not writable (the sandbox), the others files still converged" wait_until 10 bash -c "file_state 1 /etc/hcm-outside/x.conf | tee /dev/stderr | grep -q '^degraded|cannot write.*Read-only file system' && file_state 1 /etc/hcm/app.conf | grep -q ^converged"
check "nothing was written in /etc/hcm-outside" bash -c 'for b in 1 2 3; do test -z "$(on $b ls -A /etc/hcm-outside)" || exit 1; done'
check "b1's log says why, once" bash -c "test \"\$(agent_log 1 | grep -c '/etc/hcm-outside/x.conf not written')\" = 1"

echo "a validate command that refuses keeps the old file"
for b in 1 2 3; do declare "BEFORE$b=$(prop $b hcm-web.service InvocationID)"; done
check "hcctl apply accepts generation 5 (validate: grep ^valid, content without it)" bash -c "$(declare -f document apply); apply 5 3 '' '        validate: \"/usr/bin/grep -q ^valid %s\"' | grep -qx 'generation 5 accepted'"
check "every board refuses the new content and says so" wait_until 10 bash -c 'for b in 1 2 3; do file_state $b /etc/hcm/app.conf | grep -q "^degraded|validate refused the new content, the old file stays: /usr/bin/grep -q ^valid .* exited with 1" || exit 1; done'
for b in 1 2 3; do
  before="BEFORE$b"
  check "b$b: the old app.conf stays, hcm-web not restarted" bash -c "has_content $b /etc/hcm/app.conf \"\$(app_conf $b 2)\" && test \"\$(prop $b hcm-web.service InvocationID)\" = '${!before}'"
done
document 6 4 '' '        validate: "/usr/bin/grep -q ^valid %s"' 'valid
          ' | on 1 sh -c 'cat > /root/d6.yaml'
check "hcctl plan shows the write and its diff" bash -c "on 1 hcctl plan /root/d6.yaml | tee /dev/stderr | grep -q '^ *+ setting 4'"
check "hcctl apply accepts generation 6 (content that validates)" bash -c "on 1 hcctl apply /root/d6.yaml | grep -qx 'generation 6 accepted'"
check "every board writes it" wait_until 10 bash -c 'for b in 1 2 3; do on $b head -1 /etc/hcm/app.conf | grep -qx valid && file_state $b /etc/hcm/app.conf | grep -q ^converged || exit 1; done'

echo "a template error"
printf 'generation: 7\ncluster: hcm\nnodes: { b1: [web] }\nroles:\n  web:\n    files:\n      - path: /etc/hcm/app.conf\n        content: |\n          ok\n          {{ nodes }}\n' | on 1 sh -c 'cat > /root/bad.yaml'
on 1 sh -c 'sed "s#^join:#desired: /root/bad.yaml\njoin:#" /etc/homecloud/agent.yaml > /root/check.yaml'
check "hcagent --check names the file, line, column and path" bash -c "on 1 hcagent --check --config /root/check.yaml 2>&1 | tee /dev/stderr | grep -q '/root/bad.yaml:10:11: roles.web.files\[0\].content: template: unknown name \"nodes\"'"
check "hcctl apply refuses it the same way" bash -c "! on 1 hcctl apply /root/bad.yaml 2>&1 | tee /dev/stderr | grep -q 'accepted' && on 1 hcctl apply /root/bad.yaml 2>&1 | grep -q 'bad.yaml:10:11'"
check "every board keeps generation 6 and its file" bash -c 'for b in 1 2 3; do at_generation $b 6 && on $b head -1 /etc/hcm/app.conf | grep -qx valid || exit 1; done'

for b in 1 2 3; do
  check "b$b: after every restart for a file (drift repairs, generation 6), nothing started hcm-web besides" restart_logged_alone $b
done

echo "  (test took $((SECONDS - started)) s)"
finish
