#!/usr/bin/env bash
# Upgrading hcagent does not move the VIP: the holder's binary is replaced (cp + mv, as dpkg does) and the agent
# re-executes itself in place (SIGUSR2, what `systemctl reload hcagent` sends), 10 times in a row, while a TCP
# connection through the VIP sends every 20 ms: no VIP move, no reset. Beside it in the same run, Debian's
# keepalived restarted on its master moves its VIP and resets its connection. Last, a broken new binary: the
# backup takes over within the master down interval, as after a crash.
# Boards: n1 hcagent 150 (holder), n2 hcagent 100; n3 keepalived 150 (master), n4 keepalived 100; n5 the client.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
LAB_NAME=hcu
LAB_NET=10.97.0
source "$root/scripts/lab.sh"
require_root

bin=${BIN:-$root/.build/release}
upgrades=${UPGRADES:-10}
work=$(mktemp -d /tmp/hcu.XXXXXX)
cleanup() { lab_down; [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"; }
trap cleanup EXIT

vip=$(lab_ip 250)
kvip=$(lab_ip 251)
echo_py=$here/lib/echo_through_vip.py
lab_up 5
head -c 32 /dev/urandom | base64 >"$work/gossip.key"
# The agents run from a copy that the test replaces, as a package replaces /usr/bin/hcagent.
mkdir -p "$work/bin"
cp "$bin/hcagent" "$work/bin/hcagent"
for i in 1 2; do
  mkdir -p "$work/n$i"
  cat >"$work/n$i/agent.yaml" <<YAML
node: n$i
bind: $(lab_ip $i):7964
join: [$(lab_ip 1):7964]
socket: $work/n$i/hc.sock
key_file: $work/gossip.key
state_dir: $work/n$i/state
desired: $work/desired.yaml
metrics: 127.0.0.1:9646
YAML
done
cat >"$work/desired.yaml" <<YAML
generation: 1
cluster: lab
nodes: { n1: [], n2: [] }
vips:
  - { name: front, address: $vip/24, interface: eth0, vrid: 61, priority: { default: 100, n1: 150 } }
YAML
for i in 3 4; do
  cat >"$work/keepalived-n$i.conf" <<CONF
global_defs {
  vrrp_version 3
}
vrrp_instance kfront {
  state BACKUP
  interface eth0
  virtual_router_id 62
  priority $((i == 3 ? 150 : 100))
  advert_int 0.1
  virtual_ipaddress {
    $kvip/24
  }
}
CONF
done

start_agent() { lab_start "$1" "$work/n$1/log" "$work/bin/hcagent" --config "$work/n$1/agent.yaml" >"$work/n$1/pid"; }
start_keepalived() {
  rm -f "$work"/k$1*.pid
  lab_start "$1" "$work/keepalived-n$1.log" keepalived -f "$work/keepalived-n$1.conf" -p "$work/k$1.pid" -r "$work/k$1v.pid" \
    -c "$work/k$1c.pid" -n -l -D >/dev/null
}
state_of() { "$work/bin/hcctl" --socket "$work/n$1/hc.sock" vip --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["state"])'; }
is_state() { test "$(state_of "$1")" = "$2"; }
holds() { output_has "inet $2/" lab_exec "$1" ip -4 addr show dev eth0; }
keepalived_is() { grep -E 'Entering (MASTER|BACKUP|FAULT) STATE' "$work/keepalived-n$1.log" | tail -1 | grep -q "Entering $2 STATE"; }
# Times a board became master: hcagent's transition lines (resuming after an in-place restart is not a move),
# keepalived's state lines.
agent_takeovers() { grep -c -- '-> master' "$work/n$1/log"; }
agent_moves() { grep -- '-> master' "$work/n$1/log" | grep -vc 'in-place restart'; }
keepalived_takeovers() { grep -c 'Entering MASTER STATE' "$work/keepalived-n$1.log"; }
started_count() { grep -c 'hcagent started' "$work/n$1/log"; }
export -f state_of is_state holds keepalived_is lab_exec lab_ns started_count
export work vip kvip LAB_NAME
cp "$bin/hcctl" "$work/bin/hcctl"

start_agent 1
start_agent 2
start_keepalived 3
start_keepalived 4
for i in 1 2 3 4; do lab_start "$i" "$work/echo-n$i.log" python3 "$echo_py" server 7000 >/dev/null; done

echo "two VIPs, each with its master"
check "hcagent n1 (150) is master of front" wait_until 10 is_state 1 master
check "hcagent n2 (100) is backup" wait_until 5 is_state 2 backup
check "keepalived n3 (150) is master of kfront" wait_until 10 keepalived_is 3 MASTER
check "keepalived n4 (100) is backup" wait_until 5 keepalived_is 4 BACKUP
sleep 1

lab_start_child 5 "$work/client-hc.out" python3 "$echo_py" client "$vip" 7000 "$work/stop" >"$work/client-hc.pid"
lab_start_child 5 "$work/client-ka.out" python3 "$echo_py" client "$kvip" 7000 "$work/stop" >"$work/client-ka.pid"
sleep 1
pid=$(cat "$work/n1/pid")
n2_before=$(agent_takeovers 2)
n1_moves_before=$(agent_moves 1)
n4_before=$(keepalived_takeovers 4)
# n1's adverts as n2 hears them: the longest silence across the upgrades, against n2's master down interval.
lab_start 2 "$work/adverts.txt" tcpdump -n -l -tt -i eth0 "ip proto 112 and src $(lab_ip 1)" >"$work/tcpdump.pid"
sleep 0.5

echo "$upgrades upgrades of the holder's hcagent, $upgrades restarts of keepalived's master, one after the other"
upgraded=0 resumed_ok=0 same_pid=0 new_binary=0
for ((round = 1; round <= upgrades; round++)); do
  # A new file at the same path, as dpkg installs it: written beside it, renamed over it.
  before=$(started_count 1)
  cp "$bin/hcagent" "$work/bin/hcagent.dpkg-new"
  printf 'round %d\n' "$round" >>"$work/bin/hcagent.dpkg-new"  # a different file each time (ELF ignores the tail)
  mv "$work/bin/hcagent.dpkg-new" "$work/bin/hcagent"
  kill -USR2 "$pid"
  if wait_until 10 bash -c "(( \$(started_count 1) > $before ))" && wait_until 5 is_state 1 master; then
    upgraded=$((upgraded + 1))
  fi
  kill -0 "$pid" 2>/dev/null && same_pid=$((same_pid + 1))
  [ "$(stat -L -c %i "/proc/$pid/exe" 2>/dev/null)" = "$(stat -c %i "$work/bin/hcagent")" ] && new_binary=$((new_binary + 1))
  grep -q "front: init -> master: resumed as master after an in-place restart" <(tail -n 50 "$work/n1/log") && resumed_ok=$((resumed_ok + 1))
  sleep 0.5
  # keepalived, as `systemctl restart keepalived` does: stopped (SIGTERM), started again.
  kill -TERM "$(cat "$work/k3.pid")"
  wait_until 5 bash -c "! pgrep -F $work/k3.pid" >/dev/null 2>&1
  cat "$work/keepalived-n3.log" >>"$work/keepalived-n3.earlier.log"
  start_keepalived 3
  wait_until 10 keepalived_is 3 MASTER
  sleep 1
done
touch "$work/stop"
sleep 0.5
wait "$(cat "$work/client-hc.pid")" 2>/dev/null
wait "$(cat "$work/client-ka.pid")" 2>/dev/null

kill "$(cat "$work/tcpdump.pid")" 2>/dev/null
hc_moves=$(( $(agent_takeovers 2) - n2_before + $(agent_moves 1) - n1_moves_before ))
# keepalived: to n4 at each stop, back to n3 (150) at each start.
ka_moves=$(( $(keepalived_takeovers 4) - n4_before + $(cat "$work"/keepalived-n3*.log | grep -c 'Entering MASTER STATE') - 1 ))
longest_gap=$(awk '$2 == "IP" { if (last) { gap = ($1 - last) * 1000; if (gap > max) max = gap } last = $1 } END { printf "%d", max }' "$work/adverts.txt")
hc_line=$(tail -1 "$work/client-hc.out") ka_line=$(tail -1 "$work/client-ka.out")
hc_resets=$(sed -n 's/.*resets=\([0-9]*\).*/\1/p' <<<"$hc_line") ka_resets=$(sed -n 's/.*resets=\([0-9]*\).*/\1/p' <<<"$ka_line")
hc_sent=$(sed -n 's/sent=\([0-9]*\).*/\1/p' <<<"$hc_line")
echo "  hcagent upgraded in place $upgraded/$upgrades times: VIP moves $hc_moves, connection resets ${hc_resets:-?} ($hc_line)"
echo "  keepalived restarted $upgrades times:             VIP moves $ka_moves, connection resets ${ka_resets:-?} ($ka_line)"
echo "  longest silence between n1's adverts across the upgrades: ${longest_gap} ms (n2's master down interval: 361 ms)"
check "every upgrade came up again as master ($upgraded/$upgrades)" test "$upgraded" = "$upgrades"
check "every upgrade resumed the VIP in place ($resumed_ok/$upgrades)" test "$resumed_ok" = "$upgrades"
check "the agent kept its PID ($same_pid/$upgrades)" test "$same_pid" = "$upgrades"
check "the new file runs after each upgrade ($new_binary/$upgrades)" test "$new_binary" = "$upgrades"
check "hcagent's VIP never moved (n2 never master)" test "$hc_moves" = 0
check "n2 is backup" is_state 2 backup
check "the VIP is on n1 only" bash -c "holds 1 $vip && ! holds 2 $vip"
check "the connection through hcagent's VIP carried messages ($hc_sent)" test "${hc_sent:-0}" -gt $((upgrades * 50))
check "no reset of the connection through hcagent's VIP" test "${hc_resets:-x}" = 0
check "keepalived's restarts moved its VIP (the comparison)" test "$ka_moves" -ge 1
check "n1's adverts never paused for n2's master down interval ($longest_gap ms)" test "${longest_gap:-999}" -lt 361
check "no priority 0 left n1 (no handover logged by n2)" bash -c "! grep -q 'left (priority 0)' $work/n2/log"

echo "a broken new binary: the backup takes over as after a crash"
printf '#!/bin/sh\nexit 1\n' >"$work/bin/hcagent.dpkg-new"
chmod +x "$work/bin/hcagent.dpkg-new"
mv "$work/bin/hcagent.dpkg-new" "$work/bin/hcagent"
# Both agents' adverts as the client's board hears them: from n1's last to n2's first is the VIP's real gap.
lab_start 5 "$work/takeover.txt" tcpdump -n -l -tt -i eth0 "ip proto 112 and (src $(lab_ip 1) or src $(lab_ip 2))" >"$work/tcpdump.pid"
sleep 0.5
kill -USR2 "$pid"
check "n2 becomes master (hcctl)" wait_until 5 is_state 2 master
sleep 0.3
kill "$(cat "$work/tcpdump.pid")" 2>/dev/null
took=$(awk -v one="$(lab_ip 1)" -v two="$(lab_ip 2)" '$2 == "IP" && $3 == one { last = $1 }
  $2 == "IP" && $3 == two && last && !first { first = $1 } END { printf "%d", first ? (first - last) * 1000 : -1 }' "$work/takeover.txt")
echo "  n2 advertised as master ${took} ms after n1's last advert (n2's master down interval: 300 ms + skew 61 ms)"
check "the broken agent is gone" bash -c "! kill -0 $pid 2>/dev/null"
check "n2 took over within its master down interval, plus scheduling slack" test "$took" -ge 300 -a "$took" -lt 600
check "n2 took over because no advert came, not by a handover" bash -c "grep -- '-> master' $work/n2/log | tail -1 | grep -q 'master down interval'"
finish
