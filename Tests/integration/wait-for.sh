#!/usr/bin/env bash
# wait_for (bring-up order) on two boards (real systemd in systemd-nspawn, hcagent as its sandboxed unit): b2's
# unit that waits for the probe `listen` on role first stays inactive, and hcctl units says what it waits for,
# until b1 (role first) runs the listener the probe checks; then it starts. Stopping b1's listener does not stop
# it. A unit that waits for a file starts once the file is there. A wait_for naming an unknown role is refused.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
source "$here/lib/container.sh"
LAB_NAME=hcw
LAB_NET=10.73.0
source "$root/scripts/lab.sh"
source "$here/lib/boards.sh"
require_root

work=$(mktemp -d /tmp/hcw-waitfor.XXXXXX)
nspawns=()
trap boards_cleanup EXIT
started=$SECONDS

lab_up 2
boards_boot hcw 1 2 || exit 1
active() { on "$1" systemctl show -p ActiveState --value "$2"; }
is_active() { [ "$(active "$1" "$2")" = active ]; }
# unit_json BOARD UNIT: that unit's entry of the board's status, as compact JSON ("key":value).
unit_json() { on "$1" hcctl status --json | python3 -c '
import json, sys
for u in json.load(sys.stdin).get("units") or []:
    if u["name"] == sys.argv[1]: print(json.dumps(u, separators=(",", ":")))' "$2"; }
all_alive() {
  local b
  for b in 1 2; do
    on $b hcctl members --json | python3 -c '
import json, sys
view = {m["name"]: m["state"] for m in json.load(sys.stdin)}
sys.exit(any(view.get(n) != "alive" for n in ("b1", "b2")))' || return 1
  done
}
# b1_probe_says STATE: b2's view of b1's metadata: the probe listen failing (failing) or not (passing).
b1_probe_says() { on 2 hcctl members --json | python3 -c '
import json, sys
b1 = next(m for m in json.load(sys.stdin) if m["name"] == "b1")
failing = "listen" in (b1.get("failingProbes") or [])
sys.exit(failing != (sys.argv[1] == "failing"))' "$1"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
export INIT1 INIT2
export -f on active is_active unit_json all_alive b1_probe_says

for b in 1 2; do
  # The listener the probe checks: accepts and closes connections on port 7707.
  printf '[Service]\nExecStart=/usr/bin/python3 -c "import socket\\ns = socket.socket()\\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\\ns.bind((\\"127.0.0.1\\", 7707))\\ns.listen()\\nwhile True: s.accept()[0].close()"\n' \
    | on $b sh -c 'cat > /etc/systemd/system/hcw-listen.service'
  for u in joiner filed; do printf '[Service]\nExecStart=/bin/sleep infinity\n' | on $b sh -c "cat > /etc/systemd/system/hcw-$u.service"; done
  on $b systemctl daemon-reload
  board_agent_config $b "1 2" 'policy:
  units: ["hcw-*.service"]'
done

# document GENERATION LISTENER-STATE [JOINER-ROLE]: b1 is first (the listener), b2 joiner.
document() {
  cat <<YAML
generation: $1
cluster: hcw
nodes: { b1: [first], b2: [joiner] }
probes:
  listen: { tcp: "127.0.0.1:7707", interval: 1s, timeout: 1s, rise: 1, fall: 1 }
roles:
  first:
    units:
      - { name: hcw-listen.service, state: $2 }
  joiner:
    units:
      - { name: hcw-joiner.service, wait_for: [{ probe: listen, role: ${3:-first} }] }
      - { name: hcw-filed.service, wait_for: [{ file: /run/hcw/ready }] }
YAML
}
apply() { document "$@" | on 1 sh -c 'cat > /root/d.yaml'; on 1 hcctl apply /root/d.yaml; }
export -f document apply
echo "  (2 boards booted in $((SECONDS - started)) s)"

for b in 1 2; do on $b systemctl start hcagent.service; done
check "the two agents see each other alive by gossip" wait_until 20 all_alive

echo "a unit waits for a probe on a board of another role"
check "a wait_for naming an unknown role is refused, with its place" bash -c "apply 1 stopped nope 2>&1 | tee /dev/stderr | grep -q 'roles.joiner.units\[0\].wait_for\[0\].role: unknown role \"nope\"'"
check "hcctl apply accepts generation 1 (b1's listener stopped)" bash -c "apply 1 stopped | grep -qx 'generation 1 accepted'"
check "b2 reports hcw-joiner waiting for the probe (status JSON)" wait_until 10 bash -c "unit_json 2 hcw-joiner.service | tee /dev/stderr | grep -q '\"waitingFor\":\[\"probe listen on role first\"\]'"
check "hcctl units on b2 says what it waits for" bash -c "on 2 hcctl units | tee /dev/stderr | grep 'hcw-joiner.service' | grep -q 'waiting: probe listen on role first'"
check "b2 sees b1's probe failing" wait_until 10 b1_probe_says failing
sleep 1
check "hcw-joiner stays inactive on b2" test "$(active 2 hcw-joiner.service)" = inactive
check "a waiting unit is converging, not degraded (b2's status)" bash -c "unit_json 2 hcw-joiner.service | tee /dev/stderr | grep -q '\"state\":\"converging\"' && ! on 2 hcctl status | head -1 | tee /dev/stderr | grep -q degraded"

check "hcctl apply accepts generation 2 (b1's listener running)" bash -c "apply 2 running | grep -qx 'generation 2 accepted'"
check "b1 runs its listener" wait_until 10 is_active 1 hcw-listen.service
t0=$(now_ms)
check "b2 starts hcw-joiner once b1's probe passes" wait_until 15 is_active 2 hcw-joiner.service
echo "  hcw-joiner on b2 active $(( $(now_ms) - t0 )) ms after b1's listener (probe interval 1 s, polled)"
check "b2 no longer reports it waiting" wait_until 5 bash -c "unit_json 2 hcw-joiner.service | tee /dev/stderr | grep -q '\"state\":\"converged\"' && ! unit_json 2 hcw-joiner.service | grep -q waitingFor"

echo "waiting is for starting: the probe failing later stops nothing"
check "hcctl apply accepts generation 3 (b1's listener stopped again)" bash -c "apply 3 stopped | grep -qx 'generation 3 accepted'"
check "b1's listener is stopped" wait_until 10 bash -c "! is_active 1 hcw-listen.service"
check "b2 sees b1's probe failing again" wait_until 10 b1_probe_says failing
sleep 2
check "hcw-joiner still runs on b2" is_active 2 hcw-joiner.service

echo "a unit waits for a file"
check "hcw-filed waits on b2, reported so" bash -c "! is_active 2 hcw-filed.service && unit_json 2 hcw-filed.service | grep -q 'waiting: file /run/hcw/ready'"
on 2 mkdir -p /run/hcw
on 2 touch /run/hcw/ready
t0=$(now_ms)
check "hcw-filed starts once /run/hcw/ready exists" wait_until 5 is_active 2 hcw-filed.service
echo "  hcw-filed active $(( $(now_ms) - t0 )) ms after the file appeared (polled)"
check "b1 runs neither joiner unit (not its role)" bash -c "! is_active 1 hcw-joiner.service && ! is_active 1 hcw-filed.service"

echo "  (test took $((SECONDS - started)) s)"
finish
