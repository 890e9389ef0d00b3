#!/usr/bin/env bash
# Mixed versions (issue 16 item 8): during an upgrade boards run two adjacent versions. Three namespace boards,
# first two on the new binary and one on the old, then one new and two old; one VIP at 100 ms adverts. Checks:
# every board sees every other alive for a while (no flapping: suspect/dead lines counted in the logs), a document
# applied on a new board reaches the old one and one applied on the old board reaches the new ones, a document
# using a key only the new agent knows (secrets:) is refused by the old board with a located message while it keeps
# its last good one, a document whose `requires:` the old agent does not meet is refused with its message, what
# the old board makes of the new boards' push-pull frames once they hold a secret, and one VIP holder with VRRP
# handovers old -> new and new -> old when the holder stops.
# Not in make check: it needs an old build. OLD_BIN: a directory with the old hcagent and hcctl; without it the
# script builds OLD_REV (a7d0970, the evening's 0.2.0) into $CACHE (git archive, `make release`: 10-25 min the
# first time). BIN: the new build (.build/release). STABLE: seconds the membership is watched (20). Needs root.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/Tests/integration/lib/checks.sh"
LAB_NAME=hcmv
LAB_NET=10.89.0
source "$root/scripts/lab.sh"
require_root

new_bin=${BIN:-$root/.build/release}
old_rev=${OLD_REV:-a7d0970}
stable=${STABLE:-20}
if [ -z "${OLD_BIN:-}" ]; then
  cache=${CACHE:-/var/tmp/hcagent-old-$old_rev}
  OLD_BIN=$cache/.build/release
  if [ ! -x "$OLD_BIN/hcagent" ] || [ ! -x "$OLD_BIN/hcctl" ]; then
    echo "OLD_BIN not given: building $old_rev into $cache (make release; 10-15 min on a busy 2-core machine)"
    # A plain copy of the tree at OLD_REV (git archive): no worktree registered in the repository.
    [ -f "$cache/Package.swift" ] || { mkdir -p "$cache" && git -C "$root" archive "$old_rev" | tar -x -C "$cache"; } || exit 1
    # The package checkouts of this tree: no network fetch.
    mkdir -p "$cache/.build"
    for d in checkouts repositories; do [ -d "$cache/.build/$d" ] || cp -a "$root/.build/$d" "$cache/.build/" 2>/dev/null; done
    (cd "$cache" && PATH=/opt/swift/usr/bin:$PATH make release >"$cache/build.log" 2>&1) || { echo "the old build failed: $cache/build.log"; exit 1; }
  fi
fi
for b in "$new_bin" "$OLD_BIN"; do
  [ -x "$b/hcagent" ] && [ -x "$b/hcctl" ] || { echo "no hcagent and hcctl in $b"; exit 1; }
done
echo "new: $new_bin (hcagent $("$new_bin/hcagent" --version 2>/dev/null)); old: $OLD_BIN (hcagent $("$OLD_BIN/hcagent" --version 2>/dev/null))"

work=$(mktemp -d /tmp/hcmv.XXXXXX)
cleanup() { lab_down; [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"; }
trap cleanup EXIT
vip=$(lab_ip 250)
secret_value="mixedver-secret-$RANDOM$RANDOM"

declare -A bin_of kind_of pid_of
ctl() { "${bin_of[$1]}/hcctl" --socket "$work/n$1/hc.sock" "${@:2}"; }
generation_of() {
  local line=""
  read -r line <"$work/n$1/state/desired.yaml" 2>/dev/null
  echo "${line#generation: }"
}
at_generation() { [ "$(generation_of "$1")" = "$2" ]; }
all_at_generation() { local i; for i in 1 2 3; do at_generation "$i" "$1" || return 1; done; }
# sees_all_alive BOARD: its own hcctl lists the three boards alive.
sees_all_alive() {
  ctl "$1" members --json 2>/dev/null | python3 -c '
import json, sys
view = {m["name"]: m["state"] for m in json.load(sys.stdin)}
sys.exit(any(view.get(n) != "alive" for n in ("n1", "n2", "n3")))'
}
everyone_sees_all() { local i; for i in 1 2 3; do [ -n "${pid_of[$i]:-}" ] || continue; sees_all_alive "$i" || return 1; done; }
holds() { lab_exec "$1" ip -4 addr show dev eth0 2>/dev/null | grep -q "inet $vip/"; }
holders() { local i out=""; for i in 1 2 3; do holds "$i" && out+="n$i "; done; echo "${out% }"; }
flaps() { cat "$work"/n*/log | grep -cE 'member n[0-9] .* is (suspect|dead)'; }

# document GENERATION HIGH MIDDLE [EXTRA]: nothing runs (the one unit is in a role no lab board has), one VIP
# with its highest priority on HIGH and the next on MIDDLE; EXTRA is appended as it is.
document() {
  cat <<YAML
generation: $1
cluster: mixed
nodes: { n1: [], n2: [], n3: [], elsewhere: [ghost] }
roles:
  ghost:
    units:
      - { name: ghost-$1.service, state: running, enabled: true }
vips:
  - { name: front, address: $vip/24, interface: eth0, vrid: 71, advert: 100ms, priority: { default: 100, n$2: 150, n$3: 120 } }
${4:-}
YAML
}

start_board() {
  pid_of[$1]=$(lab_start "$1" "$work/n$1/log" "${bin_of[$1]}/hcagent" --config "$work/n$1/agent.yaml")
}
stop_board() {
  kill -TERM "${pid_of[$1]}" 2>/dev/null
  wait_until 10 bash -c "! kill -0 ${pid_of[$1]} 2>/dev/null"
  pid_of[$1]=""
}

# handover FROM TO: FROM, the holder, is stopped (SIGTERM: it advertises priority 0 and keeps the address until
# TO has taken over); TO must hold the VIP alone, never both at once. The time is from the signal until the
# address is on TO only (polled every 10 ms), then FROM must be gone.
handover() {
  local from=$1 to=$2 start took both=0 now
  start=$(date +%s%N)
  kill -TERM "${pid_of[$from]}"
  for ((t = 0; t < 1000; t++)); do
    now=$(holders)
    [ "$now" = "n$from n$to" ] || [ "$now" = "n$to n$from" ] && both=$((both + 1))
    [ "$now" = "n$to" ] && break
    sleep 0.01
  done
  took=$((($(date +%s%N) - start) / 1000000))
  echo "  handover ${kind_of[$from]} n$from -> ${kind_of[$to]} n$to: ${took} ms from SIGTERM until the address is on n$to only ($both samples with both)"
  check "n$from (${kind_of[$from]}) stopped: n$to (${kind_of[$to]}) holds the VIP alone" test "$now" = "n$to"
  # An old master steps down at priority 0; a new one (0.3.0) advertises one below the best other board, which
  # then preempts it: either is a handover, not a timeout.
  check "... logged by n$to as a handover (priority 0, or a step-down below it that it preempts), not a timeout" wait_until 5 \
    grep -aqE "master $(lab_ip "$from") left \(priority 0\)|preempting $(lab_ip "$from"), whose priority" "$work/n$to/log"
  stop_board "$from"
}

# round LABEL KIND1 KIND2 KIND3 (new|old): one cluster, every check.
round() {
  local label=$1 i
  kind_of=([1]=$2 [2]=$3 [3]=$4)
  local new_board="" old_board="" high middle low
  for i in 1 2 3; do
    bin_of[$i]=$([ "${kind_of[$i]}" = new ] && echo "$new_bin" || echo "$OLD_BIN")
    [ "${kind_of[$i]}" = new ] && [ -z "$new_board" ] && new_board=$i
    [ "${kind_of[$i]}" = old ] && [ -z "$old_board" ] && old_board=$i
  done
  # The VIP's order: a new board first when two are new (its stop hands over new -> old, then old -> new), an
  # old one first when two are old (old -> new, then new -> old).
  if [ "$new_board" = 1 ] && [ "$3" = new ]; then high=1 middle=$old_board low=2; else high=$old_board middle=$new_board low=3; fi
  echo
  echo "$label: n1 $2, n2 $3, n3 $4 ($(date -u '+%F %H:%M'), load $(cut -d' ' -f1-3 /proc/loadavg))"
  lab_up 3
  rm -rf "$work"/n* "$work/token"
  head -c 32 /dev/urandom | base64 >"$work/gossip.key"
  echo "$secret_value" >"$work/token"
  for i in 1 2 3; do
    mkdir -p "$work/n$i"
    document 1 "$high" "$middle" >"$work/n$i/desired.yaml"
    printf 'node: n%s\nbind: %s:7964\njoin: [%s:7964, %s:7964]\nkey_file: %s/gossip.key\nsocket: %s/n%s/hc.sock\nstate_dir: %s/n%s/state\ndesired: %s/n%s/desired.yaml\nmetrics: 127.0.0.1:9646\n' \
      "$i" "$(lab_ip "$i")" "$(lab_ip 1)" "$(lab_ip 2)" "$work" "$work" "$i" "$work" "$i" "$work" "$i" >"$work/n$i/agent.yaml"
    start_board "$i"
  done

  check "every board sees the three alive (hcctl members on each, its own hcctl)" wait_until 30 everyone_sees_all
  check "one VIP holder, n$high (priority 150, ${kind_of[$high]})" wait_until 15 bash -c "[ \"\$(holders)\" = n$high ]"
  echo "  n$old_board's (old) view:"
  ctl "$old_board" members 2>&1 | sed 's/^/    /'
  local samples=0 bad=0 holder_bad=0 flaps_before
  flaps_before=$(flaps)
  for ((t = 0; t < stable * 2; t++)); do
    samples=$((samples + 1))
    everyone_sees_all || bad=$((bad + 1))
    [ "$(holders)" = "n$high" ] || holder_bad=$((holder_bad + 1))
    sleep 0.5
  done
  local flapped=$(($(flaps) - flaps_before))
  echo "  ${stable} s watched: $bad of $samples samples with a board not seeing all alive, $holder_bad with other than one holder; suspect/dead lines: $flapped"
  check "no board lost sight of another for $stable s" test "$bad" = 0
  check "no suspect or dead member logged while all run ($flapped)" test "$flapped" = 0
  check "one VIP holder all along" test "$holder_bad" = 0

  echo "  documents"
  document 2 "$high" "$middle" >"$work/g2.yaml"
  ctl "$new_board" apply "$work/g2.yaml" >"$work/apply.out" 2>&1
  check "generation 2 applied on n$new_board (new) reaches all three" wait_until 20 all_at_generation 2
  document 3 "$high" "$middle" >"$work/g3.yaml"
  ctl "$old_board" apply "$work/g3.yaml" >"$work/apply.out" 2>&1
  check "generation 3 applied on n$old_board (old) reaches all three" wait_until 20 all_at_generation 3

  # requires: both builds say 0.2.0, so the old board is asked for a version past both.
  { document 4 "$high" "$middle"; echo 'requires: "0.3"'; } >"$work/g4.yaml"
  ctl "$old_board" apply "$work/g4.yaml" >"$work/apply.out" 2>&1
  echo "  old hcctl apply of requires: \"0.3\": $(head -c 300 "$work/apply.out")"
  check "the old board refuses requires: \"0.3\" with an upgrade message" grep -q 'requires hcagent 0.3 or later' "$work/apply.out"
  sleep 1
  check "... and keeps generation 3" at_generation "$old_board" 3

  # secrets: a key the old agent does not know. Applied on a new board: the new ones take it, the old refuses.
  document 5 "$high" "$middle" "secrets:
  token: { from: n$new_board, file: $work/token }" >"$work/g5.yaml"
  ctl "$new_board" apply "$work/g5.yaml" >"$work/apply.out" 2>&1
  echo "  new hcctl apply of secrets: on n$new_board: $(head -c 200 "$work/apply.out")"
  local news=()
  for i in 1 2 3; do [ "${kind_of[$i]}" = new ] && news+=("$i"); done
  check "the new boards take generation 5 (secrets:)" wait_until 20 bash -c "$(declare -f generation_of at_generation); work=$work; for i in ${news[*]}; do at_generation \$i 5 || exit 1; done"
  check "the old board refuses it (logged)" wait_until 20 grep -aq 'a document from .* was refused' "$work/n$old_board/log"
  echo "  n$old_board's refusal: $(grep -a 'a document from .* was refused' "$work/n$old_board/log" | head -1 | cut -c1-400 | tr -cd '[:print:]')"
  check "... and keeps generation 3" at_generation "$old_board" 3
  sleep 3
  check "the secret's value appears in no log" bash -c "! grep -aq '$secret_value' $work/n1/log $work/n2/log $work/n3/log"
  grep -aq "$secret_value" "$work"/n*/log && grep -al "$secret_value" "$work"/n*/log | sed 's/^/        | in /'

  # A plain document again, applied on a new board while the new boards hold the secret.
  document 6 "$high" "$middle" >"$work/g6.yaml"
  ctl "$new_board" apply "$work/g6.yaml" >"$work/apply.out" 2>&1
  check "generation 6 (no secrets) applied on n$new_board reaches all three" wait_until 20 all_at_generation 6
  local refusals
  refusals=$(grep -ac 'a document from .* was refused' "$work/n$old_board/log")
  echo "  refusals logged by the old board: $refusals"
  for i in 1 2 3; do
    echo "  n$i (${kind_of[$i]}) warnings/errors: $(grep -acE 'warning|error' "$work/n$i/log")"
  done

  echo "  VIP handovers"
  handover "$high" "$middle"
  handover "$middle" "$low"
  start_board "$high"
  check "n$high (${kind_of[$high]}, 150) back: it takes the VIP again (preempt)" wait_until 20 bash -c "[ \"\$(holders)\" = n$high ]"
  for i in 1 2 3; do [ -n "${pid_of[$i]:-}" ] && stop_board "$i"; done
  [ -n "${KEEP_WORK:-}" ] && cp -r "$work" "$work.$label"
}

export -f holds holders lab_exec lab_ns
export vip LAB_NAME
round "two new, one old" new new old
round "one new, two old" new old old
finish
