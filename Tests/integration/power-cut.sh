#!/usr/bin/env bash
# A power cut: five agents on a namespace LAN are killed at once and restarted in a random order with random
# delays (0-5 s), each knowing at most one peer from its agent.yaml (two know none); the cluster must come back
# whole (every agent sees all five alive, runs the highest generation, one VIP holder that all agree on) soon
# after the last start. One board comes back with an empty state_dir under its old name (its SD card replaced),
# and one was cut off when the last generation was applied, so only gossip can bring it up to date.
# ROUNDS (default 3) power cuts in a row; SEED fixes the order and the delays (printed, so a run replays).
# `ROUNDS=10 bash Tests/integration/power-cut.sh` is the benchmark of issue 16 (median of 10).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
LAB_NAME=hpc
LAB_NET=10.70.0
source "$root/scripts/lab.sh"
require_root

bin=${BIN:-$root/.build/release}
rounds=${ROUNDS:-3}
seed=${SEED:-$RANDOM}
RANDOM=$seed
echo "(seed $seed, $rounds rounds: SEED=$seed ROUNDS=$rounds replays the order and the delays)"
work=$(mktemp -d /tmp/hpc.XXXXXX)
cleanup() { lab_down; [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"; }
trap cleanup EXIT

vip=$(lab_ip 250)
lab_up 6  # boards 1-5 run agents; board 6 is a client
head -c 32 /dev/urandom | base64 >"$work/gossip.key"
# Who each board knows from its agent.yaml: n1 and n4 nobody, the others one peer. For the first start n5
# also names n4, so that the five form one cluster; after it only the peers each state_dir keeps lead to n4.
declare -A joins=([1]="" [2]="1" [3]="2" [4]="" [5]="3 4")
for i in 1 2 3 4 5; do
  mkdir -p "$work/n$i"
  peers=""
  for p in ${joins[$i]}; do peers+="${peers:+, }$(lab_ip $p):7964"; done
  cat >"$work/n$i/agent.yaml" <<YAML
node: n$i
bind: $(lab_ip $i):7964
join: [$peers]
socket: $work/n$i/hc.sock
key_file: $work/gossip.key
state_dir: $work/n$i/state
desired: $work/n$i/desired.yaml
metrics: 127.0.0.1:9646
YAML
done
document() {
  cat <<YAML
generation: $1
cluster: hpc
nodes: { n1: [], n2: [], n3: [], n4: [], n5: [] }
vips:
  - { name: front, address: $vip/24, interface: eth0, vrid: 70, advert: 100ms, priority: { default: 100, n1: 150, n2: 140, n3: 130, n4: 120 } }
YAML
}
for i in 1 2 3 4 5; do document 1 >"$work/n$i/desired.yaml"; done

start_agent() { lab_start "$1" "$work/n$1/log" "$bin/hcagent" --config "$work/n$1/agent.yaml" >"$work/n$1/pid"; }
hcctl_on() { local board=$1; shift; timeout 5 "$bin/hcctl" --socket "$work/n$board/hc.sock" "$@"; }
export -f hcctl_on
export bin work
boards() { local i; for i in 1 2 3 4 5; do echo "n$i=$work/n$i/hc.sock=$(lab_ns $i)"; done; }
whole() { python3 "$here/lib/cluster_whole.py" "$1" "$2" "$3" "$vip" $(boards); }

echo "first start"
for i in 1 2 3 4 5; do start_agent $i; done
check "the five agents form one cluster with one VIP holder" whole "$(date +%s%N)" 20 1
# n5's agent.yaml names only n3 from now on: n4 is known to the others by their peers files alone.
sed -i "s|^join: .*|join: [$(lab_ip 3):7964]|" "$work/n5/agent.yaml"
document 2 >"$work/gen2.yaml"
check "generation 2 applied on n2" bash -c "hcctl_on 2 apply $work/gen2.yaml | grep -qx 'generation 2 accepted'"
check "every agent runs generation 2" whole "$(date +%s%N)" 10 2

figures=()
generation=2
for ((round = 1; round <= rounds; round++)); do
  # This round's cut-off board misses the newest generation; its SD-card board loses its state_dir.
  offline=$((RANDOM % 5 + 1))
  replaced=$((RANDOM % 5 + 1))
  applier=$(( offline % 5 + 1 ))
  echo "power cut $round: n$offline misses generation $((generation + 1)); n$replaced comes back with an empty state_dir"
  lab_cut "$offline"
  generation=$((generation + 1))
  document "$generation" >"$work/gen.yaml"
  check "generation $generation applied on n$applier" bash -c "hcctl_on $applier apply $work/gen.yaml | grep -qx 'generation $generation accepted'"
  check "the others run it, n$offline does not" wait_until 10 bash -c "
    for i in 1 2 3 4 5; do
      g=\$(timeout 5 $bin/hcctl --socket $work/n\$i/hc.sock status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"desired\"][\"generation\"])')
      if [ \$i = $offline ]; then [ \$g = $((generation - 1)) ] || exit 1; else [ \$g = $generation ] || exit 1; fi
    done"
  # The cut: every agent at once, as the power goes. What a reboot clears goes too: the VIP on the interface,
  # the sockets in /run. The state_dir (the SD card) stays, but for the board whose card is replaced.
  for i in 1 2 3 4 5; do kill -9 "$(cat "$work/n$i/pid")" 2>/dev/null; done
  for i in 1 2 3 4 5; do
    while kill -0 "$(cat "$work/n$i/pid")" 2>/dev/null; do sleep 0.01; done
    lab_exec $i ip -4 addr del "$vip/24" dev eth0 2>/dev/null
    rm -f "$work/n$i/hc.sock"
  done
  rm -rf "$work/n$replaced/state"
  lab_heal "$offline"
  # Back in a random order, each after a random delay of 0-5 s from the one before it... from the power's
  # return: the delays are from one instant, as boards boot at their own pace.
  order=$(printf '%s\n' 1 2 3 4 5 | while read -r i; do echo "$RANDOM $i"; done | sort -n | cut -d' ' -f2 | tr '\n' ' ')
  delays=()
  for i in $order; do delays+=("$((RANDOM % 5001))"); done
  sorted=($(printf '%s\n' "${delays[@]}" | sort -n))
  echo "  order: $order; starts at ${sorted[*]} ms"
  back=$(date +%s%N)
  k=0
  for i in $order; do
    wait_ns=$((back + sorted[k] * 1000000 - $(date +%s%N)))
    ((wait_ns > 0)) && sleep "$(awk -v n=$wait_ns 'BEGIN { printf "%.3f", n / 1e9 }')"
    start_agent "$i"
    last=$(date +%s%N)
    k=$((k + 1))
  done
  out=$(whole "$last" 20 "$generation")
  ok=$?
  if ((ok == 0)); then figures+=("$out"); echo "  (whole $out ms after the last start)"; fi
  check "round $round: the cluster is whole again (generation $generation everywhere, one VIP holder)" test "$ok" = 0
  ((ok == 0)) || echo "        | $out"
  check "round $round: n$replaced came back under its old name with a new state_dir" test -s "$work/n$replaced/state/peers"
  check "round $round: no agent logged a crash" bash -c "! grep -lE 'Fatal error|fatal error|Trace/breakpoint|Segmentation' $work/n*/log"
done

if ((${#figures[@]} > 0)); then
  median=$(printf '%s\n' "${figures[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}')
  echo "  (whole after the last start: median $median ms of ${#figures[@]}; each: ${figures[*]} ms)"
fi
finish
