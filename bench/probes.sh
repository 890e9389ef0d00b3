#!/usr/bin/env bash
# What probes cost and how fast they move the VIP, hcagent beside keepalived's track scripts in the same run.
# 1. CPU: one board running 50 checks every second (20 TCP connects, 10 HTTP GETs, 10 file ages, 10 commands),
#    all tracked by one VIP; hcagent's probes against keepalived 2.2.7 with the same checks as vrrp_scripts
#    (keepalived forks a process per check run). CPU time of the whole process tree (the daemon and the
#    children it reaped) over DURATION seconds, as % of one core; the same with no checks as a baseline.
# 2. Failover: 3 boards (priorities 150, 120, 100), each probing its own "k3s API" (a TCP listener) every 1 s,
#    fall 2, weight -100, advert 100 ms. The listener on the master is killed; the figure is the time until the
#    VIP is on the next board (`ip -ts monitor` there). Bound: fall x interval + the VRRP skew (≈ 2.06 s).
# Prints one line per figure. Needs root and `make release`. DURATION (60) seconds, REPEATS (3) failovers
# (0: none).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
LAB_NAME=hcp
LAB_NET=10.83.0
source "$root/scripts/lab.sh"
source "$root/bench/lib.sh"
bin=${BIN:-$root/.build/release}
work=$(mktemp -d /tmp/hcp.XXXXXX)
trap 'lab_down; rm -rf "$work"' EXIT
duration=${DURATION:-60}
repeats=${REPEATS:-3}
vip=$(lab_ip 250)
hz=$(getconf CLK_TCK)

# The services the checks look at, on board $1: a TCP listener (6443), an HTTP server (8080), a fresh file.
services() {
  local board=$1
  ip netns exec "$(lab_ns "$board")" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 6443)); s.listen(128)
while True:
    c, _ = s.accept(); c.close()' >/dev/null 2>&1 &
  echo $! >"$work/listener$board.pid"
  disown $!
  ip netns exec "$(lab_ns "$board")" python3 -m http.server 8080 --bind 127.0.0.1 --directory "$work" >/dev/null 2>&1 &
  disown $!
  touch "$work/beat"
}

# CPU seconds used so far by PIDs: "TREE OWN", TREE with the children they reaped (utime, stime, cutime,
# cstime), OWN the processes alone (utime, stime).
cpu_seconds() {
  local tree=0 own=0 pid fields
  for pid in "$@"; do
    read -r -a fields < <(sed 's/^.*) //' "/proc/$pid/stat")
    own=$((own + fields[11] + fields[12]))
    tree=$((tree + fields[11] + fields[12] + fields[13] + fields[14]))
  done
  python3 -c "print($tree / $hz, $own / $hz)"
}

# hcagent's document: one VIP tracking every probe; $1 = the probes block ("" for none).
hcagent_document() {
  local probes=$1 track=$2
  cat <<YAML
generation: 1
cluster: bench
nodes: { n1: [], n2: [], n3: [] }
vips:
  - { name: front, address: $vip/24, interface: eth0, vrid: 51, advert: 100ms, priority: { default: 100, n1: 150, n2: 120 }, track: [$track] }
$probes
YAML
}

start_hcagent() {  # start_hcagent BOARD
  local i=$1 dir="$work/n$1"
  mkdir -p "$dir"
  [ -e "$work/gossip.key" ] || head -c 32 /dev/urandom | base64 >"$work/gossip.key"
  printf 'node: n%s\nbind: %s:7964\nkey_file: %s/gossip.key\nsocket: %s/hc.sock\nstate_dir: %s/state\ndesired: %s/desired.yaml\nmetrics: 127.0.0.1:9646\n' \
    "$i" "$(lab_ip "$i")" "$work" "$dir" "$dir" "$work" >"$dir/agent.yaml"
  lab_start "$i" "$dir/log" "$bin/hcagent" --config "$dir/agent.yaml" >"$dir/pid"
}

# keepalived's configuration: one instance tracking the scripts given as "NAME|COMMAND" lines on stdin.
start_keepalived() {  # start_keepalived BOARD PRIORITY INTERVAL FALL WEIGHT < scripts
  local i=$1 priority=$2 interval=$3 fall=$4 weight=$5 dir="$work/n$1" name command names=()
  mkdir -p "$dir"
  {
    printf 'global_defs {\n  vrrp_version 3\n  script_user root\n  enable_script_security\n}\n'
    while IFS='|' read -r name command; do
      names+=("$name")
      printf 'vrrp_script %s {\n  script "%s"\n  interval %s\n  timeout 1\n  rise 2\n  fall %s\n  weight %s\n}\n' "$name" "$command" "$interval" "$fall" "$weight"
    done
    printf 'vrrp_instance front {\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority %s\n  advert_int 0.1\n' "$priority"
    printf '  virtual_ipaddress {\n    %s/24\n  }\n' "$vip"
    if ((${#names[@]})); then printf '  track_script {\n'; printf '    %s\n' "${names[@]}"; printf '  }\n'; fi
    printf '}\n'
  } >"$dir/keepalived.conf"
  rm -f "$dir"/k*.pid
  lab_start "$i" "$dir/log" keepalived -f "$dir/keepalived.conf" -p "$dir/k.pid" -r "$dir/kv.pid" -c "$dir/kc.pid" -n -l >"$dir/pid"
}

# The 50 checks, as hcagent probes and as keepalived scripts.
hcagent_probes() {
  echo "probes:"
  for n in $(seq 1 20); do echo "  tcp$n: { tcp: \"127.0.0.1:6443\", interval: 1s, timeout: 1s, weight: -1 }"; done
  for n in $(seq 1 10); do echo "  http$n: { http: \"http://127.0.0.1:8080/beat\", interval: 1s, timeout: 1s, weight: -1 }"; done
  for n in $(seq 1 10); do echo "  file$n: { file: \"$work/beat\", max_age: 1h, interval: 1s, timeout: 1s, weight: -1 }"; done
  for n in $(seq 1 10); do echo "  exec$n: { exec: \"/bin/true\", interval: 1s, timeout: 1s, weight: -1 }"; done
}
probe_names() {
  local names=()
  for n in $(seq 1 20); do names+=("tcp$n"); done
  for kind in http file exec; do for n in $(seq 1 10); do names+=("$kind$n"); done; done
  (IFS=,; echo "${names[*]}")
}
keepalived_scripts() {
  for n in $(seq 1 20); do echo "tcp$n|/bin/bash -c 'exec 3<>/dev/tcp/127.0.0.1/6443'"; done
  for n in $(seq 1 10); do echo "http$n|/usr/bin/curl -sf -o /dev/null http://127.0.0.1:8080/beat"; done
  for n in $(seq 1 10); do echo "file$n|/usr/bin/test -f $work/beat"; done
  for n in $(seq 1 10); do echo "exec$n|/bin/true"; done
}

# cpu_case IMPL CHECKS(yes|no): prints "% of one core" of the tree over DURATION, after 10 s to settle.
cpu_case() {
  local impl=$1 checks=$2 pids
  lab_up 1
  rm -rf "$work"/n*
  services 1
  if [ "$impl" = hcagent ]; then
    if [ "$checks" = yes ]; then hcagent_document "$(hcagent_probes)" "$(probe_names)"; else hcagent_document "" ""; fi >"$work/desired.yaml"
    start_hcagent 1
    pids=$(cat "$work/n1/pid")
  else
    if [ "$checks" = yes ]; then keepalived_scripts; fi | start_keepalived 1 150 1 3 -1
  fi
  sleep 10
  if [ "$impl" = keepalived ]; then pids="$(cat "$work/n1/k.pid") $(cat "$work/n1/kv.pid")"; fi
  local before after before_own after_own
  # shellcheck disable=SC2086
  read -r before before_own < <(cpu_seconds $pids)
  sleep "$duration"
  # shellcheck disable=SC2086
  read -r after after_own < <(cpu_seconds $pids)
  local rss
  rss=$(awk '/VmRSS/ {print $2}' "/proc/${pids%% *}/status")
  if [ "$impl" = hcagent ] && [ "$checks" = yes ]; then
    "$bin/hcctl" --socket "$work/n1/hc.sock" probes --json | python3 -c '
import json, sys
probes = json.load(sys.stdin)
bad = [p["name"] for p in probes if p["state"] != "healthy"]
print("all 50 healthy" if len(probes) == 50 and not bad else f"NOT all healthy: {bad}", file=sys.stderr)'
  fi
  python3 -c "print(f'{($after - $before) / $duration * 100:.2f} % of one core with the checks it forked, {($after_own - $before_own) / $duration * 100:.2f} % the daemon alone (RSS of the main process {$rss} KiB)')"
  lab_down
}

# failover_case IMPL: prints ms from the listener's kill on n1 to the VIP on n2, or "fail".
failover_case() {
  local impl=$1 i
  lab_up 3
  rm -rf "$work"/n*
  for i in 1 2 3; do services "$i"; done
  if [ "$impl" = hcagent ]; then
    hcagent_document "probes:
  k3s-api: { tcp: \"127.0.0.1:6443\", interval: 1s, timeout: 1s, rise: 2, fall: 2, weight: -100 }" "k3s-api" >"$work/desired.yaml"
    for i in 1 2 3; do start_hcagent "$i"; done
  else
    local priorities=(0 150 120 100)
    for i in 1 2 3; do echo "k3s_api|/bin/bash -c 'exec 3<>/dev/tcp/127.0.0.1/6443'" | start_keepalived "$i" "${priorities[$i]}" 1 2 -100; done
  fi
  local limit=$((SECONDS + 20))
  until ip netns exec "$(lab_ns 1)" ip -4 addr show dev eth0 | grep -q "inet $vip/"; do
    ((SECONDS > limit)) && { echo fail; lab_down; return; }
    sleep 0.05
  done
  sleep 4  # every probe healthy, every backup has heard the master
  ip netns exec "$(lab_ns 2)" ip -ts -o monitor address >"$work/monitor" 2>&1 &
  local monitor=$!
  sleep 0.5
  local killed
  killed=$(date +%s.%N)
  kill "$(cat "$work/listener1.pid")"
  limit=$((SECONDS + 10))
  until grep -q "inet $vip/" "$work/monitor"; do
    ((SECONDS > limit)) && break
    sleep 0.05
  done
  kill "$monitor" 2>/dev/null
  wait "$monitor" 2>/dev/null
  python3 - "$work/monitor" "$killed" "$vip" <<'PY'
import re, sys, datetime
for line in open(sys.argv[1]):
    if "inet " + sys.argv[3] + "/" in line and "Deleted" not in line:
        stamp = re.match(r"\[([^\]]+)\]", line).group(1)
        at = datetime.datetime.strptime(stamp[:26], "%Y-%m-%dT%H:%M:%S.%f").timestamp()
        print(int(round((at - float(sys.argv[2])) * 1000)))
        break
else:
    print("fail")
PY
  lab_down
}

echo "Probes, hcagent beside keepalived 2.2.7 ($(date -u +%F), load $(cut -d' ' -f1-3 /proc/loadavg))"
for impl in hcagent keepalived; do
  printf '%-10s  CPU, no checks, %s s:        %s\n' "$impl" "$duration" "$(cpu_case "$impl" no)"
  printf '%-10s  CPU, 50 checks at 1 s, %s s: %s\n' "$impl" "$duration" "$(cpu_case "$impl" yes)"
done
for impl in hcagent keepalived; do
  ((repeats > 0)) || break  # REPEATS=0: the CPU figures only
  results=()
  for ((r = 0; r < repeats; r++)); do results+=("$(failover_case "$impl")"); done
  printf '%-10s  listener killed on the master -> VIP on the next board (interval 1 s, fall 2), min / median / max of %s: %s\n' \
    "$impl" "$repeats" "$(summary "${results[@]}")"
done
