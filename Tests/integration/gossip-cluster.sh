#!/usr/bin/env bash
# Five agents gossip on a namespace LAN, encrypted: they find each other from one seed, spread a document
# applied on any board, see a crashed board dead and a stopped one left, ignore a stranger with another key
# and garbage datagrams, rejoin from their peer cache, accept a board back under a new address, reform
# after every board restarts at once, and rotate their key with a board down (it rejoins while the old key is
# installed; once it is removed, the others' logs say so and the new key lets it back).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
LAB_NAME=hcc
LAB_NET=10.84.0
source "$root/scripts/lab.sh"
require_root

bin=${BIN:-$root/.build/release}
work=$(mktemp -d /tmp/hcc.XXXXXX)
cleanup() { lab_down; [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"; }
trap cleanup EXIT

lab_up 6  # boards 1-5 form the cluster; board 6 is a stranger with another key
head -c 32 /dev/urandom | base64 >"$work/gossip.key"
head -c 32 /dev/urandom | base64 >"$work/stranger.key"
configure() {  # configure BOARD ADDRESS JOIN KEY
  mkdir -p "$work/n$1"
  cat >"$work/n$1/agent.yaml" <<YAML
node: n$1
bind: $2:7964
join: [$3]
key_file: $work/$4
socket: $work/n$1/hc.sock
state_dir: $work/n$1/state
desired: $work/n$1/desired.yaml
metrics: 127.0.0.1:9646
YAML
}
for i in 1 2 3 4 5; do configure $i "$(lab_ip $i)" "$(lab_ip 1):7964" gossip.key; done
configure 6 "$(lab_ip 6)" "$(lab_ip 1):7964" stranger.key
cat >"$work/n1/desired.yaml" <<YAML
generation: 1
cluster: lab
nodes: { n1: [web], n2: [web], n3: [], n4: [], n5: [] }
roles:
  web:
    units: []
vips:
  # VRRP to the gossip members' addresses instead of the multicast group.
  - { name: front, address: 10.84.0.250/24, interface: eth0, vrid: 60, priority: { default: 100, n1: 150 }, unicast: members }
YAML
start_agent() { lab_start "$1" "$work/n$1/log.$(date +%s%N)" "$bin/hcagent" --config "$work/n$1/agent.yaml" >"$work/n$1/pid"; }
# SIGTERM, then wait for the process to be gone (it leaves the cluster first, for about half a second).
stop_agent() { local pid; pid=$(cat "$work/n$1/pid"); kill -TERM "$pid"; wait_until 5 bash -c "! kill -0 $pid 2>/dev/null"; }
members_json() { "$bin/hcctl" --socket "$work/n$1/hc.sock" members --json; }
# sees BOARD "NAME=STATE ..." : every listed member has that state in BOARD's view
sees() {
  local board=$1
  shift
  members_json "$board" | python3 -c '
import json, sys
view = {m["name"]: m["state"] for m in json.load(sys.stdin)}
want = dict(pair.split("=") for pair in sys.argv[1:])
bad = {n: view.get(n) for n, s in want.items() if view.get(n) != s}
print("view:", view)
sys.exit(1 if bad else 0)' "$@"
}
all_see() {  # all_see "BOARDS" PAIRS...
  local boards=$1 b
  shift
  for b in $boards; do sees "$b" "$@" || return 1; done
}
generation_of() { "$bin/hcctl" --socket "$work/n$1/hc.sock" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["desired"]["generation"])'; }
all_at_generation() { local g=$1 b; shift; for b in "$@"; do [ "$(generation_of "$b")" = "$g" ] || return 1; done; }
export bin work
export -f members_json sees all_see generation_of all_at_generation

echo "five boards find each other from one seed"
for i in 1 2 3 4 5; do start_agent $i; done
alive5="n1=alive n2=alive n3=alive n4=alive n5=alive"
start=$SECONDS
check "every board sees all five alive" wait_until 10 all_see "1 2 3 4 5" $alive5
check "members show roles and the generation each runs" bash -c "members_json 3 | python3 -c '
import json, sys
m = {x[\"name\"]: x for x in json.load(sys.stdin)}
assert m[\"n1\"][\"roles\"] == [\"web\"] and m[\"n1\"][\"generation\"] == 1 and m[\"n1\"][\"incarnation\"] >= 1, m
'"
check "the document reached the boards that had none" wait_until 5 all_at_generation 1 2 3 4 5

echo "a document applied on any board reaches all"
sed 's/generation: 1/generation: 1/; s/n3: \[\]/n3: [web]/' "$work/n1/desired.yaml" >"$work/next.yaml"
check "hcctl apply on n4" "$bin/hcctl" --socket "$work/n4/hc.sock" apply "$work/next.yaml"
check "every board runs generation 2 within 3 s" wait_until 3 all_at_generation 2 1 2 3 4 5

echo "a document for a newer agent (requires:) is refused with one message; the one in force stays"
{ echo 'requires: "99.0"'; echo 'files: [what a newer agent reads]'; sed 's/generation: 1/generation: 3/' "$work/next.yaml"; } >"$work/newer.yaml"
check "hcctl plan says which version it needs and to upgrade" bash -c "
  out=\$($bin/hcctl --socket $work/n2/hc.sock plan $work/newer.yaml 2>&1); echo \"\$out\"
  grep -q 'requires hcagent 99.0 or later; this agent is [0-9.]*: upgrade it' <<<\"\$out\" && ! grep -q 'files' <<<\"\$out\""
check "hcctl apply refuses it" bash -c "! $bin/hcctl --socket $work/n2/hc.sock apply $work/newer.yaml"
check "every board keeps generation 2" all_at_generation 2 1 2 3 4 5

echo "VRRP to the gossip members (unicast: members)"
holders() { local i out=""; for i in 1 2 3 4 5; do output_has "inet 10.84.0.250/" ip netns exec hcc-n$i ip -4 addr show dev eth0 && out+="n$i "; done; echo "${out% }"; }
export -f holders
check "n1 alone holds the VIP" wait_until 5 bash -c '[ "$(holders)" = n1 ]'
check "its advertisements go to the members' addresses, none to the multicast group" bash -c "
  out=\$(timeout 1 ip netns exec hcc-n2 tcpdump -nli eth0 'ip proto 112' 2>/dev/null); echo \"\$out\" | tail -3
  grep -q '10.84.0.1 > 10.84.0.2: VRRPv3' <<<\"\$out\" && ! grep -q '224.0.0.18' <<<\"\$out\""

echo "planned handover to a chosen board"
check "hcctl vip handover front --to n3, on the holder" "$bin/hcctl" --socket "$work/n1/hc.sock" vip handover front --to n3
check "n3 holds the VIP, alone" wait_until 5 bash -c '[ "$(holders)" = n3 ]'
check "and keeps it: nobody preempts it back" bash -c 'sleep 2; [ "$(holders)" = n3 ]'
check "a handover to a board that is not a member is refused" bash -c "
  $bin/hcctl --socket $work/n3/hc.sock vip handover front --to nobody 2>&1 | grep -q 'nobody is not an alive member'"

echo "strangers change nothing"
start_agent 6
lab_exec 2 python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for p in [b'', b'\x00' * 40, b'junk' * 100, bytes(range(256))]: s.sendto(p, ('$(lab_ip 1)', 7964))
"
sleep 2
check "a board with another key never joins" bash -c "! members_json 1 | grep -q '\"n6\"'"
check "the stranger sees no one" bash -c "members_json 6 | python3 -c 'import json,sys; assert len(json.load(sys.stdin)) == 1'"
check "its packets and the garbage are dropped and counted" bash -c "
  ip netns exec hcc-n1 curl -sf http://127.0.0.1:9646/metrics | grep 'hcagent_gossip_packets_dropped_total{reason=\"unsealed\"}' | grep -qv ' 0$'"
check "the cluster is unchanged" all_see "1 2 3 4 5" $alive5
ip netns pids hcc-n6 | xargs -r kill -9

echo "a crash is seen by every survivor"
lab_cut 5
kill -9 "$(cat "$work/n5/pid")"
cut_at=$(date +%s%N)
check "n1-n4 see n5 dead" wait_until 6 all_see "1 2 3 4" n5=dead
echo "  (all survivors saw it dead after $((($(date +%s%N) - cut_at) / 1000000)) ms)"

echo "a graceful stop is a leave, not a death"
kill -TERM "$(cat "$work/n4/pid")"
check "n1-n3 see n4 left" wait_until 5 all_see "1 2 3" n4=left

echo "a restart rejoins from the peer cache, with every configured seed down"
stop_agent 2
sed -i "s|^join: .*|join: [10.84.0.99:7964]|" "$work/n2/agent.yaml"
start_agent 2
check "n2 is back in every view" wait_until 10 all_see "1 2 3" n1=alive n2=alive n3=alive

echo "a board comes back under its name with a new address"
lab_heal 5
lab_exec 5 ip addr add 10.84.0.55/24 dev eth0
sed -i "s|^bind: .*|bind: 10.84.0.55:7964|" "$work/n5/agent.yaml"
start_agent 5
check "n5 is alive again at 10.84.0.55" wait_until 10 bash -c "all_see '1 2 3' n5=alive && members_json 1 | grep -q '10.84.0.55:7964'"

echo "every board restarts at once (a power cut of the house)"
for i in 1 2 3 5; do kill -9 "$(cat "$work/n$i/pid")" || echo "  n$i was not running"; done
sleep 0.5
for i in 1 2 3 4 5; do start_agent $i; done
check "the cluster reforms by itself" wait_until 15 all_see "1 2 3 4 5" $alive5
check "and keeps generation 2" all_at_generation 2 1 2 3 4 5

echo "keys rotate on the live cluster"
old=$(cat "$work/gossip.key")
new=$(head -c 32 /dev/urandom | base64)
keys() { "$bin/hcctl" --socket "$work/n$1/hc.sock" keys "${@:2}"; }
check "keys list shows the primary's fingerprint, never the key" bash -c "
  out=\$($bin/hcctl --socket $work/n1/hc.sock keys); echo \"\$out\"
  grep -Eq '^primary [0-9a-f]{16}\$' <<<\"\$out\" && ! grep -qF '$old' <<<\"\$out\""
# n5 is down during the rotation (a board unplugged for the evening): it comes back with the old key only.
stop_agent 5
for i in 1 2 3 4; do keys $i install "$new" >/dev/null; done
for i in 1 2 3 4; do keys $i use "$new" >/dev/null; done
check "while boards switch to the new key the cluster holds" all_see "1 2 3 4" n1=alive n2=alive n3=alive n4=alive
start_agent 5
check "a board that was down during the rotation rejoins while the old key is still installed" \
  wait_until 10 all_see "1 2 3 4 5" $alive5
check "the primary key cannot be removed (exit 1)" bash -c "
  k=\$(head -c 32 /dev/urandom | base64); $bin/hcctl --socket $work/n1/hc.sock keys install \$k >/dev/null
  $bin/hcctl --socket $work/n1/hc.sock keys use \$k >/dev/null; $bin/hcctl --socket $work/n1/hc.sock keys remove \$k; test \$? = 1"
keys 1 use "$new" >/dev/null
# n5 goes down again and misses the removal of the old key: now nobody opens its packets. (Its streams leave
# from the board's first address, 10.84.0.5, whatever its gossip address.)
stop_agent 5
for i in 1 2 3 4; do keys $i remove "$old" >/dev/null; done
start_agent 5
check "the others' logs name the stranded board and say it may use a key they lack" \
  wait_until 15 bash -c "cat $work/n1/log.* $work/n2/log.* $work/n3/log.* $work/n4/log.* | grep -Eq 'packets from 10\\.84\\.0\\.55?[: ].*do not open with any of this board.*key this board lacks'"
check "the stranded board is not let in" bash -c "! members_json 1 | python3 -c 'import json,sys; sys.exit(0 if any(m[\"name\"]==\"n5\" and m[\"state\"]==\"alive\" for m in json.load(sys.stdin)) else 1)'"
keys 5 install "$new" >/dev/null
keys 5 use "$new" >/dev/null
keys 5 remove "$old" >/dev/null
# Its next try to join may be up to 30 s away (the rejoin backoff).
check "given the new key, it rejoins; with the old key removed everywhere all five are alive" \
  wait_until 40 all_see "1 2 3 4 5" $alive5
check "the rotated keyring is kept in state_dir, mode 0600, for the next start" bash -c "
  grep -qF '$new' $work/n3/state/keyring && test \$(stat -c %a $work/n3/state/keyring) = 600"

finish
