#!/usr/bin/env bash
# The demo: three boards (network namespaces on one bridge), one hcagent each. `up` starts it and waits for
# Ctrl-C (or `up --detach`); `down` stops everything.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
LAB_NAME=hc
LAB_NET=10.77.0
source "$root/scripts/lab.sh"
bin=${BIN:-$root/.build/release}
work=/tmp/hcdemo
boards=3

down() {
  lab_down
  rm -rf "$work"
  echo "demo stopped"
}

up() {
  [ "$(id -u)" = 0 ] || { echo "the demo makes network namespaces: run it as root"; exit 1; }
  lab_up $boards
  rm -rf "$work"
  local i joins=""
  for ((i = 1; i <= boards; i++)); do joins+="${joins:+, }$(lab_ip $i):7964"; done
  mkdir -p "$work"
  head -c 32 /dev/urandom | base64 >"$work/gossip.key"  # one cluster key, shared by the boards
  for ((i = 1; i <= boards; i++)); do
    mkdir -p "$work/n$i"
    cat >"$work/n$i/agent.yaml" <<YAML
node: hc1-n$i
bind: $(lab_ip $i):7964
join: [$joins]
interface: eth0
key_file: $work/gossip.key
socket: $work/n$i/hcagent.sock
state_dir: $work/n$i/state
desired: $work/n$i/desired.yaml
metrics: 127.0.0.1:$((9645 + i))
YAML
    cat >"$work/n$i/desired.yaml" <<YAML
generation: 1
cluster: hc1
nodes:
  hc1-n1: [k3s-server, dnas]
  hc1-n2: [k3s-server, dnas]
  hc1-n3: [k3s-server]
roles:
  k3s-server:
    units:
      - { name: k3s.service, state: running, enabled: true }
  dnas:
    units:
      - { name: syncthing@dnas.service, state: running, enabled: true }
      - { name: smbd.service, state: running, placement: "vip:front" }
vips:
  - name: front
    address: $(lab_ip 250)/24
    interface: eth0
    vrid: 51
    advert: 100ms
    priority: { default: 100, hc1-n1: 150 }
YAML
    lab_exec "$i" "$bin/hcagent" --config "$work/n$i/agent.yaml" >"$work/n$i/hcagent.log" 2>&1 &
  done
  for ((i = 1; i <= boards; i++)); do
    for _ in $(seq 100); do "$bin/hcctl" --socket "$work/n$i/hcagent.sock" status >/dev/null 2>&1 && break; sleep 0.1; done
  done
  # VRRP elects hc1-n1 (priority 150) within a master down interval (about 0.35 s).
  for _ in $(seq 60); do "$bin/hcctl" --socket "$work/n1/hcagent.sock" vip --json 2>/dev/null | grep -q '"state" *: *"master"' && break; sleep 0.1; done
  echo "3 boards up: namespaces $(lab_ns 1)..$(lab_ns $boards) on bridge $(lab_bridge), $(lab_ip 1)-$(lab_ip $boards)"
  echo
  echo "\$ hcctl --socket $work/n1/hcagent.sock status"
  "$bin/hcctl" --socket "$work/n1/hcagent.sock" status
  echo
  echo "Try: $bin/hcctl --socket $work/n2/hcagent.sock status --json"
  echo "     $bin/hcctl --socket $work/n1/hcagent.sock vip handover front   # then: ... n2 ... vip"
  echo "     logs in $work/n*/hcagent.log; edit $work/n1/desired.yaml and watch hcctl status"
}

case "${1:-}" in
  up)
    up
    if [ "${2:-}" = --detach ]; then
      echo "     stop with: make demo-down"
    else
      echo "     Ctrl-C (or make demo-down from another shell) stops the demo"
      trap 'echo; down; exit 0' INT TERM
      while sleep 1; do :; done
    fi
    ;;
  down) down ;;
  *) echo "usage: $0 up [--detach] | down"; exit 2 ;;
esac
