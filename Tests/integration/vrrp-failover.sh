#!/usr/bin/env bash
# Three agents hold one VIP by VRRP on a namespace LAN: the highest priority wins; failover on kill -9 with the
# link cut; a restart removes the VIP the crash left and preempts; graceful stop and planned handover move it
# with no lost ping; link down gives it up; a stranger's packets change nothing. The IPv4 VIP has two addresses
# and is in one group with the IPv6 VIP: all three addresses share one holder after every move.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
LAB_NAME=hcv
LAB_NET=10.79.0
source "$root/scripts/lab.sh"
require_root

bin=${BIN:-$root/.build/release}
work=$(mktemp -d /tmp/hcv.XXXXXX)
cleanup() { lab_down; [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"; }
trap cleanup EXIT

vip=$(lab_ip 250)
vip2=$(lab_ip 251)
lab_up 4  # boards 1-3 run agents; board 4 is a client
head -c 32 /dev/urandom | base64 >"$work/gossip.key"
for i in 1 2 3; do
  mkdir -p "$work/n$i"
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
cat >"$work/desired.yaml" <<YAML
generation: 1
cluster: lab
nodes: { n1: [], n2: [], n3: [] }
vips:
  - name: front
    address: [$vip/24, $vip2/24]
    group: pair
    interface: eth0
    vrid: 51
    advert: 100ms
    priority: { default: 100, n1: 150, n2: 120 }
  - { name: front6, group: pair, address: "fd79::250/64", interface: eth0, vrid: 51, advert: 100ms, priority: { default: 100, n1: 150, n2: 120 } }
YAML
# IPv6: advertisements leave from the link-local address, once duplicate address detection has passed.
for i in 1 2 3 4; do
  lab_exec $i ip addr add "fd79::$i/64" dev eth0 nodad
  wait_until 5 bash -c "ip netns exec $(lab_ns $i) ip -6 addr show dev eth0 scope link | grep -q inet6 && ! ip netns exec $(lab_ns $i) ip -6 addr show dev eth0 | grep -q tentative"
done
start_agent() { ${launch:-lab_start} "$1" "$work/n$1/log" "$bin/hcagent" --config "$work/n$1/agent.yaml" >"$work/n$1/pid"; }
for i in 1 2 3; do start_agent $i; done
holds6() { output_has "inet6 fd79::250/64" lab_exec "$1" ip -6 addr show dev eth0; }
source "$here/lib/vrrp.sh"
holds2() { output_has "inet $vip2/" lab_exec "$1" ip -4 addr show dev eth0; }
# The group's three addresses (front's two, front6's one) are on the same boards among 1-3: all or none on each.
group_together() {
  local i n
  for i in 1 2 3; do
    n=0
    holds $i && n=$((n + 1))
    holds2 $i && n=$((n + 1))
    holds6 $i && n=$((n + 1))
    if [ "$n" != 0 ] && [ "$n" != 3 ]; then echo "n$i holds $n of the group's 3 addresses"; return 1; fi
  done
}
export vip2
export -f holds6 holds2 group_together
source "$here/lib/ping.sh"

echo "election"
check "n1 (priority 150) becomes master" wait_until 10 is_state 1 master
check "the others are backup" bash -c "is_state 2 backup && is_state 3 backup"
# Once (a clean-clone make check, 2026-12-06) the VIP was on no board the moment n1 reported master, and on n1
# right after. Polled now, but said and shown when it happens, to find out why.
if ! only_holder n1 >/dev/null; then
  echo "  (n1 reported master before the VIP was on n1 only: holders \"$(holders)\"; its log says:)"
  grep -h -i "vip front\|front:" "$work"/n1/log | tail -8 | sed 's/^/    /'
fi
check "the VIP is on n1 only" wait_until 3 only_holder n1
check "the client reaches the VIP" lab_exec 4 ping -c 1 -W 1 "$vip"
check "n1 holds the IPv6 VIP, and only n1" wait_until 3 bash -c "holds6 1 && ! holds6 2 && ! holds6 3"
check "the client reaches the IPv6 VIP" lab_exec 4 ping -6 -c 1 -W 1 fd79::250
check "hcctl vip shows both addresses, holder, priority and group" bash -c "$bin/hcctl --socket $work/n2/hc.sock vip | tee /dev/stderr | grep -E '^  front +$vip/24,$vip2/24 +backup +$(lab_ip 1) +120 .*group pair'"
check "the group's addresses are all on n1" bash -c "holds 1 && holds2 1 && holds6 1 && group_together"
check "the advertisements are VRRPv3 at 100 ms with TTL 255" bash -c "
  timeout 2 ip netns exec hcv-n4 tcpdump -c 3 -vni eth0 'ip proto 112' 2>/dev/null | tee /dev/stderr | grep -c 'ttl 255.*\|VRRPv3, Advertisement, vrid 51, prio 150, intvl 10cs' | grep -q '[1-9]'"

echo "master dies (kill -9, link cut)"
ping_start
# The kill first: with the link cut first, n1 would see its link go down and give the VIP up in time.
kill -9 "$(cat "$work/n1/pid")"
lab_cut 1
check "n2 (priority 120) takes over" wait_until 5 is_state 2 master
sleep 1
read -r gap lost _ < <(ping_stop)
echo "  (longest ping gap: $gap ms, $lost pings lost)"
check "the client lost the VIP for under 1 s" test "$gap" -lt 1000
failed_before=$FAILED
check "the VIP is on n2 (and still on the dead n1)" only_holder "n1 n2"
# Failed once locally and once in a clean-clone make check (2026-12-07), n1's address there all along: `ip | grep -q`
# under pipefail (now output_has, lib/checks.sh). What n1 said last and holds, should it fail again.
if [ "$FAILED" != "$failed_before" ]; then
  echo "  n1's log:"; tail -6 "$work/n1/log" | sed 's/^/    /'; lab_exec 1 ip -4 addr show dev eth0 | sed 's/^/    /'
fi
check "n2 holds the IPv6 VIP" wait_until 3 holds6 2
check "the client reaches the IPv6 VIP on n2 (unsolicited NA)" lab_exec 4 ping -6 -c 1 -W 1 fd79::250
check "the group moved whole: n2 holds all three addresses" wait_until 3 bash -c "holds 2 && holds2 2 && holds6 2 && group_together"
check "the client reaches the second address on n2" bash -c "lab_exec 4 ip neigh flush all; lab_exec 4 ping -c 1 -W 1 $vip2"

echo "n1 restarts: removes the VIP it left, then preempts"
lab_heal 1
launch=lab_start_child start_agent 1  # stopped and waited for below
check "the stale VIP is removed and n1 holds it again, alone" wait_until 10 only_holder n1
check "the log says it removed what the crash left" grep -q "left by an earlier run" "$work/n1/log"
check "n2 went back to backup" wait_until 5 is_state 2 backup
check "the group is back on n1 whole, the crash's leftovers gone" wait_until 3 bash -c "holds 1 && holds2 1 && holds6 1 && ! holds2 2 && group_together"

echo "graceful stop of the master"
sleep 1
ping_start
kill -TERM "$(cat "$work/n1/pid")"
wait "$(cat "$work/n1/pid")" 2>/dev/null
stopped=$?
check "n2 holds the VIP after n1's stop" wait_until 5 is_state 2 master
sleep 0.5
read -r gap lost _ < <(ping_stop)
echo "  (longest ping gap: $gap ms, $lost pings lost)"
check "n1 exited 0" test "$stopped" = 0
check "the client lost no ping" test "$lost" = 0
check "the VIP is on n2 only" only_holder n2
check "the group is on n2 whole" wait_until 3 bash -c "holds6 2 && holds2 2 && group_together"

echo "planned handover"
ping_start
check "hcctl vip handover front on the master says the group goes along" bash -c "$bin/hcctl --socket $work/n2/hc.sock vip handover front | tee /dev/stderr | grep -q 'with group pair: front6'"
check "n3 takes it" wait_until 5 is_state 3 master
sleep 1
read -r gap lost _ < <(ping_stop)
echo "  (longest ping gap: $gap ms, $lost pings lost)"
check "the client lost no ping" test "$lost" = 0
check "n2 stays backup though its priority is higher" bash -c "is_state 2 backup && only_holder n3"
# Failed once (clean-clone make check, 2026-12-07): front6 stayed on n2. n3 had handed front6 over in an
# earlier move and still deferred to that old holder; a deferral now binds to that holder alone (VRRPInstance).
failed_before=$FAILED
check "front6 went along with front to n3" wait_until 3 bash -c "holds6 3 && holds2 3 && group_together"
if [ "$FAILED" != "$failed_before" ]; then
  for i in 2 3; do echo "  n$i's log:"; grep -h "VIP front6\|group pair" "$work/n$i/log" | tail -8 | sed 's/^/    /'; done
fi
check "handover on a backup is refused with exit 1" bash -c "$bin/hcctl --socket $work/n2/hc.sock vip handover front; test \$? = 1"

echo "link down on the master"
lab_exec 3 ip link set eth0 down
check "n3 goes to fault and gives the VIP up" wait_until 3 is_state 3 fault
check "n2 takes over" wait_until 3 is_state 2 master
check "the VIP left n3" bash -c "! ip netns exec hcv-n3 ip -4 addr show dev eth0 | grep -q 'inet $vip/'"
lab_exec 3 ip link set eth0 up
check "n3 is backup again when the link returns" wait_until 3 is_state 3 backup
check "the group went whole to n2" wait_until 3 bash -c "holds 2 && holds6 2 && group_together"

echo "a tracked probe moves the VIP (the probes issue)"
# n2 is master now (priority 120), n3 backup (100), n1 stopped. Each board probes its own k3s API; the
# stand-in is a TCP listener on each. Weight -100 puts n2 below n3 when n2's listener dies.
listener() { ip netns exec "$(lab_ns "$1")" python3 -c 'import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 6443)); s.listen(64)
while True: c,_=s.accept(); c.close()' & echo $! >"$work/listener$1.pid"; disown $!; }
listener 2
listener 3
sleep 0.3
# The next document is written beside and renamed into place: the agents poll the file, and one that read
# it half edited would take the VIP's change as a move of its own.
sed 's/^generation: .*/generation: 2/' "$work/desired.yaml" >"$work/desired.next"
cat >>"$work/desired.next" <<YAML
probes:
  k3s-api: { tcp: "127.0.0.1:6443", interval: 200ms, timeout: 100ms, rise: 2, fall: 2, weight: -100 }
YAML
sed -i 's/    priority: { default: 100, n1: 150, n2: 120 }$/    priority: { default: 100, n1: 150, n2: 120 }\n    track: [k3s-api]/' "$work/desired.next"
mv "$work/desired.next" "$work/desired.yaml"
check "the probe is healthy on the master" wait_until 5 bash -c "$bin/hcctl --socket $work/n2/hc.sock probes | grep -E '^  k3s-api +healthy'"
check "a new track list left the VIP where it was" bash -c "is_state 2 master && ! grep -q 'no longer runs here' $work/n2/log"
kill "$(cat "$work/listener2.pid")"
killed_at=$(date +%s%N)
check "with its listener killed, n3 takes the VIP" wait_until 5 is_state 3 master
check "front6, which tracks nothing, went along (the group's priority is its lowest)" wait_until 3 bash -c "holds6 3 && group_together"
echo "  (listener killed to n3 master: $((($(date +%s%N) - killed_at) / 1000000)) ms; bound: fall 2 x 200 ms + timeout + skew)"
check "hcctl probes on n2 says failing and why" bash -c "$bin/hcctl --socket $work/n2/hc.sock probes | tee /dev/stderr | grep -E '^  k3s-api +failing +[0-9]+ failed .*connect'"
check "n2's VIP priority is 20 (120 - 100)" bash -c "$bin/hcctl --socket $work/n2/hc.sock vip --json | grep -q '\"priority\" *: *20'"
check "hcctl status on n3 shows n2's failing probe (gossip)" wait_until 3 bash -c "out=\$($bin/hcctl --socket $work/n3/hc.sock status); grep -qE '^  n2 .*FAILING k3s-api \\(1 of 1\\)' <<<\"\$out\" || { echo \"\$out\"; false; }"
listener 2
check "the listener back, n2 takes the VIP again" wait_until 5 is_state 2 master
check "and the whole group with it" wait_until 3 bash -c "holds6 2 && holds2 2 && group_together"

echo "a stranger's packets change nothing"
check "garbage, a bad checksum and TTL 64 are sent to the group" lab_exec 4 python3 - "$(lab_ip 4)" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(sys.argv[1]))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
for packet in [b'\x00\xff junk', b'\x31\x33\xff\x01\x00\x0a\x00\x00' + bytes(4), b'\x31']:
    s.sendto(packet, ('224.0.0.18', 0))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 64)
s.sendto(b'\x31\x33\xff\x01\x00\x0a\x00\x00' + bytes(4), ('224.0.0.18', 0))
PY
sleep 0.5
check "the master is unchanged" is_state 2 master
check "drops are counted by reason" bash -c "out=\$(lab_exec 2 curl -sf http://127.0.0.1:9646/metrics | grep hcagent_vrrp_packets_dropped_total); echo \"\$out\"; grep -q 'reason=\"bad_checksum\"} [1-9]' <<<\"\$out\" && grep -q 'reason=\"hop_limit\"} [1-9]' <<<\"\$out\""

finish
