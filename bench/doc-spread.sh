#!/usr/bin/env bash
# How fast an applied document reaches every board: 3 boards gossip; `hcctl apply` on board 1 of documents of
# about 10 KB, 100 KB and 250 KB (units of a role no board has, so nothing starts); the time from the apply's
# start until every board has accepted the new generation (the copy each keeps in state_dir, polled every
# 5 ms); in brackets, how long hcctl apply itself took. Needs root and
# `make release`. REPEATS (3) per size.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
LAB_NAME=hcs
LAB_NET=10.85.0
source "$root/scripts/lab.sh"
bin=${BIN:-$root/.build/release}
work=$(mktemp -d /tmp/hcds.XXXXXX)
trap 'lab_down; rm -rf "$work"' EXIT
repeats=${REPEATS:-3}

# document GENERATION UNITS: a document with that many units in the role "ghost", which no lab board has.
document() {
  printf 'generation: %s\ncluster: bench\nnodes: { n1: [], n2: [], n3: [], elsewhere: [ghost] }\nroles:\n  ghost:\n    units:\n' "$1"
  for ((u = 0; u < $2; u++)); do
    printf '      - { name: ghost-service-number-%05d-with-a-long-name.service, state: running, enabled: true }\n' "$u"
  done
}
# The generation a board has accepted: the first line of the copy it keeps in state_dir (written on acceptance).
generation_of() {
  local line=""
  read -r line <"$work/n$1/state/desired.yaml" 2>/dev/null
  echo "${line#generation: }"
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

head -c 32 /dev/urandom | base64 >"$work/gossip.key"
lab_up 3
document 1 0 >"$work/desired.yaml"
for i in 1 2 3; do
  mkdir -p "$work/n$i"
  printf 'node: n%s\nbind: %s:7964\njoin: [%s:7964]\nkey_file: %s/gossip.key\nsocket: %s/n%s/hc.sock\nstate_dir: %s/n%s/state\ndesired: %s/desired.yaml\nmetrics: 127.0.0.1:9646\n' \
    "$i" "$(lab_ip "$i")" "$(lab_ip 1)" "$work" "$work" "$i" "$work" "$i" "$work" >"$work/n$i/agent.yaml"
  lab_start "$i" "$work/n$i/log" "$bin/hcagent" --config "$work/n$i/agent.yaml" >/dev/null
done
sleep 3
echo "A document applied on board 1 until all 3 boards run it ($(date -u '+%F %H:%M'), load $(cut -d' ' -f1-3 /proc/loadavg))"
generation=1
for units in ${SIZES:-100 1000 2400}; do
  times=()
  for ((r = 0; r < repeats; r++)); do
    generation=$((generation + 1))
    document "$generation" "$units" >"$work/next.yaml"
    size=$(stat -c %s "$work/next.yaml")
    start=$(now_ms)
    "$bin/hcctl" --socket "$work/n1/hc.sock" apply "$work/next.yaml" >/dev/null || { echo "apply of $size bytes failed"; continue; }
    applied=$(($(now_ms) - start))
    for ((t = 0; t < 2000; t++)); do
      done_all=yes
      for i in 1 2 3; do [ "$(generation_of "$i")" -ge "$generation" ] 2>/dev/null || { done_all=no; break; }; done
      [ "$done_all" = yes ] && break
      sleep 0.005
    done
    [ "$done_all" = yes ] && times+=("$(($(now_ms) - start))($applied)") || times+=(timeout)
    sleep 1
  done
  echo "  $units units, $size bytes: ${times[*]} ms"
done
