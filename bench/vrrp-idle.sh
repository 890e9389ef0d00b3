#!/usr/bin/env bash
# What an idle agent holding a VIP costs, thread by thread: two boards gossip and run one VIP (advert 100 ms),
# n1 master, n2 backup; five boards, n1 master and gossiping with the 4 others (issue 14's target); one board
# with no VIP, for gossip and the rest alone; and keepalived master of the same VIP, alone, in the same run
# (its two processes, as one), then the same with 4 keepalived backups beside it; and an agent master alone. For
# each agent and each of
# its threads, over DURATION seconds after 5 s to settle: voluntary context switches a second (the times the
# thread slept and was woken) and CPU from /proc/PID/task/TID/schedstat (nanoseconds, unlike stat's ticks).
# Needs root and `make release`; uses the lab of bench/probes.sh (hcp), so not beside it. DURATION (20).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
LAB_NAME=hcp
LAB_NET=10.83.0
source "$root/scripts/lab.sh"
bin=${BIN:-$root/.build/release}
work=$(mktemp -d /tmp/hcvi.XXXXXX)
trap 'lab_down; rm -rf "$work"' EXIT
duration=${DURATION:-20}

# threads PID: one line per thread, "tid name voluntary involuntary cpu-ns".
threads() {
  local task
  for task in /proc/"$1"/task/*; do
    printf '%s %s %s %s %s\n' "${task##*/}" "$(tr ' ' _ <"$task/comm")" \
      "$(awk '/^voluntary_ctxt_switches/ {print $2}' "$task/status")" \
      "$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "$task/status")" "$(cut -d' ' -f1 "$task/schedstat")"
  done 2>/dev/null
}

# report LABEL BEFORE AFTER: per thread wake-ups/s, CPU % of one core and µs per wake-up; then the total.
report() {
  python3 - "$1" "$2" "$3" "$duration" <<'PY'
import sys
label, before, after, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
def parse(text): return {f[0]: (f[1], int(f[2]), int(f[3]), int(f[4])) for f in (l.split() for l in text.splitlines()) if len(f) == 5}
a, b = parse(before), parse(after)
print(label)
wakes = cpu = 0
for tid in sorted(b, key=int):
    if tid not in a: continue
    name, v, nv, ns = b[tid]
    w, c = (v - a[tid][1]) / seconds, (ns - a[tid][3]) / 1e9 / seconds * 100
    n = (nv - a[tid][2]) / seconds
    wakes += w; cpu += c
    if w or c: print(f"  {name:<18} {w:6.1f} wakes/s {n:5.1f} preempted/s {c:6.3f} %" + (f" {c / 100 * 1e6 / (w + n):5.0f} µs/wake" if w + n else ""))
print(f"  {'all threads':<18} {wakes:6.1f} wakes/s {'':17} {cpu:6.3f} %")
PY
}

# start BOARD VIPS(yes|no) JOIN: an agent on the board, in a directory of its own; prints its pid.
start() {
  local i=$1 dir="$work/n$1-$2"
  mkdir -p "$dir"
  printf 'node: n%s\nbind: %s:7964\njoin: [%s]\nkey_file: %s/gossip.key\nsocket: %s/hc.sock\nstate_dir: %s/state\ndesired: %s/desired-%s.yaml\nmetrics: 127.0.0.1:9646\n' \
    "$i" "$(lab_ip "$i")" "$3" "$work" "$dir" "$dir" "$work" "$2" >"$dir/agent.yaml"
  lab_start "$i" "$dir/log" "$bin/hcagent" --config "$dir/agent.yaml"
}

head -c 32 /dev/urandom | base64 >"$work/gossip.key"
printf 'generation: 1\ncluster: bench\nnodes: { n1: [], n2: [], n3: [], n4: [], n5: [] }\nvips:\n  - { name: front, address: %s/24, interface: eth0, vrid: 51, advert: 100ms, priority: { default: 100, n1: 150 } }\n' \
  "$(lab_ip 250)" >"$work/desired-yes.yaml"
printf 'generation: 1\ncluster: bench\nnodes: { n1: [] }\nvips: []\n' >"$work/desired-no.yaml"

echo "An idle agent thread by thread, $duration s ($(date -u '+%F %H:%M'), load $(cut -d' ' -f1-3 /proc/loadavg))"
lab_up 2
master=$(start 1 yes "")
backup=$(start 2 yes "$(lab_ip 1):7964")
sleep 5
"$bin/hcctl" --socket "$work/n2-yes/hc.sock" vip | grep -q ' backup ' || echo "n2 is not backup: the figures below are not what they say"
m0=$(threads "$master"); b0=$(threads "$backup")
sleep "$duration"
m1=$(threads "$master"); b1=$(threads "$backup")
report "n1, master of one VIP (adverts 100 ms), gossiping with n2:" "$m0" "$m1"
report "n2, its backup:" "$b0" "$b1"
lab_down
lab_up 5
rm -rf "$work"/n*-yes
master=$(start 1 yes "")
for i in 2 3 4 5; do start "$i" yes "$(lab_ip 1):7964" >/dev/null; done
sleep 5
[ "$("$bin/hcctl" --socket "$work/n1-yes/hc.sock" members | grep -c ' alive ')" = 5 ] || echo "n1 does not see 5 members alive"
m0=$(threads "$master")
sleep "$duration"
report "n1, master of one VIP (adverts 100 ms), gossiping with 4 others (5 boards):" "$m0" "$(threads "$master")"
lab_down
lab_up 1
alone=$(start 1 no "")
sleep 5
a0=$(threads "$alone")
sleep "$duration"
report "one board alone, no VIP (gossip, document watcher, the rest):" "$a0" "$(threads "$alone")"
lab_down
# The master alone on its LAN, as keepalived is measured below: its adverts reach no other socket.
lab_up 1
rm -rf "$work"/n*-yes
alone=$(start 1 yes "")
sleep 5
a0=$(threads "$alone")
sleep "$duration"
report "one board alone, master of the VIP (no backup, no gossip peer: keepalived's case below):" "$a0" "$(threads "$alone")"
lab_down

# keepalived 2.2.7, master of the same VIP (priority 150, adverts 100 ms), alone: its parent and VRRP child.
if command -v keepalived >/dev/null; then
  lab_up 1
  dir="$work/keepalived"
  mkdir -p "$dir"
  printf 'global_defs {\n  vrrp_version 3\n}\nvrrp_instance front {\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority 150\n  advert_int 0.1\n  virtual_ipaddress {\n    %s/24\n  }\n}\n' \
    "$(lab_ip 250)" >"$dir/keepalived.conf"
  lab_start 1 "$dir/log" keepalived -f "$dir/keepalived.conf" -p "$dir/k.pid" -r "$dir/kv.pid" -c "$dir/kc.pid" -n -l >/dev/null
  sleep 5
  both() { threads "$(cat "$dir/k.pid")"; threads "$(cat "$dir/kv.pid")"; }
  k0=$(both)
  sleep "$duration"
  k1=$(both)
  report "keepalived, master of the same VIP (parent and VRRP child):" "$k0" "$k1"
  lab_down
  # The same master with 4 keepalived backups on the LAN, as n1 above has 4 agents: on this one machine the
  # sender's thread pays for delivering each advert through the bridge to every listening socket (in perf, half of
  # hcagent's VRRP thread), which a board with a real NIC does not.
  lab_up 5
  for i in 1 2 3 4 5; do
    mkdir -p "$dir/b$i"
    sed "s/priority 150/priority $([ "$i" = 1 ] && echo 150 || echo 100)/" "$dir/keepalived.conf" >"$dir/b$i/keepalived.conf"
    lab_start "$i" "$dir/b$i/log" keepalived -f "$dir/b$i/keepalived.conf" -p "$dir/b$i/k.pid" -r "$dir/b$i/kv.pid" \
      -c "$dir/b$i/kc.pid" -n -l >/dev/null
  done
  sleep 5
  both() { threads "$(cat "$dir/b1/k.pid")"; threads "$(cat "$dir/b1/kv.pid")"; }
  k0=$(both)
  sleep "$duration"
  k1=$(both)
  report "keepalived, master of the same VIP with 4 keepalived backups on the LAN (the master's parent and VRRP child):" "$k0" "$k1"
else
  echo "keepalived is not installed: no comparison in this run"
fi
