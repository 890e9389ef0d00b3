#!/usr/bin/env bash
# hcctl drain on three real systemd boards (systemd-nspawn on one namespace LAN, hcagent as their systemd unit):
# the `placement: one` unit leaves the drained board at once and starts on another board (after the takeover
# delay every board waits), the VIP and its `vip:` unit leave it too, none comes back while it is drained (a
# restart of its agent included), and hcctl undrain gives the board its units back. (Issue 16, item 1; the
# VIP's lost pings are counted by drain.sh.)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
source "$here/lib/container.sh"
LAB_NAME=hdu
LAB_NET=10.98.0
source "$root/scripts/lab.sh"
source "$here/lib/boards.sh"
require_root

work=$(mktemp -d /tmp/hdu.XXXXXX)
nspawns=()
trap boards_cleanup EXIT
vip=$(lab_ip 250)
started=$SECONDS

lab_up 3
boards_boot hdu 1 2 3 || exit 1
active() { [ "$(on "$1" systemctl show -p ActiveState --value "$2")" = active ]; }
running_on() { local b out=""; for b in 1 2 3; do active $b "$1" && out+="b$b "; done; echo "${out% }"; }
runs_only_on() { local now; now=$(running_on "$1"); echo "$1 active on: ${now:-none}"; [ "$now" = "$2" ]; }
holds() { output_has "inet $vip/" on "$1" ip -4 addr show dev eth0; }
holders() { local b out=""; for b in 1 2 3; do holds $b && out+="b$b "; done; echo "${out% }"; }
only_holder() { local now; now=$(holders); echo "VIP on: ${now:-none}"; [ "$now" = "$1" ]; }
status_field() { on "$1" hcctl status --json | python3 -c "import json,sys; s=json.load(sys.stdin); print($2)"; }
all_alive() { local b; for b in 1 2 3; do test "$(status_field $b "sum(m['state']=='alive' for m in s['members'])")" = 3 || return 1; done; }
# drained_seen_by_all N VALUE: every board shows bN drained (True) or not (None).
drained_seen_by_all() { local b; for b in 1 2 3; do test "$(status_field $b "[m.get('drained') for m in s['members'] if m['name']=='b$1'][0]")" = "$2" || return 1; done; }
export INIT1 INIT2 INIT3 vip
export -f on active running_on runs_only_on holds holders only_holder status_field all_alive drained_seen_by_all

for b in 1 2 3; do
  for unit in singleton front; do printf '[Service]\nExecStart=/bin/sleep infinity\n' | on $b sh -c "cat > /etc/systemd/system/hdu-$unit.service"; done
  on $b systemctl daemon-reload
  board_agent_config $b "1 2 3"
done
cat <<YAML | on 1 sh -c 'cat > /root/cluster.yaml'
generation: 1
cluster: hdu
nodes: { b1: [app], b2: [app], b3: [app] }
roles:
  app:
    units:
      - { name: hdu-singleton.service, state: running, placement: one }
      - { name: hdu-front.service, state: running, placement: "vip:front" }
vips:
  - { name: front, address: $vip/24, interface: eth0, vrid: 98, advert: 100ms, priority: { default: 50, b1: 150, b2: 120 } }
YAML
echo "  (3 boards booted in $((SECONDS - started)) s)"

for b in 1 2 3; do on $b systemctl start hcagent.service; done
check "the three agents see each other alive" wait_until 20 all_alive
check "hcctl apply on b1" bash -c "on 1 hcctl apply /root/cluster.yaml | grep -qx 'generation 1 accepted'"
check "the VIP and hdu-front are on b1" wait_until 15 bash -c "only_holder b1 && runs_only_on hdu-front.service b1"
check "hdu-singleton runs on exactly one board" wait_until 20 bash -c 'n=$(running_on hdu-singleton.service); echo "on: $n"; test $(wc -w <<<"$n") = 1'
owner=$(running_on hdu-singleton.service)
owner=${owner#b}
echo "  (hdu-singleton runs on b$owner)"

echo "drain the board that runs hdu-singleton"
check "hcctl drain on b$owner" bash -c "on $owner hcctl drain | tee /dev/stderr | grep -q '^b$owner drained'"
drained_at=$(date +%s%N)
check "hdu-singleton stops on b$owner at once" wait_until 3 bash -c "! active $owner hdu-singleton.service"
check "every board sees b$owner drained" wait_until 5 drained_seen_by_all $owner True
# Another board starts it after the takeover delay (3 boards: 8 s), which keeps a split from running it twice.
check "hdu-singleton starts on another board, and only there" wait_until 20 bash -c "n=\$(running_on hdu-singleton.service); echo \"on: \$n\"; test \$(wc -w <<<\"\$n\") = 1 && test \"\$n\" != b$owner"
echo "  (drain to hdu-singleton active elsewhere: $((($(date +%s%N) - drained_at) / 1000000)) ms, polled; the takeover delay is 8 s)"
check "the VIP and hdu-front are not on b$owner" wait_until 5 bash -c "! holds $owner && ! active $owner hdu-front.service && test -n \"\$(holders)\""
check "hcctl members on b$owner shows itself alive,drained" bash -c "on $owner hcctl members | grep -E '^  b$owner .* alive,drained '"

echo "restart the drained board's agent"
on $owner systemctl restart hcagent.service
check "its agent is back, still drained" wait_until 10 bash -c "test \"\$(status_field $owner \"s.get('drained')\")\" = True"
sleep 10
check "no unit came back to it (hdu-singleton elsewhere, no VIP, no hdu-front)" bash -c "! active $owner hdu-singleton.service && ! holds $owner && ! active $owner hdu-front.service && test \$(wc -w <<<\"\$(running_on hdu-singleton.service)\") = 1"

echo "undrain"
check "hcctl undrain on b$owner" bash -c "on $owner hcctl undrain | grep -q '^b$owner back in service'"
check "every board sees it in service" wait_until 5 drained_seen_by_all $owner None
check "hdu-singleton comes back to b$owner, and runs only there" wait_until 20 runs_only_on hdu-singleton.service "b$owner"
check "the VIP and hdu-front are on b1 (priority 150) again" wait_until 10 bash -c "only_holder b1 && runs_only_on hdu-front.service b1"

echo "  (test took $((SECONDS - started)) s)"
finish
