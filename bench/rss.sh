#!/usr/bin/env bash
# Memory of an idle agent (release build) beside keepalived's, in the same run, on the namespace lab; then
# of the installed agent under a real systemd (systemd-nspawn) reconciling examples/desired.yaml.
# Prints one line per figure. Needs root and `make release`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
LAB_NAME=hcb
LAB_NET=10.79.0
source "$root/scripts/lab.sh"
bin=${BIN:-$root/.build/release}
work=$(mktemp -d /tmp/hcb-rss.XXXXXX)
source "$root/Tests/integration/lib/checks.sh"
source "$root/Tests/integration/lib/container.sh"
trap 'container_stop; lab_down; rm -rf "$work"' EXIT
settle=${SETTLE:-5}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

lab_up 2
cp "$root/examples/desired.yaml" "$work/desired.yaml"
head -c 32 /dev/urandom | base64 >"$work/gossip.key"
cat >"$work/agent.yaml" <<YAML
node: hc1-n1
bind: $(lab_ip 1):7964
interface: eth0
key_file: $work/gossip.key
socket: $work/hcagent.sock
state_dir: $work/state
desired: $work/desired.yaml
YAML
agent=$(lab_start 1 "$work/hcagent.log" "$bin/hcagent" --config "$work/agent.yaml")

cat >"$work/keepalived.conf" <<CONF
global_defs {
  vrrp_version 3
  script_user root
  enable_script_security
}
vrrp_instance front {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 1
  virtual_ipaddress {
    $(lab_ip 250)/24
  }
}
CONF
lab_start 2 "$work/keepalived.log" keepalived -f "$work/keepalived.conf" -p "$work/k.pid" -r "$work/kv.pid" \
  -c "$work/kc.pid" -n -l -D >/dev/null
sleep "$settle"
keepalived_parent=$(cat "$work/k.pid")
keepalived_vrrp=$(cat "$work/kv.pid")

echo "date: $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m), kernel $(uname -r)"
echo "hcagent $("$bin/hcagent" --version), binary $(($(stat -c %s "$bin/hcagent") / 1024 / 1024)) MiB, idle ${settle}s: RSS $(rss_kib "$agent") KiB"
for _ in $(seq 200); do "$bin/hcctl" --socket "$work/hcagent.sock" status >/dev/null; done
echo "hcagent after 200 hcctl status: RSS $(rss_kib "$agent") KiB"
for _ in $(seq 20); do lab_exec 1 curl -sf "http://127.0.0.1:9646/metrics" >/dev/null; done
echo "hcagent after 20 /metrics scrapes too: RSS $(rss_kib "$agent") KiB, peak $(hwm_kib "$agent") KiB"
k1=$(rss_kib "$keepalived_parent")
k2=$(rss_kib "$keepalived_vrrp")
echo "keepalived $(keepalived --version 2>&1 | head -1 | awk '{print $2}') (one VRRPv3 instance), idle ${settle}s: parent $k1 KiB + VRRP child $k2 KiB = $((k1 + k2)) KiB"

# The agent as installed, with its reconciler on a real systemd: examples/desired.yaml on hc1-n1.
lab_down
# The same binaries as above (BIN), installed the way `make install` lays them out.
make -s -C "$root" install DESTDIR="$work/stage" PREFIX=/usr/local >"$work/install.log" 2>&1 || { cat "$work/install.log"; exit 1; }
cp "$bin/hcagent" "$bin/hcctl" "$work/stage/usr/local/bin/"
container_boot hcb-rss >/dev/null || exit 1
inside useradd -m dnas
printf '[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n' | inside sh -c 'cat > /etc/systemd/system/k3s.service'
inside systemctl daemon-reload
inside mkdir -p /etc/homecloud
inside sh -c 'head -c 32 /dev/urandom | base64 > /etc/homecloud/gossip.key'
printf 'node: hc1-n1\nbind: 127.0.0.1:7964\nkey_file: /etc/homecloud/gossip.key\n' | inside sh -c 'cat > /etc/homecloud/agent.yaml'
inside sh -c 'cat > /etc/homecloud/desired.yaml' <"$root/examples/desired.yaml"
inside systemctl start hcagent.service
sleep "$settle"
main=$(unit_property hcagent.service MainPID)
# awk is an alternatives link under /etc, which the container does not have: read the file, parse it here.
inside_kib() { inside cat "/proc/$main/status" | awk -v key="$1:" '$1 == key {print $2}'; }
echo "hcagent under systemd, reconciler on (2 units running), idle ${settle}s: RSS $(inside_kib VmRSS) KiB"
for _ in $(seq 200); do inside hcctl status >/dev/null; done
inside systemctl stop k3s.service 2>/dev/null || true
sleep 1
echo "... after 200 hcctl status and a drift repair: RSS $(inside_kib VmRSS) KiB, peak $(inside_kib VmHWM) KiB"
