#!/usr/bin/env bash
# hcagent and Debian's keepalived (VRRPv3) share one VIP on a namespace LAN: one master, failover both ways,
# and preemption both ways; the VIP has two addresses (one advert lists both, as keepalived's virtual_ipaddress
# block does) and keepalived finds no mismatch in hcagent's adverts. Boards: n1 hcagent priority 150, n2 keepalived 120, n3 hcagent 100, n4 a client.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
LAB_NAME=hck
LAB_NET=10.80.0
source "$root/scripts/lab.sh"
require_root

bin=${BIN:-$root/.build/release}
work=$(mktemp -d /tmp/hck.XXXXXX)
cleanup() { lab_down; [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"; }
trap cleanup EXIT

vip=$(lab_ip 250)
vip2=$(lab_ip 251)
lab_up 4
head -c 32 /dev/urandom | base64 >"$work/gossip.key"
for i in 1 3; do
  mkdir -p "$work/n$i"
  cat >"$work/n$i/agent.yaml" <<YAML
node: n$i
bind: $(lab_ip $i):7964
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
nodes: { n1: [], n3: [] }
vips:
  - { name: front, address: [$vip/24, $vip2/24], interface: eth0, vrid: 51, advert: 100ms, priority: { default: 100, n1: 150 } }
YAML
cat >"$work/keepalived.conf" <<CONF
global_defs {
  vrrp_version 3
}
vrrp_instance front {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 120
  advert_int 0.1
  virtual_ipaddress {
    $vip/24
    $vip2/24
  }
}
CONF
start_agent() { lab_start "$1" "$work/n$1/log" "$bin/hcagent" --config "$work/n$1/agent.yaml" >"$work/n$1/pid"; }
start_keepalived() {
  rm -f "$work"/k*.pid  # a killed keepalived leaves them, and would refuse to start
  lab_start 2 "$work/keepalived.log" keepalived -f "$work/keepalived.conf" -p "$work/k.pid" -r "$work/kv.pid" \
    -c "$work/kc.pid" -n -l -D >/dev/null
}
keepalived_is() { grep -E 'Entering (MASTER|BACKUP|FAULT) STATE' "$work/keepalived.log" | tail -1 | grep -q "Entering $1 STATE"; }
source "$here/lib/vrrp.sh"
# Both addresses on board $1 and neither elsewhere among 1-3 (the dead board's leftovers aside: $2 lists boards to skip).
holds_both_only() {
  local i
  for i in 1 2 3; do
    [[ " ${2:-} " == *" $i "* ]] && continue
    if [ "$i" = "$1" ]; then
      lab_exec "$i" ip -4 addr show dev eth0 | grep -q "inet $vip/" && lab_exec "$i" ip -4 addr show dev eth0 | grep -q "inet $vip2/" || return 1
    else
      ! lab_exec "$i" ip -4 addr show dev eth0 | grep -qE "inet ($vip|$vip2)/" || return 1
    fi
  done
}
export vip2
export -f keepalived_is holds_both_only

start_agent 1
start_keepalived
start_agent 3

echo "one master in a mixed LAN"
check "hcagent n1 (150) is master" wait_until 10 is_state 1 master
check "keepalived (120) is backup" wait_until 5 keepalived_is BACKUP
check "hcagent n3 (100) is backup" is_state 3 backup
check "the VIP is on n1 only" wait_until 3 only_holder n1
check "both addresses are on n1, neither elsewhere" wait_until 3 holds_both_only 1
check "hcctl vip lists both addresses" bash -c "$bin/hcctl --socket $work/n1/hc.sock vip | grep -E '^  front +$vip/24,$vip2/24 +master '"
check "n3 sees n1 as the holder" bash -c "$bin/hcctl --socket $work/n3/hc.sock vip --json | grep -q '\"holder\" *: *\"$(lab_ip 1)\"'"

echo "failover hcagent -> keepalived"
kill -9 "$(cat "$work/n1/pid")"
lab_cut 1
check "keepalived takes over" wait_until 5 keepalived_is MASTER
check "n3 follows keepalived as backup" bash -c "sleep 0.5; is_state 3 backup"
check "n3 sees keepalived as the holder" bash -c "$bin/hcctl --socket $work/n3/hc.sock vip --json | grep -q '\"holder\" *: *\"$(lab_ip 2)\"'"
check "keepalived holds both addresses (n1 keeps its leftovers)" wait_until 3 holds_both_only 2 1

echo "failover keepalived -> hcagent"
ip netns pids hck-n2 | xargs -r kill -9
lab_cut 2
check "hcagent n3 takes over" wait_until 5 is_state 3 master
check "n3 holds both addresses" wait_until 3 holds_both_only 3 "1 2"
check "the client reaches the VIP on n3" bash -c "lab_exec 4 ip neigh flush all; lab_exec 4 ping -c 1 -W 1 $vip"

echo "keepalived preempts hcagent"
lab_heal 2
lab_exec 2 ip addr del "$vip/24" dev eth0 2>/dev/null  # what the killed keepalived left
lab_exec 2 ip addr del "$vip2/24" dev eth0 2>/dev/null
start_keepalived
check "keepalived (120) takes the VIP from n3 (100)" wait_until 5 keepalived_is MASTER
check "n3 steps down to backup" wait_until 3 is_state 3 backup
check "the VIP is on keepalived's board (and on the dead n1, as kill -9 left it)" wait_until 3 only_holder "n1 n2"

echo "hcagent preempts keepalived"
lab_heal 1
start_agent 1
check "n1 (150) takes the VIP back" wait_until 10 is_state 1 master
check "keepalived steps down to backup" wait_until 3 keepalived_is BACKUP
check "the VIP is on n1 only" wait_until 3 only_holder n1
check "both addresses on n1 only (its restart removed both leftovers)" wait_until 3 holds_both_only 1

echo "graceful stop of hcagent hands over to keepalived"
kill -TERM "$(cat "$work/n1/pid")"
check "keepalived takes over" wait_until 5 keepalived_is MASTER
check "the VIP is on keepalived's board only" wait_until 3 only_holder n2
check "both addresses on keepalived's board only" wait_until 3 holds_both_only 2

check "keepalived saw the same two addresses in hcagent's adverts (no count or address mismatch)" bash -c "! grep -E 'unexpected ip number count|VIPs but received|not present in MASTER advert' $work/keepalived.log"
check "keepalived logged no bad packet from hcagent" bash -c "! grep -iE 'checksum|invalid|ttl|bad' $work/keepalived.log"
finish
