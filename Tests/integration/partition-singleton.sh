#!/usr/bin/env bash
# Five boards, each a real systemd (systemd-nspawn) on one namespace LAN running the installed hcagent, and a
# `placement: one` unit. nftables splits the LAN 2 | 3 with the unit's holder on the two-board side: that side
# stops the unit (it no longer sees a majority of the role alive), the three-board side starts it only after
# (it waits the takeover delay once it has declared the holder dead), and, sampled every 200 ms from before
# the split until after the heal, no two boards ever run it at once; after the heal the holder takes it back
# (placement's pick with all five alive) and runs it alone. The split lasts until every board reports the unit
# converged and 5 s more (SPLIT_SECONDS=N: at least N s instead).
# Two runs here (2026-12-06, 2 shared cores): 5 boards booted in 219-271 s, the test took 303-353 s; the
# minority stopped the unit 7.9 / 10.0 s after the split, the majority started it 14.4 / 14.5 s after.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
source "$here/lib/container.sh"
LAB_NAME=hcs
LAB_NET=10.91.0
source "$root/scripts/lab.sh"
source "$here/lib/boards.sh"
require_root

boards=(1 2 3 4 5)
unit=hcs-singleton.service
split_for=${SPLIT_SECONDS:-0}
work=$(mktemp -d /tmp/hcs-partition.XXXXXX)
nspawns=()
sampler=
cleanup() {
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
  containers_stop
  lab_down
  [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
started=$SECONDS

lab_up 5
boards_boot hcs "${boards[@]}" || exit 1
echo "  (5 boards booted in $((SECONDS - started)) s)"
prop() { on "$1" systemctl show -p "$3" --value "$2"; }
# Each board's copy of the unit sleeps a number ending in the board's own, so one pgrep on the host sees, in
# a few milliseconds, which boards run it (five nsenter + systemctl would take most of a 200 ms sample).
marker=7337000
runs_here() { pgrep -f "^/bin/sleep ${marker}$1\$" >/dev/null; }
# The boards whose unit has a process now, e.g. "b1 b4".
running_on() { pgrep -af "^/bin/sleep ${marker}[1-5]\$" | awk '{ print "b" substr($3, length($3)) }' | sort -u | xargs; }
systemd_says() { local b out=""; for b in 1 2 3 4 5; do [ "$(prop $b $unit ActiveState)" = active ] && out+="b$b "; done; echo "${out% }"; }
exactly_one() { local now; now=$(running_on); echo "$unit runs on: ${now:-none}"; [ $(wc -w <<<"$now") = 1 ]; }
all_alive() {
  local b
  for b in "${boards[@]}"; do
    on $b hcctl members --json | python3 -c '
import json, sys
view = {m["name"]: m["state"] for m in json.load(sys.stdin)}
print(view)
sys.exit(any(view.get("b%d" % n) != "alive" for n in range(1, 6)))' || return 1
  done
}
all_converged() { converged_on "$unit" 1 2 3 4 5; }
unit_reason() { on "$1" hcctl status --json | python3 -c 'import json,sys; u={x["name"]:x for x in json.load(sys.stdin)["units"]}; print(u[sys.argv[1]].get("reason") or "")' "$unit"; }
export INIT1 INIT2 INIT3 INIT4 INIT5 unit marker
export -f on prop runs_here running_on systemd_says exactly_one all_alive all_converged unit_reason

for b in "${boards[@]}"; do
  printf '[Service]\nExecStart=/bin/sleep %s\n' "$marker$b" | on $b sh -c "cat > /etc/systemd/system/$unit"
  on $b systemctl daemon-reload
  board_agent_config $b "${boards[*]}"
done
cat <<YAML | on 1 sh -c 'cat > /root/cluster.yaml'
generation: 1
cluster: hcs
nodes: { b1: [db], b2: [db], b3: [db], b4: [db], b5: [db] }
roles:
  db:
    units:
      - { name: $unit, state: running, placement: one }
YAML

echo "five boards, one role, one placement: one unit"
for b in "${boards[@]}"; do on $b systemctl start hcagent.service; done
check "the five agents see each other alive by gossip" wait_until 30 all_alive
applied_ns=$(date +%s%N)
check "hcctl apply on b1 accepts generation 1" bash -c "on 1 hcctl apply /root/cluster.yaml | grep -qx 'generation 1 accepted'"
check "the unit runs on exactly one board (after the takeover delay)" wait_until 40 exactly_one
echo "  (apply to the unit running: $((($(date +%s%N) - applied_ns) / 1000000)) ms)"
check "... and stays on one board" bash -c 'sleep 3; exactly_one'
check "the host's view of who runs it agrees with systemd's on each board" bash -c 'a=$(running_on); b=$(systemd_says); echo "host: $a, systemd: $b"; test "$a" = "$b"'
holder=$(running_on); holder=${holder#b}
partner=$((holder % 5 + 1))
minority=("$holder" "$partner")
majority=()
for b in "${boards[@]}"; do [ "$b" != "$holder" ] && [ "$b" != "$partner" ] && majority+=("$b"); done
echo "  (holder b$holder; split: b$holder b$partner | ${majority[*]/#/b})"

# Every 200 ms: the time (ms) and the boards that run the unit. One pgrep a sample and no other process (the
# pause is a read that times out), so that a loaded machine still samples close to every 200 ms.
samples=$work/samples
sample() {
  local t line out pause now wait
  exec {pause}<> <(:)
  while :; do
    t=${EPOCHREALTIME/./}
    out=""
    while read -r line; do out+=" b${line: -1}"; done < <(pgrep -af "^/bin/sleep ${marker}[1-5]\$")
    echo "$((t / 1000))$out" >>"$samples"
    now=${EPOCHREALTIME/./}
    if ((t + 200000 > now)); then printf -v wait '0.%06d' $((t + 200000 - now)); read -t "$wait" -u $pause; fi
  done
}
sample &
sampler=$!
wait_until 10 test -s "$samples"

# The split: each board drops everything from and to the other side's addresses (LAB.md's nftables way).
cut_off() {  # cut_off BOARD OTHER...
  local b=$1 other addrs=""
  shift
  for other in "$@"; do addrs+="$(lab_ip $other), "; done
  lab_exec $b nft add table inet split
  lab_exec $b nft add chain inet split in '{ type filter hook input priority 0; }'
  lab_exec $b nft add chain inet split out '{ type filter hook output priority 0; }'
  lab_exec $b nft add rule inet split in ip saddr "{ ${addrs%, } }" drop
  lab_exec $b nft add rule inet split out ip daddr "{ ${addrs%, } }" drop
}
split_ms=$((${EPOCHREALTIME/./} / 1000))
for b in "${minority[@]}"; do cut_off $b "${majority[@]}"; done
for b in "${majority[@]}"; do cut_off $b "${minority[@]}"; done
echo "split 2 | 3"
majority_runs() { local b; for b in "${majority[@]}"; do runs_here $b && return 0; done; return 1; }
export -f majority_runs
export majority_list="${majority[*]}"
check "the minority (b$holder) stops the unit" wait_until 40 bash -c "! runs_here $holder"
stopped_ms=$((${EPOCHREALTIME/./} / 1000 - split_ms))
check "a majority board starts it" wait_until 40 bash -c "for b in $majority_list; do runs_here \$b && exit 0; done; exit 1"
started_ms=$((${EPOCHREALTIME/./} / 1000 - split_ms))
check "b$holder says why: no majority of its role" bash -c "unit_reason $holder | tee /dev/stderr | grep -q 'no majority of role db'"
check "b$partner (minority) never starts it" bash -c "! runs_here $partner"
# Once a majority board runs it, placement's pick on that side no longer changes (a node declared dead later
# was not the pick). The split then lasts until every board says so, and 5 s more.
check "every board reports the unit converged (the minority stopped, the majority's runner started)" wait_until 60 all_converged
settled_ms=$((${EPOCHREALTIME/./} / 1000 - split_ms))
remaining=$((split_for - settled_ms / 1000 - 5))
sleep $((remaining > 0 ? 5 + remaining : 5))
check "during the split it runs on exactly one majority board" bash -c 'exactly_one && ! runs_here '"$holder"' && ! runs_here '"$partner"
echo "  (split for $(((${EPOCHREALTIME/./} / 1000 - split_ms) / 1000)) s, converged everywhere by ${settled_ms} ms)"

echo "heal"
heal_ms=$((${EPOCHREALTIME/./} / 1000))
for b in "${boards[@]}"; do lab_exec $b nft delete table inet split; done
check "all five see each other alive again" wait_until 60 all_alive
# b$holder, placement's pick with all five alive, takes it back once it has waited the takeover delay.
check "after the heal the unit moves back to b$holder and runs there alone (every board converged)" wait_until 60 bash -c "exactly_one && runs_here $holder && all_converged"
echo "  (back on b$holder $((${EPOCHREALTIME/./} / 1000 - heal_ms)) ms after the heal)"
check "... and 3 s later still there alone" bash -c "sleep 3; exactly_one && runs_here $holder"
kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null; sampler=

# The samples: never two at once; when the minority stopped and the majority started, from the samples.
report=$(python3 - "$samples" "$split_ms" "$heal_ms" "$holder" "${majority[*]}" <<'PY'
import sys
path, split, heal, holder, majority = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), "b" + sys.argv[4], ["b" + m for m in sys.argv[5].split()]
rows = [(int(line.split()[0]), line.split()[1:]) for line in open(path) if line.strip()]
doubles = [(t - split, r) for t, r in rows if len(r) > 1]
stopped = next((t - split for t, r in rows if t >= split and holder not in r), None)
started = next((t - split for t, r in rows if t >= split and any(m in r for m in majority)), None)
after = [r for t, r in rows if t >= heal]
gaps, run = [], None
for t, r in rows:
    if t >= heal and not r: run = run if run is not None else t
    elif run is not None: gaps.append(t - run); run = None
intervals = [b[0] - a[0] for a, b in zip(rows, rows[1:])]
print(f"samples {len(rows)}, every {sorted(intervals)[len(intervals)//2]} ms median, {max(intervals)} ms at most")
print(f"twice at once: {len(doubles)} samples {doubles[:5]}")
print(f"minority stopped {stopped} ms after the split, majority started {started} ms after")
print(f"after the heal: nobody ran it for {max(gaps) if gaps else 0} ms at most; last sample: {after[-1] if after else None}")
sys.exit(1 if doubles or stopped is None or started is None or stopped >= started else 0)
PY
)
sampled=$?
echo "$report" | sed 's/^/  (/; s/$/)/'
check "sampled every ~200 ms, never did two boards run the unit at once, and the minority stopped first" test $sampled = 0
echo "  (polled: minority stopped by ${stopped_ms} ms, majority started by ${started_ms} ms after the split)"
check "the agents' logs say who stopped and who started" bash -c "
  on $holder journalctl -u hcagent.service --no-pager -o cat | grep -q 'stopping $unit' &&
  for b in $majority_list; do on \$b journalctl -u hcagent.service --no-pager -o cat | grep -q 'starting $unit' && exit 0; done; exit 1"

echo "  (test took $((SECONDS - started)) s)"
finish
