#!/usr/bin/env bash
# `make demo` as the README gives it: three boards, each its own systemd (nspawn), boot; the cluster forms; the
# demo's units converge on every board, demo-front only on the VIP holder; the guided tour's commands do what it
# says (the front door answers from the holder, drift repaired, generation 2 applied signed, the VIP holder's agent
# killed); the agents talk only to their board's systemd, never this machine's; `make demo-down` from another
# shell ends the waiting `make demo` and leaves no namespace, container, mount or file behind.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
require_root

demo=$root/scripts/demo.sh
out=$(mktemp /tmp/hcdemo-test.XXXXXX) # make demo's output; outside /tmp/hcdemo, which demo-down removes
rc=$out.rc                             # make demo's exit status, once it has returned
vip=10.77.0.250
# Where this machine runs systemd, a canary with a demo unit's name: the demo's agents must never start it.
host_systemd=
[ -d /run/systemd/system ] && host_systemd=yes
cleanup() {
  "$demo" down >/dev/null 2>&1
  rm -f "$out" "$rc" "$out.pid"
  if [ -n "$host_systemd" ]; then rm -f /run/systemd/system/demo-web.service && systemctl daemon-reload; fi
}
trap cleanup EXIT
if [ -n "$host_systemd" ]; then
  printf '[Service]\nExecStart=/bin/sleep infinity\n' >/run/systemd/system/demo-web.service
  systemctl daemon-reload
fi

on() { "$demo" on "$@"; }
prop() { on "$1" systemctl show -p "$3" --value "$2"; } # prop BOARD UNIT PROPERTY
active() { [ "$(prop "$1" "$2" ActiveState)" = active ]; }
running_on() { local b now=""; for b in 1 2 3; do active $b "$1" && now+="b$b "; done; echo "${now% }"; }
runs_only_on() { local now; now=$(running_on "$1"); echo "$1 active on: ${now:-none}"; [ "$now" = "$2" ]; }
vip_state() { on "$1" hcctl vip --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["state"])'; }
is_state() { [ "$(vip_state "$1")" = "$2" ]; }
holders() { local b now=""; for b in 1 2 3; do output_has "inet $vip/" on $b ip -4 addr show dev eth0 && now+="b$b "; done; echo "${now% }"; }
only_holder() { local now; now=$(holders); echo "VIP on: ${now:-none}"; [ "$now" = "$1" ]; }
at_generation_converged() { on "$1" hcctl status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(s["desired"], s.get("convergence"), s["units"])
sys.exit(s["desired"].get("generation") != int(sys.argv[1]) or s.get("convergence") != "converged")' "$2"; }
all_alive() { on "$1" hcctl members --json | python3 -c '
import json, sys
view = {m["name"]: m["state"] for m in json.load(sys.stdin)}
print(view)
sys.exit(any(view.get(n) != "alive" for n in ("b1", "b2", "b3")))'; }
front_answers_from() { local got; got=$(on 3 curl -s -m 1 "http://$vip/"); echo "got: $got"; [ "$got" = "demo-front on $1" ]; }
# This machine's /run (where its system bus socket lives) as device:inode, and an agent's view of /run.
host_run=$(stat -c %d:%i /run)
agents_of_board() { local pid; for pid in $(ip netns pids "hcdemo-n$1"); do [ "$(cat /proc/$pid/comm 2>/dev/null)" = hcagent ] && echo "$pid"; done; }
no_lab_left() { ! ip netns list | grep '^hcdemo-' && ! ip -o link show | grep -E 'hcdemo(br|v)' && ! pgrep -af 'machine=hcdem[o]-b'; }
no_mount_left() { ! grep -E 'hcdemo|nspawn' /proc/self/mountinfo && test ! -e /tmp/hcdemo; }
export demo vip host_run
export -f no_lab_left no_mount_left on prop active running_on runs_only_on vip_state is_state holders only_holder at_generation_converged all_alive \
  front_answers_from agents_of_board

echo "make demo, waiting as a person would run it"
started=$SECONDS
(cd "$root" && make -s demo >"$out" 2>&1; echo $? >"$rc") &
wait_until 900 bash -c "grep -q 'Stop it with Ctrl-C' $out || test -e $rc"
echo "  (make demo to its tour: $((SECONDS - started)) s; $(grep -o 'up in [0-9]* s (booted in [0-9]* s)' "$out") of that)"
check "make demo prints the guided tour and waits" bash -c "cat $out; grep -q 'Stop it with Ctrl-C' $out && test ! -e $rc"
check "its first hcctl status shows generation 1 in force and b1's demo-web converged" bash -c "
  sed -n '/^# scripts.demo.sh on 1 hcctl status/,/^A guided tour/p' $out | tee /dev/stderr |
    grep -E '^desired +generation 1 |demo-web.service +running +active +converged' | wc -l | grep -qx 2"
check "the tour names the commands to type" bash -c "for c in 'scripts/demo.sh on 1 systemctl kill --kill-who=main -s KILL hcagent' \
  'scripts/demo.sh on 3 systemctl stop demo-web' 'scripts/demo.sh on 1 hcctl apply /root/desired-gen2.yaml' \
  'scripts/demo.sh on 2 hcctl members'; do grep -qF \"\$c\" $out || { echo \"missing: \$c\"; exit 1; }; done"

echo "three boards, each its own systemd"
for b in 1 2 3; do
  check "b$b: its systemd booted and runs hcagent as a unit" bash -c "
    [[ \$(on $b systemctl is-system-running) =~ ^(running|degraded)\$ ]] && test \"\$(on $b systemctl is-active hcagent.service)\" = active"
done
check "the cluster formed: every board sees b1, b2 and b3 alive" wait_until 10 bash -c 'all_alive 1 && all_alive 2 && all_alive 3'
for b in 1 2 3; do
  check "b$b: converged at generation 1, demo-web running and enabled" wait_until 20 bash -c "
    at_generation_converged $b 1 && active $b demo-web.service && test \"\$(on $b systemctl is-enabled demo-web.service)\" = enabled"
done
check "b1 (priority 150) is VRRP master and holds the VIP alone" bash -c 'is_state 1 master && only_holder b1'
check "demo-front (vip:front) runs on b1 only" runs_only_on demo-front.service b1
check "demo-backup (placement: one) runs on exactly one board (after the takeover delay, 8 s at 3 boards)" wait_until 15 bash -c 'n=$(running_on demo-backup.service); echo "on: $n"; test $(wc -w <<<"$n") = 1'
check "the front door answers from b1 (tour step 2)" front_answers_from b1

echo "the agents reach only their own board's systemd"
for b in 1 2 3; do
  check "b$b: exactly one hcagent on the board, and its /run is the board's, not this machine's" bash -c "
    pids=\$(agents_of_board $b); echo \"agents: \$pids\"; test \$(wc -w <<<\"\$pids\") = 1 &&
    test \"\$(stat -L -c %d:%i /proc/\$pids/root/run)\" != \"\$host_run\""
  check "b$b: the board's own system bus has hcagent as a client" bash -c "on $b busctl list --no-pager | awk '\$3 == \"hcagent\"' | grep -q ."
done
if [ -n "$host_systemd" ]; then
  check "this machine's canary demo-web.service was never started" bash -c '
    test "$(systemctl is-active demo-web.service)" = inactive && test -z "$(systemctl show -p InvocationID --value demo-web.service)"'
else
  echo "  skip  this machine's canary unit (this machine runs no systemd: the demo's agents could reach none)"
fi

echo "the tour, step by step"
tour_seen=$SECONDS
on 3 systemctl stop demo-web
check "4: demo-web stopped by hand on b3 runs again" wait_until 5 active 3 demo-web.service
check "4: b3's agent log says it started it" bash -c "on 3 journalctl -u hcagent -n 20 --no-pager -o cat | grep -i 'demo-web' | tail -2 | tee /dev/stderr | grep -q ."
check "b2 (no admin key there) cannot apply: every board takes only documents signed with the admin key" bash -c "
  said=\$(on 2 hcctl apply /root/desired-gen2.yaml 2>&1); rc=\$?; echo \"\$said\"; test \$rc != 0 && grep -qi 'sign' <<<\"\$said\" && at_generation_converged 2 1"
check "5: hcctl apply on b1 accepts generation 2" bash -c "on 1 hcctl apply /root/desired-gen2.yaml | tee /dev/stderr | grep -qx 'generation 2 accepted'"
check "5: every board converges at generation 2, demo-cache running" wait_until 15 bash -c '
  for b in 1 2 3; do at_generation_converged $b 2 && active $b demo-cache.service || exit 1; done'
# b1's restarted agent may take the VIP back only after preempt_delay (10 s), counted from when it took the document.
sleep $((tour_seen + 11 - SECONDS > 0 ? tour_seen + 11 - SECONDS : 0))
check "3: the tour's command kills b1's agent, and says nothing" bash -c '
  said=$(on 1 systemctl kill --kill-who=main -s KILL hcagent 2>&1); echo "$said"; test -z "$said"'
check "3: b1's agent killed: b2 becomes master, demo-front runs on b2 only" wait_until 10 bash -c 'is_state 2 master && runs_only_on demo-front.service b2'
check "3: the front door answers from b2" wait_until 5 front_answers_from b2
check "3: systemd restarted b1's agent, which takes the VIP back after its preempt_delay" wait_until 25 bash -c '
  is_state 1 master && runs_only_on demo-front.service b1 && only_holder b1 && front_answers_from b1'

echo "make demo-down from another shell"
check "make demo-down stops the demo" bash -c "cd $root && make -s demo-down | tee /dev/stderr | grep -q 'demo stopped'"
check "the waiting make demo returned with status 0" wait_until 5 bash -c "tail -3 $out; test \"\$(cat $rc)\" = 0 && tail -1 $out | grep -qx 'demo stopped'"
check "no namespace, link or container left" no_lab_left
check "no mount and no file left" no_mount_left
check "scripts/demo.sh on a board of no demo says so and fails" bash -c "
  said=\$($demo on 1 true 2>&1); rc=\$?; echo \"\$said\"; test \$rc != 0 && grep -q 'board 1 is not running' <<<\"\$said\""

echo "Ctrl-C on a waiting demo"
# As a terminal does it: SIGINT to the demo's whole process group (a background job of this script would ignore
# SIGINT, so python3 restores it and makes the group before it execs the demo).
rm -f "$rc"
(python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setpgid(0, 0)
open(sys.argv[1], "w").write(str(os.getpid()))
os.execvp(sys.argv[2], sys.argv[2:])' "$out.pid" env HCDEMO_BUILT=yes "$demo" up >"$out" 2>&1; echo $? >"$rc") &
wait_until 300 bash -c "grep -q 'Stop it with Ctrl-C' $out || test -e $rc"
check "the demo is up again and waits" bash -c "tail -2 $out; grep -q 'Stop it with Ctrl-C' $out && test ! -e $rc"
kill -INT -- "-$(cat "$out.pid")"
check "Ctrl-C ends it with status 0" wait_until 30 bash -c "tail -3 $out; test \"\$(cat $rc)\" = 0 && tail -1 $out | grep -qx 'demo stopped'"
check "no namespace, link or container left" no_lab_left
check "no mount and no file left" no_mount_left
rm -f "$out.pid"

if [ -n "$host_systemd" ]; then
  check "this machine's canary demo-web.service is still untouched" test "$(systemctl is-active demo-web.service)" = inactive
fi

echo "  (test took $((SECONDS - started)) s)"
finish
