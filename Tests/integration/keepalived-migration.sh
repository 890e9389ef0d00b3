#!/usr/bin/env bash
# A house moves off keepalived one board at a time, as README's "Replacing keepalived" says: three boards run
# Debian's keepalived (priorities 150/120/100, adverts 0.1 s); `hcctl import keepalived` turns their three
# keepalived.conf into the document; each board's keepalived is stopped and hcagent started in its place, the
# backups first, while a client pings the VIP every 10 ms. Counted: the VIP's moves per replaced board and the
# client's longest gap.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
LAB_NAME=hkm
LAB_NET=10.71.0
source "$root/scripts/lab.sh"
require_root

bin=${BIN:-$root/.build/release}
work=$(mktemp -d /tmp/hkm.XXXXXX)
cleanup() { kill "$(cat "$work/sampler.pid" 2>/dev/null)" 2>/dev/null; lab_down; [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"; }
trap cleanup EXIT

vip=$(lab_ip 250)
lab_up 4  # boards 1-3 are the house; board 4 is a client
head -c 32 /dev/urandom | base64 >"$work/gossip.key"
declare -A priority=([1]=150 [2]=120 [3]=100)
for i in 1 2 3; do
  mkdir -p "$work/n$i"
  # As a house writes it: a check script, a sync group, a notify script; the import warns of what it drops.
  cat >"$work/n$i/keepalived.conf" <<CONF
global_defs {
  vrrp_version 3
  router_id n$i
}
vrrp_script chk_sshd {
  script "/bin/true"
  interval 2
  weight -20
}
vrrp_instance front {
  state $( ((i == 1)) && echo MASTER || echo BACKUP)
  interface eth0
  virtual_router_id 71
  priority ${priority[$i]}
  advert_int 0.1
  virtual_ipaddress {
    $vip/24
  }
  track_script {
    chk_sshd
  }
}
CONF
  cat >"$work/n$i/agent.yaml" <<YAML
node: n$i
bind: $(lab_ip $i):7964
join: [$(lab_ip 1):7964, $(lab_ip 2):7964, $(lab_ip 3):7964]
socket: $work/n$i/hc.sock
key_file: $work/gossip.key
state_dir: $work/n$i/state
desired: $work/desired.yaml
metrics: 127.0.0.1:9646
YAML
done
start_keepalived() {
  lab_start "$1" "$work/n$1/keepalived.log" keepalived -f "$work/n$1/keepalived.conf" -p "$work/n$1/k.pid" \
    -r "$work/n$1/kv.pid" -c "$work/n$1/kc.pid" -n -l -D >/dev/null
}
# keepalived's own stop: SIGTERM, and wait until it has exited (it sends its priority-0 advert on the way).
stop_keepalived() {
  local pid
  pid=$(cat "$work/n$1/k.pid")
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
}
keepalived_is() { grep -E 'Entering (MASTER|BACKUP|FAULT) STATE' "$work/n$1/keepalived.log" | tail -1 | grep -q "Entering $2 STATE"; }
start_agent() { lab_start "$1" "$work/n$1/log" "$bin/hcagent" --config "$work/n$1/agent.yaml" >"$work/n$1/pid"; }
source "$here/lib/vrrp.sh"
export -f keepalived_is
source "$here/lib/ping.sh"
# Where the VIP is, every 20 ms, into $work/holders: a move is a change of the one board that holds it.
sampler_start() {
  (while :; do echo "$(date +%s%N) $(holders)"; sleep 0.02; done) >"$work/holders" 2>/dev/null &
  echo $! >"$work/sampler.pid"
}
# moves FROM_NS: how many times the VIP changed hands since that instant (an overlap "n1 n2" is not a hand).
moves() {
  awk -v from="$1" '$1 >= from && NF == 2 { if (last != "" && $2 != last) n++; last = $2 } END { print n + 0 }' "$work/holders"
}
export -f moves

echo "a house on keepalived"
for i in 1 2 3; do start_keepalived $i; done
check "keepalived n1 (150) is master, n2 and n3 backup" wait_until 10 bash -c "keepalived_is 1 MASTER && keepalived_is 2 BACKUP && keepalived_is 3 BACKUP"
check "the VIP is on n1 only" wait_until 3 only_holder n1

echo "hcctl import keepalived"
"$bin/hcctl" import keepalived n1="$work/n1/keepalived.conf" n2="$work/n2/keepalived.conf" n3="$work/n3/keepalived.conf" \
  >"$work/imported.yaml" 2>"$work/import-warnings"
imported=$?
cat "$work/imported.yaml" | sed 's/^/    /'
sed 's/^/    /' "$work/import-warnings"
check "the import succeeds" test "$imported" = 0
check "it keeps each board's priority and the advert interval" bash -c "grep -q 'priority: { default: 100, n1: 150, n2: 120, n3: 100 }' $work/imported.yaml && grep -q 'advert: 100ms' $work/imported.yaml"
{ printf 'generation: 1\ncluster: house\nnodes: { n1: [], n2: [], n3: [] }\n'; cat "$work/imported.yaml"; } >"$work/desired.yaml"
check "hcagent --check accepts the document" "$bin/hcagent" --config "$work/n1/agent.yaml" --check

echo "one board at a time, the backups first"
sampler_start
ping_start
for i in 3 2; do
  before=$(date +%s%N)
  stop_keepalived $i
  start_agent $i
  check "n$i: hcagent runs as backup in keepalived's place" wait_until 10 is_state $i backup
  sleep 1
  check "n$i: the VIP did not move (still on keepalived's n1)" bash -c "only_holder n1 && test \$(moves $before) = 0"
done
read -r gap lost _ < <(ping_stop)
echo "  (replacing the two backups: longest gap $gap ms, $lost pings lost)"
check "no ping lost while the backups were replaced" test "$lost" = 0
check "the two hcagent boards see each other by gossip" bash -c "$bin/hcctl --socket $work/n2/hc.sock members --json | grep -q '\"n3\"'"

echo "the master board: its keepalived stops (the VIP goes to hcagent n2), then hcagent starts there"
before=$(date +%s%N)
ping_start
stop_keepalived 1
check "n2 (hcagent, 120) takes the VIP at keepalived's stop" wait_until 5 is_state 2 master
sleep 0.5
read -r gap lost _ < <(ping_stop)
echo "  (keepalived's stop on the master: longest gap $gap ms, $lost pings lost; that is keepalived's priority-0 advert and n2's skew time)"
check "keepalived's stop cost under 1 s" test "$gap" -lt 1000
ping_start
start_agent 1
check "n1's hcagent (150) takes it back" wait_until 10 is_state 1 master
sleep 1
read -r gap lost _ < <(ping_stop)
echo "  (n1's hcagent preempting n2: longest gap $gap ms, $lost pings lost)"
check "n1's preemption lost no ping (make before break)" test "$lost" = 0
check "the VIP is on n1 only" only_holder n1
master_moves=$(moves "$before")
echo "  (the master board's replacement moved the VIP $master_moves times: at keepalived's stop, and back at hcagent's preemption)"
check "the master board's replacement moved the VIP twice at most (to n2 and back)" test "$master_moves" -le 2
finish
