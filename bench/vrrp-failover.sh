#!/usr/bin/env bash
# How long a client loses the VIP, hcagent beside keepalived in the same run: 3 boards (priorities 150, 120,
# 100) and a client pinging the VIP every 10 ms on the namespace lab; the longest gap between two replies when
# the master board dies (link cut + kill -9), stops gracefully (SIGTERM), or hands over (hcagent only), at
# advert 1 s and 0.1 s. Prints one line per figure. Needs root and `make release`.
# REPEATS (default 3) runs per case; the line gives min / median / max in ms. The baseline line is the same
# measurement with nothing happening: what the lab's own jitter adds to every figure.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
LAB_NAME=hcf
LAB_NET=10.82.0
source "$root/scripts/lab.sh"
bin=${BIN:-$root/.build/release}
work=$(mktemp -d /tmp/hcf.XXXXXX)
trap 'lab_down; rm -rf "$work"' EXIT
repeats=${REPEATS:-3}
vip=$(lab_ip 250)
priorities=(0 150 120 100)

holds() { ip netns exec "$(lab_ns "$1")" ip -4 addr show dev eth0 | grep -q "inet $vip/"; }
wait_holder() {  # wait_holder BOARD SECONDS
  local limit=$(($(date +%s) + $2))
  until holds "$1"; do [ "$(date +%s)" -ge "$limit" ] && return 1; sleep 0.02; done
}

start_board() {  # start_board IMPL BOARD ADVERT_SECONDS
  local impl=$1 i=$2 advert=$3 dir="$work/n$2"
  mkdir -p "$dir"
  if [ "$impl" = hcagent ]; then
    [ -e "$work/gossip.key" ] || head -c 32 /dev/urandom | base64 >"$work/gossip.key"
    printf 'node: n%s\nbind: %s:7964\nkey_file: %s/gossip.key\nsocket: %s/hc.sock\nstate_dir: %s/state\ndesired: %s/desired.yaml\nmetrics: 127.0.0.1:9646\n' \
      "$i" "$(lab_ip "$i")" "$work" "$dir" "$dir" "$work" >"$dir/agent.yaml"
    lab_start "$i" "$dir/log" "$bin/hcagent" --config "$dir/agent.yaml" >"$dir/pid"
  else
    cat >"$dir/keepalived.conf" <<CONF
global_defs {
  vrrp_version 3
}
vrrp_instance front {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority ${priorities[$i]}
  advert_int $advert
  virtual_ipaddress {
    $vip/24
  }
}
CONF
    rm -f "$dir"/k*.pid
    lab_start "$i" "$dir/log" keepalived -f "$dir/keepalived.conf" -p "$dir/k.pid" -r "$dir/kv.pid" -c "$dir/kc.pid" -n -l >"$dir/pid"
  fi
}

# One run: prints "GAP_MS:PINGS_LOST", or "fail".
run_case() {  # run_case IMPL ADVERT_SECONDS CASE
  local impl=$1 advert=$2 case=$3 i
  lab_up 4
  rm -rf "$work"/n*
  local ms
  ms=$(python3 -c "print(int(round($advert * 1000)))")
  cat >"$work/desired.yaml" <<YAML
generation: 1
cluster: bench
nodes: { n1: [], n2: [], n3: [] }
vips:
  - { name: front, address: $vip/24, interface: eth0, vrid: 51, advert: ${ms}ms, priority: { default: 100, n1: 150, n2: 120 } }
YAML
  for i in 1 2 3; do start_board "$impl" "$i" "$advert"; done
  if ! wait_holder 1 15; then echo fail; lab_down; return; fi
  sleep "$(python3 -c "print(1 + 4 * $advert)")"  # let every backup hear the master
  ip netns exec "$(lab_ns 4)" ping -D -n -i 0.01 "$vip" >"$work/ping" 2>&1 &  # $! is ping itself
  local ping=$!
  sleep 1
  case $case in
    # The link first: keepalived's VRRP child would otherwise see its parent die and send priority 0.
    dies) lab_cut 1; ip netns pids "$(lab_ns 1)" | xargs -r kill -9 ;;
    stop) kill -TERM "$(cat "$work/n1/pid")" ;;
    handover) "$bin/hcctl" --socket "$work/n1/hc.sock" vip handover front >/dev/null ;;
    none) ;;
  esac
  if [ "$case" != none ] && ! wait_holder 2 15; then kill "$ping"; echo fail; lab_down; return; fi
  sleep 1.5
  kill "$ping"
  wait "$ping" 2>/dev/null
  python3 - "$work/ping" <<'PY'
import re, sys
replies = [(float(t), int(q)) for t, q in re.findall(r'^\[(\d+\.\d+)\].*icmp_seq=(\d+)', open(sys.argv[1]).read(), re.M)]
gaps = [b[0] - a[0] for a, b in zip(replies, replies[1:])]
seqs = sorted(set(q for _, q in replies))
print(f"{int(round(max(gaps) * 1000))}:{seqs[-1] - seqs[0] + 1 - len(seqs)}" if gaps else "fail")
PY
  lab_down
}

summary() {  # min / median / max of the numbers given, or "fail" if any failed
  python3 - "$@" <<'PY'
import sys
values = sys.argv[1:]
if not values or any(v == "fail" for v in values): print("fail (" + " ".join(values) + ")"); sys.exit()
v = sorted(int(x.split(":")[0]) for x in values)
lost = [x.split(":")[1] for x in values]
print(f"{v[0]} / {v[len(v) // 2]} / {v[-1]} ms; pings lost per run: {' '.join(lost)}")
PY
}

echo "VRRP failover, client's longest gap pinging the VIP every 10 ms, min / median / max of $repeats runs ($(date -u +%F))"
results=()
for ((r = 0; r < repeats; r++)); do results+=("$(run_case hcagent 0.1 none)"); done
printf '%-10s  %-12s  %-8s: %s\n' "baseline" "no event" "" "$(summary "${results[@]}")"
for advert in 1 0.1; do
  for case in dies stop handover; do
    for impl in hcagent keepalived; do
      [ "$impl" = keepalived ] && [ "$case" = handover ] && { echo "keepalived  advert ${advert}s  $case: not offered"; continue; }
      results=()
      for ((r = 0; r < repeats; r++)); do results+=("$(run_case "$impl" "$advert" "$case")"); done
      printf '%-10s  advert %-4s  %-8s: %s\n' "$impl" "${advert}s" "$case" "$(summary "${results[@]}")"
    done
  done
done
