#!/usr/bin/env bash
# A house moves off keepalived one board at a time, as README's "Replacing keepalived" says: three boards run
# Debian's keepalived (priorities 150/120/100, adverts 0.1 s); `hcctl import keepalived` turns their three
# keepalived.conf into the document; each board's keepalived is stopped and hcagent started in its place, the
# backups first; on the master board, hcagent (another board, ranked above keepalived's master by a new document)
# takes the VIP first and keepalived stops only then. A client pings the VIP every 10 ms. Counted per replaced
# board: the VIP's moves (as the holders and the client's ARP entry see them: at most one), lost pings (none) and
# the client's longest gap.
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
cleanup() { moves_stop 2>/dev/null; lab_down; [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"; }
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
source "$here/lib/moves.sh"
# The issue's rule: no gap over 30 ms. Where the VIP is, `ip monitor` says to the ms: the longest time no board
# held it must be within 30 ms (make before break: 0). The client's longest gap between replies also counts the
# lab's own scheduling (replies 16-28 ms apart when idle, 40-60 ms while a loaded machine starts an agent beside),
# so it must be within 30 ms or within this run's quiet longest gap (measured first, nothing moving) twice plus
# 20 ms; and no ping may be lost.
# step_report NAME BEFORE_NS: the client's view of one step: pings lost, longest gap, moves (holders' and client's).
step_report() {
  read -r gap lost sent < <(ping_stop)
  read -r holder_moves mac_moves unheld < <(vip_moves "$2")
  echo "  ($1: VIP moves $holder_moves (the client's ARP: $mac_moves), held by no board for $unheld ms, longest gap $gap ms, $lost of $((sent + lost)) pings lost)"
  echo "$1 | $holder_moves | $mac_moves | $unheld | $gap | $lost" >>"$work/steps"
}

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
# document GENERATION [SED]: the imported VIPs under a header, SED applied, put in place at once (rename).
document() {
  { printf 'generation: %s\ncluster: house\nnodes: { n1: [], n2: [], n3: [] }\n' "$1"; sed "${2:-}" "$work/imported.yaml"; } >"$work/desired.new"
  mv "$work/desired.new" "$work/desired.yaml"
}
document 1
check "hcagent --check accepts the document" "$bin/hcagent" --config "$work/n1/agent.yaml" --check

moves_start
ping_start
sleep 1.5
read -r quiet_gap lost _ < <(ping_stop)
echo "  (nothing moving: longest gap $quiet_gap ms, $lost pings lost: the lab's own spacing)"

echo "the backups first, lowest priority first: keepalived stopped, hcagent started in its place"
for i in 3 2; do
  before=$(date +%s%N)
  ping_start
  stop_keepalived $i
  start_agent $i
  check "n$i: hcagent runs as backup in keepalived's place" wait_until 10 is_state $i backup
  sleep 1
  step_report "n$i replaced" "$before"
  check "n$i: the VIP did not move (still on keepalived's n1), no ping lost" \
    bash -c "only_holder n1 && test $holder_moves = 0 && test $mac_moves = 0 && test $lost = 0"
  check "n$i: no gap over 30 ms (held by no board: $unheld ms; the client's longest gap $gap ms, quiet $quiet_gap ms)" \
    bash -c "test $unheld -le 30 && (($gap <= 30 || $gap <= 2 * $quiet_gap + 20))"
done
check "the two hcagent boards see each other by gossip" bash -c "$bin/hcctl --socket $work/n2/hc.sock members --json | grep -q '\"n3\"'"

echo "the master board: hcagent takes the VIP first (a document ranks n2 above keepalived's 150), then keepalived stops"
before=$(date +%s%N)
ping_start
document 2 's/n2: 120/n2: 160/'
check "n2 (hcagent, now 160) takes the VIP from keepalived's n1, which goes backup" \
  wait_until 10 bash -c "is_state 2 master && only_holder n2 && keepalived_is 1 BACKUP"
check "n2 and n3 took the new priority in place (no router restarted)" \
  bash -c "grep -q 'priority 160 (was 120), preempt on, changed in place' $work/n2/log && ! grep -q 'no longer runs here as it was' $work/n2/log $work/n3/log"
stop_keepalived 1
start_agent 1
check "n1: hcagent (150) runs as backup beside n2's 160" wait_until 10 is_state 1 backup
sleep 1
step_report "n1 replaced" "$before"
check "n1: the VIP moved once (keepalived's n1 to hcagent's n2), no ping lost" \
  bash -c "only_holder n2 && test $holder_moves = 1 && test $mac_moves = 1 && test $lost = 0"
check "n1: no gap over 30 ms (held by no board: $unheld ms; the client's longest gap $gap ms, quiet $quiet_gap ms)" \
  bash -c "test $unheld -le 30 && (($gap <= 30 || $gap <= 2 * $quiet_gap + 20))"

echo "afterwards, n1 first again: its priority back above n2's, in place (one more move, by choice)"
before=$(date +%s%N)
ping_start
document 3
check "n1 (150) preempts n2 (120 again)" wait_until 10 bash -c "is_state 1 master && only_holder n1 && is_state 2 backup"
sleep 1
step_report "n2 lowered to 120" "$before"
check "one move, no ping lost, no router restarted" \
  bash -c "test $holder_moves = 1 && test $mac_moves = 1 && test $lost = 0 && ! grep -q 'no longer runs here as it was' $work/n1/log $work/n2/log $work/n3/log"
echo "  per step: VIP moves (holders) | moves (client's ARP) | ms held by no board | longest gap ms | pings lost"
sed 's/^/    /' "$work/steps"
finish
