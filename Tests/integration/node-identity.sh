#!/usr/bin/env bash
# Three boards trust one admin key, and the admin-signed document binds each board's node key to its name
# (node_keys). A rogue board holding the gossip key and the trusted document, but not the victim's node key,
# starts under the victim's name (n1, stopped) with its own node key: a stand-in for a rogue gossip sender.
# Its probe fails and it holds the VIP, yet the others keep showing n1's last verified metadata (healthy),
# count and log the forged one, and its handover request moves nothing; the real n1 back, its own handover
# request moves the VIP as it should.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
LAB_NAME=hci
LAB_NET=10.88.0
source "$root/scripts/lab.sh"
require_root

bin=${BIN:-$root/.build/release}
work=$(mktemp -d /tmp/hci.XXXXXX)
cleanup() { lab_down; [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"; }
trap cleanup EXIT

vip=$(lab_ip 250)
lab_up 4  # boards 1-3 run n1-n3; board 4 runs the rogue, under the name n1
head -c 32 /dev/urandom | base64 >"$work/gossip.key"
"$bin/hcctl" keys admin generate --out "$work/admin.key" >"$work/admin.pub" 2>/dev/null
# configure BOARD NAME
configure() {
  mkdir -p "$work/n$1"
  cat >"$work/n$1/agent.yaml" <<YAML
node: $2
bind: $(lab_ip "$1"):7964
join: [$(lab_ip 1):7964, $(lab_ip 2):7964, $(lab_ip 3):7964]
key_file: $work/gossip.key
socket: $work/n$1/hc.sock
state_dir: $work/n$1/state
desired: $work/n$1/desired.yaml
metrics: 127.0.0.1:9646
trusted_admin_keys:
  - $(cat "$work/admin.pub")
YAML
}
configure 1 n1; configure 2 n2; configure 3 n3
configure 4 n1  # the rogue: the victim's name, the gossip key, its own state_dir and so its own node key

# The probe each board runs: a TCP listener on its own loopback; boards 1-3 have one, the rogue's board not.
for i in 1 2 3; do
  lab_start $i "$work/listener$i.log" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 8099)); s.listen(64)
while True:
    c, _ = s.accept(); c.close()' >/dev/null
done

start_agent() { lab_start "$1" "$work/n$1/log.$(date +%s%N)" "$bin/hcagent" --config "$work/n$1/agent.yaml" >"$work/n$1/pid"; }
stop_agent() { local pid; pid=$(cat "$work/n$1/pid"); kill -TERM "$pid"; wait_until 5 bash -c "! kill -0 $pid 2>/dev/null"; }
hcctl() { local b=$1; shift; "$bin/hcctl" --socket "$work/n$b/hc.sock" "$@"; }
generation_of() { hcctl "$1" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["desired"]["generation"])'; }
# member_is BOARD NAME PYTHON-EXPRESSION: on BOARD, `hcctl members` shows NAME with m (its JSON) satisfying it.
member_is() {
  hcctl "$1" members --json | python3 -c '
import json, sys
m = next((m for m in json.load(sys.stdin) if m["name"] == sys.argv[1]), None)
print(m)
sys.exit(not (m is not None and eval(sys.argv[2])))' "$2" "$3"
}
refused_count() { lab_exec "$1" curl -sf http://127.0.0.1:9646/metrics | awk -v r="hcagent_gossip_metadata_refused_total{reason=\"$2\"}" '$1 == r {print $2}'; }
source "$here/lib/vrrp.sh"
export -f hcctl generation_of member_is refused_count

echo "node keys"
for i in 1 2 3; do start_agent $i; done
check "each agent makes its node key at first start, mode 0600" wait_until 5 bash -c "
  for i in 1 2 3; do test \$(stat -c %a $work/n\$i/state/node.key) = 600 || exit 1; done"
check "hcctl keys node prints its public line" bash -c "
  for i in 1 2 3; do $bin/hcctl keys node --config $work/n\$i/agent.yaml >$work/n\$i/node.pub || exit 1
    grep -Eq '^ed25519 [0-9a-f]{16} [A-Za-z0-9+/]{43}=\$' $work/n\$i/node.pub || exit 1; done"
check "the three keys differ" test "$(cat "$work"/n{1,2,3}/node.pub | sort -u | wc -l)" = 3

cat >"$work/doc.yaml" <<YAML
generation: 1
cluster: lab
nodes: { n1: [], n2: [], n3: [] }
node_keys:
  n1: "$(cat "$work/n1/node.pub")"
  n2: "$(cat "$work/n2/node.pub")"
  n3: "$(cat "$work/n3/node.pub")"
vips:
  - { name: front, address: $vip/24, interface: eth0, vrid: 61, advert: 100ms, priority: { default: 100, n1: 150, n2: 120 } }
probes:
  svc: { tcp: "127.0.0.1:8099", interval: 1s, timeout: 500ms, rise: 1, fall: 1 }
YAML
check "a signed document with node_keys is applied" hcctl 2 apply "$work/doc.yaml" --sign "$work/admin.key"
check "every board runs it" wait_until 10 bash -c 'for b in 1 2 3; do [ "$(generation_of $b)" = 1 ] || exit 1; done'
check "every board shows every member verified" wait_until 10 bash -c '
  for b in 1 2 3; do for n in n1 n2 n3; do member_is $b $n "m.get(\"identity\") == \"verified\"" || exit 1; done; done'
check "n3 sees n1 healthy (1 probe, none failing)" wait_until 5 member_is 3 n1 'm.get("probes") == 1 and not m.get("failingProbes")'
check "n1 (priority 150) holds the VIP" wait_until 10 is_state 1 master

echo "a rogue with the gossip key speaks as n1 with its own node key"
stop_agent 1
check "n2 (120) takes the VIP" wait_until 5 is_state 2 master
start_agent 4
check "the rogue joins as n1 from its own address" wait_until 10 member_is 3 n1 "m['state'] == 'alive' and m['address'].startswith('$(lab_ip 4):')"
check "the rogue's log says n1's bound key is not its own" wait_until 5 bash -c "grep -q 'node_keys binds .* to this board (n1), but its node key is' $work/n4/log.*"
check "the rogue's probe fails (no listener on its board)" wait_until 5 bash -c "hcctl 4 probes --json | grep -q failing"
check "n2 and n3 drop its metadata as not signed by n1's key, and keep n1 healthy" wait_until 5 bash -c "
  for b in 2 3; do member_is \$b n1 'm.get(\"identity\") == \"refused (signature)\" and m.get(\"probes\") == 1 and not m.get(\"failingProbes\")' || exit 1; done"
sleep 2
check "and still do 2 s later" bash -c "
  for b in 2 3; do member_is \$b n1 'm.get(\"identity\") == \"refused (signature)\" and not m.get(\"failingProbes\")' || exit 1; done"
check "counted as reason=\"signature\"" bash -c '[ "$(refused_count 3 signature)" -ge 1 ]'
check "n3 logs it, once a minute at most" bash -c "[ \$(grep -c 'dropped gossip metadata for n1' $work/n3/log.*) = 1 ]"
check "the rogue takes the VIP by VRRP (unauthenticated; SECURITY.md)" wait_until 5 is_state 4 master
check "the rogue asks n3 to take the VIP (hcctl vip handover front --to n3)" hcctl 4 vip handover front --to n3
sleep 4
check "n3 does not take it: the request is not signed by n1's key" bash -c "is_state 3 backup && ! grep -q 'chosen successor' $work/n3/log.*"
check "the rogue still holds it (it gave up waiting for n3)" is_state 4 master
stop_agent 4

echo "the real n1 returns"
start_agent 1
check "n3 shows n1 verified again, at its own address" wait_until 15 member_is 3 n1 "m.get('identity') == 'verified' and m['address'].startswith('$(lab_ip 1):')"
check "n1 takes the VIP back (150)" wait_until 10 is_state 1 master
check "n1's own handover request to n3 is acted on" hcctl 1 vip handover front --to n3
check "n3 takes the VIP" wait_until 5 is_state 3 master
check "n3 logged that it took over as the chosen successor" grep -q 'chosen successor' $work/n3/log.*

finish
