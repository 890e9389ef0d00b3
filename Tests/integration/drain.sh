#!/usr/bin/env bash
# hcctl drain on a namespace LAN of three agents and a client (issue 16, item 1): draining the VIP holder moves
# the VIP make before break while the client pings it every 10 ms (the lost pings are counted and printed: the
# target is none), the board shows drained in status and members, stays drained across a restart of its agent,
# holds the VIP again only as the last live board, and hcctl undrain lets it take the VIP back (preempting).
# A graceful stop (SIGTERM) of the holder's agent and hcctl vip handover without --to move the VIP once too.
# Another board is drained from afar through gossip (hcctl drain NODE). A state_dir that turns read-only makes
# the drain a status problem, not a failure. Last, a drain passes over the best board by the document whose
# weighted probe fails (gossiped): the VIP moves once, at once, to the board that is best as the boards advertise.
# (The `one` units leaving a drained board are shown by the unit tests: Tests/ReconcilerTests/DrainPlacementTests.)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
LAB_NAME=hdr
LAB_NET=10.97.0
source "$root/scripts/lab.sh"
require_root

bin=${BIN:-$root/.build/release}
work=$(mktemp -d /tmp/hdr.XXXXXX)
cleanup() {
  moves_stop 2>/dev/null
  for f in "$work"/listener*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  lab_down
  umount "$work/n3/state" 2>/dev/null
  [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

vip=$(lab_ip 250)
lab_up 4  # boards 1-3 run agents; board 4 is a client
head -c 32 /dev/urandom | base64 >"$work/gossip.key"
for i in 1 2 3; do
  mkdir -p "$work/n$i/state"
  cat >"$work/n$i/agent.yaml" <<YAML
node: n$i
bind: $(lab_ip $i):7964
join: [$(lab_ip 1):7964, $(lab_ip 2):7964, $(lab_ip 3):7964]
socket: $work/n$i/hc.sock
key_file: $work/gossip.key
state_dir: $work/n$i/state
desired: $work/desired.yaml
metrics: 127.0.0.1:9646
YAML
done
# n3's state_dir is a file system of its own, so that it can be turned read-only under the running agent.
mount -t tmpfs -o size=4m tmpfs "$work/n3/state"
cat >"$work/desired.yaml" <<YAML
generation: 1
cluster: lab
nodes: { n1: [], n2: [], n3: [] }
vips:
  - name: front
    address: $vip/24
    interface: eth0
    vrid: 52
    advert: 100ms
    priority: { default: 100, n1: 150, n2: 120 }
YAML
start_agent() { lab_start "$1" "$work/n$1/log.$(date +%s%N)" "$bin/hcagent" --config "$work/n$1/agent.yaml" >"$work/n$1/pid"; }
# A graceful stop (the VIP handed over first), waited for up to 5 s.
stop_agent() {
  local pid tries=0
  pid=$(cat "$work/n$1/pid")
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null && ((tries++ < 100)); do sleep 0.05; done
}
for i in 1 2 3; do start_agent $i; done
source "$here/lib/vrrp.sh"
hcctl() { local board=$1; shift; "$bin/hcctl" --socket "$work/n$board/hc.sock" "$@"; }
# status_field BOARD PYTHON-EXPRESSION: prints the expression over s, BOARD's `hcctl status --json`.
status_field() { hcctl "$1" status --json | python3 -c "import json,sys; s=json.load(sys.stdin); print($2)"; }
# drained_in_members BOARD NAME VALUE: on BOARD, gossip shows NAME drained (True) or not (None).
drained_in_members() { test "$(status_field "$1" "[m.get('drained') for m in s['members'] if m['name']=='n$2'][0]")" = "$3"; }
vip_field() { status_field "$1" "s['vips'][0].get('$2')"; }
export -f hcctl status_field drained_in_members vip_field
source "$here/lib/ping.sh"
source "$here/lib/moves.sh"

echo "election"
check "n1 (priority 150) becomes master" wait_until 10 is_state 1 master
check "the VIP is on n1 only" only_holder n1
check "every board sees the three members alive" wait_until 10 bash -c "test \"\$(status_field 3 \"sum(m['state']=='alive' for m in s['members'])\")\" = 3"
check "nobody is drained yet" bash -c "test \"\$(status_field 1 \"s.get('drained')\")\" = False && drained_in_members 2 1 None"

# step_down_report LABEL [TO [NEVER]]: after moves_start, ping_start and before=...; prints and checks the moves
# and pings: one move, from n1 to TO (n2), never through NEVER (n3).
step_down_report() {
  local to=${2:-n2} never=${3:-n3}
  sleep 1
  read -r gap lost sent < <(ping_stop)
  moves_stop
  read -r holder_moves mac_moves unheld < <(vip_moves "$before")
  echo "  $1: $lost pings lost of $sent answered (longest gap between replies: $gap ms), VIP moves $holder_moves (the client's ARP: $mac_moves), held by no board for $unheld ms"
  check "$1: the client lost no ping" test "$lost" = 0
  check "$1: the VIP moved once (n1 to $to), as the holders and the client's ARP see it" bash -c "test $holder_moves = 1 && test $mac_moves = 1"
  check "$1: never held by no board, and never by $never" bash -c "test $unheld = 0 && ! grep -q ' $vip/' $work/moves.$never"
}

echo "drain the VIP holder while the client pings the VIP every 10 ms"
moves_start
ping_start
before=$(date +%s%N)
check "hcctl drain on n1 says what it does" bash -c "hcctl 1 drain | tee /dev/stderr | grep -q '^n1 drained: its VIPs go to other boards'"
check "n2 (priority 120) takes the VIP" wait_until 5 is_state 2 master
# n1 steps down to n2 alone (it advertises 119, below n2 only): n3 (100) never takes it on the way.
step_down_report "drain of the VIP holder"
check "the VIP is on n2 only" only_holder n2
check "n1 is backup at priority 1, and says why" bash -c "is_state 1 backup && test \"\$(vip_field 1 priority)\" = 1 && vip_field 1 priorityReason | grep -q 'drained: priority 1'"
check "hcctl vip on n1 shows the reason" bash -c "hcctl 1 vip | tee /dev/stderr | grep -E '^  front .* 1 .*drained: priority 1'"
check "hcctl status on n1 says DRAINED" bash -c "hcctl 1 status | grep -q '^DRAINED' && test \"\$(status_field 1 \"s['drained']\")\" = True"
check "hcctl members on n2 and n3 show n1 drained (gossip)" wait_until 5 bash -c "drained_in_members 2 1 True && drained_in_members 3 1 True && hcctl 3 members | grep -E '^  n1 .* alive,drained '"
check "state_dir keeps it" grep -qx drained "$work/n1/state/drained"
check "draining again says so" bash -c "hcctl 1 drain | grep -q 'already drained'"
check "undrain from outside root and the socket's group is refused" bash -c "setpriv --reuid=65534 --regid=65534 --clear-groups $bin/hcctl --socket $work/n1/hc.sock undrain; test \$? != 0 && test \"\$(status_field 1 \"s['drained']\")\" = True"

echo "the drained board's agent restarts"
stop_agent 1
start_agent 1
check "n1's agent is back" wait_until 10 bash -c "hcctl 1 status >/dev/null"
check "it is still drained" bash -c "test \"\$(status_field 1 \"s['drained']\")\" = True"
check "the others see it drained again" wait_until 10 bash -c "drained_in_members 2 1 True && drained_in_members 3 1 True"
sleep 2
check "n1 did not take the VIP back (backup, priority 1)" bash -c "only_holder n2 && is_state 1 backup && test \"\$(vip_field 1 priority)\" = 1"

echo "the drained board holds the VIP only as the last live board"
stop_agent 2
check "with n2 stopped, n3 (100) takes it, not the drained n1" wait_until 5 bash -c "is_state 3 master && only_holder n3"
stop_agent 3
check "with n3 stopped too, the drained n1 takes it" wait_until 5 bash -c "is_state 1 master && only_holder n1"
start_agent 2
start_agent 3
check "n2 back: it takes the VIP from the drained n1" wait_until 10 bash -c "is_state 2 master && only_holder n2"

echo "undrain: n1 (priority 150, preempting) takes the VIP back"
check "n1 sees n2 and n3 alive again" wait_until 10 bash -c "test \"\$(status_field 1 \"sum(m['state']=='alive' for m in s['members'])\")\" = 3"
ping_start
check "hcctl undrain on n1" bash -c "hcctl 1 undrain | tee /dev/stderr | grep -q '^n1 back in service'"
check "n1 takes the VIP back" wait_until 5 bash -c "is_state 1 master && only_holder n1"
sleep 1
read -r gap lost sent < <(ping_stop)
echo "  undrain (n1 preempts back): $lost pings lost of $sent answered (longest gap: $gap ms)"
check "the client lost no ping" test "$lost" = 0
check "n1's priority is 150 again, with no reason" bash -c "test \"\$(vip_field 1 priority)\" = 150 && test \"\$(vip_field 1 priorityReason)\" = None"
check "members show n1 in service" wait_until 5 bash -c "drained_in_members 2 1 None && drained_in_members 3 1 None"
check "state_dir says in service" grep -qx "in service" "$work/n1/state/drained"

echo "a graceful stop (SIGTERM) of the holder's agent and hcctl vip handover without --to: one move each, to n2"
# n1 (150) holds the VIP, n2 (120) and n3 (100) are backups: n1 advertises 119, below n2 only, and keeps the VIP
# until n2 announces it (priority 0 would start n2's and n3's skew timers at once: a race, maybe two moves).
moves_start
ping_start
before=$(date +%s%N)
pid=$(cat "$work/n1/pid")
kill -TERM "$pid"
while kill -0 "$pid" 2>/dev/null && (($(date +%s%N) - before < 6000000000)); do sleep 0.01; done
stop_ms=$((($(date +%s%N) - before) / 1000000))
check "SIGTERM of n1's agent: n2 takes the VIP" wait_until 5 is_state 2 master
step_down_report "SIGTERM of the holder's agent"
echo "  (SIGTERM to exit: $stop_ms ms; the bound is 3.8 s: VRRP's stop budget 3 s, the agent's 3.5 s, and 0.3 s of cancellation)"
check "n1's agent exited within its bound, having handed over" bash -c "test $stop_ms -lt 3800 && cat $work/n1/log.* | grep -q 'agent stopping; handed over to'"
start_agent 1
check "n1's agent is back, sees the three members alive and takes the VIP back (preempting)" \
  wait_until 15 bash -c "test \"\$(status_field 1 \"sum(m['state']=='alive' for m in s['members'])\")\" = 3 && is_state 1 master && only_holder n1"
moves_start
ping_start
before=$(date +%s%N)
check "hcctl vip handover front (no --to) on n1" bash -c "hcctl 1 vip handover front | tee /dev/stderr | grep -q '^handing front over'"
check "n2 takes the VIP" wait_until 5 is_state 2 master
step_down_report "hcctl vip handover without --to"
check "n1 does not take it back: backup at priority 150 again" bash -c "only_holder n2 && is_state 1 backup && test \"\$(vip_field 1 priority)\" = 150"
# Back to n1 for what follows: its agent restarted preempts (having handed over, it defers until then).
stop_agent 1
start_agent 1
check "n1's agent restarted sees the three members alive and takes the VIP back" \
  wait_until 15 bash -c "test \"\$(status_field 1 \"sum(m['state']=='alive' for m in s['members'])\")\" = 3 && is_state 1 master && only_holder n1"

echo "drain another board from afar: hcctl drain NODE, asked in the asker's gossip metadata"
check "hcctl drain n2 on n1 asks n2" bash -c "hcctl 1 drain n2 | tee /dev/stderr | grep -q '^asked n2 to drain'"
check "n2 drains itself; every board sees it drained" wait_until 5 bash -c "test \"\$(status_field 2 \"s['drained']\")\" = True && drained_in_members 1 2 True && drained_in_members 3 2 True"
check "n2's log says who asked" bash -c "cat $work/n2/log.* | grep -q 'n1 asked this board to drain'"
check "n2 runs at priority 1 now" bash -c "test \"\$(vip_field 2 priority)\" = 1"
check "asking a board that is not a member fails with exit 1" bash -c "hcctl 1 drain n9; test \$? = 1"
check "hcctl undrain n2 on n3 puts it back in service" bash -c "hcctl 3 undrain n2 | grep -q '^asked n2 to come back in service'"
check "every board sees n2 in service again, at priority 120" wait_until 5 bash -c "test \"\$(status_field 2 \"s['drained']\")\" = False && drained_in_members 1 2 None && test \"\$(vip_field 2 priority)\" = 120"
check "n2 undrained by hand stays so: the old request is not acted on again" bash -c "hcctl 2 drain >/dev/null && hcctl 2 undrain >/dev/null && sleep 1 && test \"\$(status_field 2 \"s['drained']\")\" = False"

echo "a read-only state_dir"
mount -o remount,ro "$work/n3/state"
check "hcctl drain on n3 drains it and says it is not kept" bash -c "hcctl 3 drain | tee /dev/stderr | grep -q 'not kept in state_dir'"
check "status shows the drain problem" bash -c "hcctl 3 status --json | grep -q 'cannot keep the drained state'"
check "n3 shows drained to the others all the same" wait_until 5 drained_in_members 1 3 True
mount -o remount,rw "$work/n3/state"
check "writable again, the retry keeps it and the problem clears" wait_until 10 bash -c "grep -qx drained $work/n3/state/drained && ! hcctl 3 status --json | grep -q 'cannot keep the drained state'"
check "hcctl undrain on n3" bash -c "hcctl 3 undrain | grep -q '^n3 back in service'"
check "every agent still runs" bash -c "for i in 1 2 3; do kill -0 \$(cat $work/n\$i/pid) || exit 1; done"

echo "a drain passes over the best board by the document whose weighted probe fails: one move, to n3"
# nas-up connects to 127.0.0.1:7811 in each board's namespace: n1 and n3 listen there, n2 does not, so n2
# advertises 120 - 50 = 70 and n3 (100) is the best other board. n1 hears n2's failing probe through gossip
# ("pf") and steps down to one below n3; counting n2 at 120 it would advertise 119, which nobody preempts, and
# hand over at priority 0 only after its 5 s window.
listener() { ip netns exec "$(lab_ns "$1")" python3 -c 'import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 7811)); s.listen(64)
while True: c,_=s.accept(); c.close()' & echo $! >"$work/listener$1.pid"; disown $!; }
listener 1
listener 3
sleep 0.3
# Written beside and renamed into place: the agents poll the file.
sed 's/^generation: .*/generation: 2/' "$work/desired.yaml" >"$work/desired.next"
cat >>"$work/desired.next" <<YAML
probes:
  nas-up: { tcp: "127.0.0.1:7811", interval: 200ms, timeout: 100ms, rise: 2, fall: 2, weight: -50 }
YAML
sed -i 's/^    priority: { default: 100, n1: 150, n2: 120 }$/    priority: { default: 100, n1: 150, n2: 120 }\n    track: [nas-up]/' "$work/desired.next"
mv "$work/desired.next" "$work/desired.yaml"
check "n2 advertises 70 (its probe fails), n1 still holds the VIP" wait_until 10 bash -c "test \"\$(vip_field 2 priority)\" = 70 && only_holder n1"
check "n1 hears of n2's failing probe and sees n3 in service (gossip)" wait_until 5 bash -c \
  "status_field 1 \"[m.get('failingProbes') for m in s['members'] if m['name']=='n2'][0]\" | grep -q nas-up && drained_in_members 1 3 None"
moves_start
ping_start
before=$(date +%s%N)
check "hcctl drain on n1" bash -c "hcctl 1 drain | grep -q '^n1 drained'"
check "n3 takes the VIP within 2 s (not after n1's 5 s window)" wait_until 2 is_state 3 master
echo "  (drain to n3 master: $((($(date +%s%N) - before) / 1000000)) ms, as polled)"
step_down_report "drain past n2's failing weighted probe" n3 n2

finish
