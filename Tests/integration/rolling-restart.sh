#!/usr/bin/env bash
# hcctl restart UNIT --rolling on three real systemd boards (systemd-nspawn on one namespace LAN, hcagent as
# their systemd unit): one board at a time (each unit's down-to-up interval, from systemd's monotonic
# timestamps, overlaps no other's), the VIP holder last after handing its VIP over, the coordinator's own unit
# included; then a unit that does not come back stops the roll with its board named and the next board
# untouched. hcctl status shows the roll while it runs: on the coordinator, which board now and how many are
# done; on the board being restarted, who asked. (Issue 16, item 2.)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
source "$here/lib/container.sh"
LAB_NAME=hrr
LAB_NET=10.67.0
source "$root/scripts/lab.sh"
source "$here/lib/boards.sh"
require_root

work=$(mktemp -d /tmp/hrr.XXXXXX)
nspawns=()
trap boards_cleanup EXIT
vip=$(lab_ip 250)
started=$SECONDS

lab_up 3
boards_boot hrr 1 2 3 || exit 1
active() { [ "$(on "$1" systemctl show -p ActiveState --value "$2")" = active ]; }
holds() { output_has "inet $vip/" on "$1" ip -4 addr show dev eth0; }
holders() { local b out=""; for b in 1 2 3; do holds $b && out+="b$b "; done; echo "${out% }"; }
only_holder() { local now; now=$(holders); echo "VIP on: ${now:-none}"; [ "$now" = "$1" ]; }
status_field() { on "$1" hcctl status --json | python3 -c "import json,sys; s=json.load(sys.stdin); print($2)"; }
all_alive() { local b; for b in 1 2 3; do test "$(status_field $b "sum(m['state']=='alive' for m in s['members'])")" = 3 || return 1; done; }
all_active() { local b; for b in 1 2 3; do active $b hrr-work.service || return 1; done; }
# The unit's last stop (left active) and start (active again), in the shared kernel's monotonic microseconds.
window() { on "$1" systemctl show -p ActiveExitTimestampMonotonic -p ActiveEnterTimestampMonotonic --value hrr-work.service | tac | paste -sd' '; }
# How many times the VIP became master on any board so far (the agents' journals): each is a move.
takeovers() { local b n=0; for b in 1 2 3; do n=$((n + $(on $b journalctl -u hcagent --no-pager -o cat | grep -c 'VIP front: .* -> master'))); done; echo $n; }
export INIT1 INIT2 INIT3 vip
export -f on active holds holders only_holder status_field all_alive all_active window

for b in 1 2 3; do
  # Starting takes a second, so a restart is seen; /run/hrr-fail makes it fail.
  printf '[Service]\nExecStartPre=/bin/sh -c "sleep 1; test ! -e /run/hrr-fail"\nExecStart=/bin/sleep infinity\n' | on $b sh -c "cat > /etc/systemd/system/hrr-work.service"
  on $b systemctl daemon-reload
  board_agent_config $b "1 2 3"
done
cat <<YAML | on 1 sh -c 'cat > /root/cluster.yaml'
generation: 1
cluster: hrr
nodes: { b1: [work], b2: [work], b3: [work] }
roles:
  work:
    units:
      - { name: hrr-work.service, state: running }
vips:
  - { name: front, address: $vip/24, interface: eth0, vrid: 67, advert: 100ms, priority: { default: 50, b1: 150, b2: 120 } }
YAML
echo "  (3 boards booted in $((SECONDS - started)) s)"

for b in 1 2 3; do on $b systemctl start hcagent.service; done
check "the three agents see each other alive" wait_until 20 all_alive
check "hcctl apply on b1" bash -c "on 1 hcctl apply /root/cluster.yaml | grep -qx 'generation 1 accepted'"
check "hrr-work is active on every board, the VIP on b1" wait_until 20 bash -c "all_active && only_holder b1"
for b in 1 2 3; do declare "BEFORE$b=$(window $b)"; done
takeovers_before=$(takeovers)

echo "rolling restart, typed on b1 (the VIP holder)"
roll_started=$(date +%s%N)
(on 1 hcctl restart hrr-work --rolling --timeout 30 >"$work/roll1.out" 2>&1; echo $? >"$work/roll1.rc") &
# hcctl status on the coordinator (b1) and on the first board asked (b2), sampled while the roll runs.
(while [ ! -s "$work/roll1.rc" ]; do
  on 1 hcctl status 2>/dev/null | grep '^RESTART' >>"$work/status1.txt"
  on 2 hcctl status 2>/dev/null | grep '^RESTART' >>"$work/status2.txt"
  sleep 0.1
done) &
wait_until 90 test -s "$work/roll1.rc" >/dev/null
rc=$(cat "$work/roll1.rc" 2>/dev/null || echo "none: hcctl still runs")
[ $rc = 0 ] || for b in 1 2 3; do echo "  b$b's journal:"; on $b journalctl -u hcagent --no-pager -n 25 | sed 's/^/    /'; done
roll_ms=$((($(date +%s%N) - roll_started) / 1000000))
sed 's/^/    /' "$work/roll1.out"
check "hcctl restart --rolling exits 0" test "$rc" = 0
check "it says the roll is done on b2, b3, b1" grep -qx "restarted hrr-work.service on b2, b3, b1" "$work/roll1.out"
check "b1 said it hands its VIP over first" grep -q "^b1: restarting (hands front over first)" "$work/roll1.out"
for b in 1 2 3; do declare "AFTER$b=$(window $b)"; done
echo "  windows (down up, us): b1 $AFTER1, b2 $AFTER2, b3 $AFTER3"
check "every board's unit was restarted once (a new start time)" bash -c "[ \"$BEFORE1\" != \"$AFTER1\" ] && [ \"$BEFORE2\" != \"$AFTER2\" ] && [ \"$BEFORE3\" != \"$AFTER3\" ]"
# b2, then b3, then b1: each board's unit was up again before the next one went down: never two down at once.
check "never two down at once: b2 up before b3 down, b3 up before b1 down" python3 - "$AFTER2" "$AFTER3" "$AFTER1" <<'PY'
import sys
windows = [tuple(map(int, w.split())) for w in sys.argv[1:]]
print("  down/up (s):", [(round(d / 1e6, 2), round(u / 1e6, 2)) for d, u in windows])
sys.exit(0 if all(windows[i][1] < windows[i + 1][0] for i in range(2)) and all(d < u for d, u in windows) else 1)
PY
check "the VIP went to b3 (the board restarted before b1) and stays held" wait_until 5 only_holder b3
moved=$(($(takeovers) - takeovers_before))
echo "  the holder's handover: the VIP moved $moved time(s)"
check "it moved once (b1 to b3, no other board on the way)" test "$moved" = 1
check "hrr-work active on every board" all_active
sort -u "$work/status1.txt" "$work/status2.txt" 2>/dev/null | sed 's/^/    /'
check "status on b1 showed the roll: b2 now, 0 of 3 done" \
  grep -q "^RESTART  rolling restart of hrr-work (hrr-work.service) coordinated here: now on b2, 0 of 3 done (restart " "$work/status1.txt"
check "then b3 now, 1 of 3 done" grep -q "coordinated here: now on b3, 1 of 3 done" "$work/status1.txt"
check "status on b2 showed it restarting, asked by b1" grep -q "^RESTART  hrr-work.service asked by b1: restarting units (restart " "$work/status2.txt"
check "after the roll, no restart in b1's status" bash -c "! on 1 hcctl status --json | grep -q '\"restart\"'"
echo "  (rolling restart of 3 boards: $roll_ms ms, about $((roll_ms / 3)) ms a board; each start takes 1 s)"

echo "a board whose unit does not come back stops the roll"
# The VIP is on b3 now: it goes last, b1 and b2 first; b2's restart fails, so b3 is never asked.
on 2 touch /run/hrr-fail
before3=$(window 3)
before1=$(window 1)
(on 2 hcctl restart hrr-work --rolling --timeout 20 >"$work/roll2.out" 2>&1; echo $? >"$work/roll2.rc") &
wait_until 90 test -s "$work/roll2.rc" >/dev/null
rc=$(cat "$work/roll2.rc" 2>/dev/null || echo "none: hcctl still runs")
sed 's/^/    /' "$work/roll2.out"
check "hcctl restart exits 1" test "$rc" = 1
check "it names b2 as the failed board and b3 as not restarted" grep -qE "b2 (failed|timed out): .*the roll stops \(not restarted: b3\)" "$work/roll2.out"
check "b1 was restarted first" bash -c "[ \"$before1\" != \"\$(window 1)\" ]"
check "b3 was not restarted" bash -c "[ \"$before3\" = \"\$(window 3)\" ]"
check "the VIP stayed on b3" only_holder b3
on 2 rm -f /run/hrr-fail
on 2 systemctl start hrr-work.service
check "b2's unit is active again" wait_until 10 active 2 hrr-work.service
check "a plain restart (all at once) of the role, asked on b3" bash -c "on 3 hcctl restart work | tail -1 | grep -qx 'restarted hrr-work.service on b1, b2, b3'"

echo "  (test took $((SECONDS - started)) s)"
finish
