#!/usr/bin/env bash
# The demo: three boards, each its own systemd (systemd-nspawn, booted from this machine's /usr on a fresh tmpfs)
# on a LAN of network namespaces, each running the installed hcagent as its systemd unit over its own system bus,
# with the demo's units (scripts/demo/). Nothing of this machine's own systemd is touched.
#   up            boots the boards, applies the demo document, prints a guided tour, waits for Ctrl-C or `down`
#   up --detach   the same, then returns
#   down          stops the boards and removes the lab; a waiting `up` (another shell) returns too
#   on N [CMD]    runs CMD on board N (a shell without CMD)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/Tests/integration/lib/checks.sh"    # wait_until
source "$root/Tests/integration/lib/container.sh" # container_start, container_wait, inside
# Names no test uses, so make check beside a running demo leaves it alone.
LAB_NAME=hcdemo
LAB_NET=10.77.0
source "$root/scripts/lab.sh"
work=/tmp/hcdemo
boards=3
vip=$(lab_ip 250)
# $work/running exists while the demo is up: `down` removes it first, and a waiting `up` returns when it goes.
running=$work/running

# Whether PID runs (a zombie does not: a detached demo's boards have a parent that may never reap them).
alive() { local state; state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ -n "$state" ] && [ "$state" != Z ]; }
# board_pid N nspawn|init COMM: the pid of board N's systemd-nspawn or of its PID 1, if it still runs as COMM.
board_pid() {
  local pid
  pid=$(cat "$work/b$1.$2" 2>/dev/null) || return 1
  alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$3" ] && echo "$pid"
}
any_board_runs() { local b; for ((b = 1; b <= boards; b++)); do board_pid $b nspawn systemd-nspawn >/dev/null && return 0; done; return 1; }
on_board() {
  local board=$1 init
  shift
  init=$(board_pid "$board" init systemd) || { echo "board $board is not running (make demo starts the demo)" >&2; return 1; }
  nsenter -t "$init" -a "$@"
}

down() {
  rm -f "$running"
  local b pid pids=()
  for ((b = 1; b <= boards; b++)); do
    pid=$(board_pid $b nspawn systemd-nspawn) && kill "$pid" 2>/dev/null && pids+=("$pid")
  done
  # A board shuts down cleanly in about a second; one that does not within 20 s is killed.
  for pid in "${pids[@]}"; do
    for _ in $(seq 200); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then kill -9 "$pid" 2>/dev/null; fi
  done
  lab_down || true
  rm -rf "$work"
}

# The same units, key and agent.yaml shape on every board: each trusts only documents signed with the demo's admin
# key (b1 plays the admin's machine: hcctl apply there signs with /etc/homecloud/admin.key), and its policy lets a
# document touch demo-*.service and nothing else.
setup_board() {
  local b=$1 key=$2 unit
  inside mkdir -p /etc/homecloud /srv/demo/web /srv/demo/front
  if [ "$b" = 1 ]; then
    inside hcctl keys admin generate 2>/dev/null >"$work/admin.pub" || { echo "hcctl keys admin generate failed on b1"; return 1; }
  fi
  for unit in "$root"/scripts/demo/*.service; do inside sh -c "cat > /etc/systemd/system/${unit##*/}" <"$unit"; done
  inside systemctl daemon-reload
  echo "demo-web on b$b" | inside sh -c 'cat > /srv/demo/web/index.html'
  echo "demo-front on b$b" | inside sh -c 'cat > /srv/demo/front/index.html'
  inside sh -c 'cat > /root/desired.yaml' <"$root/scripts/demo/desired.yaml"
  inside sh -c 'cat > /root/desired-gen2.yaml' <"$root/scripts/demo/desired-gen2.yaml"
  echo "$key" | inside sh -c 'umask 077; cat > /etc/homecloud/gossip.key'
  inside sh -c 'cat > /etc/homecloud/agent.yaml' <<YAML
node: b$b
bind: $(lab_ip "$b"):7964
join: [$(lab_ip 1):7964, $(lab_ip 2):7964, $(lab_ip 3):7964]
interface: eth0
key_file: /etc/homecloud/gossip.key
trusted_admin_keys:
  - $(cat "$work/admin.pub")
policy:
  units: [demo-*.service]
  exec: []
  paths: []
YAML
  inside systemctl start hcagent.service
}

# Every board sees all three alive (python3: scripts/install-deps.sh installs it).
all_alive() {
  local b
  for ((b = 1; b <= boards; b++)); do
    on_board $b hcctl members --json | python3 -c 'import json, sys
sys.exit(sorted(m["name"] for m in json.load(sys.stdin) if m["state"] == "alive") != ["b1", "b2", "b3"])' || return 1
  done
}
# Board N took generation G, and its demo-web (no placement: nothing to wait for) is converged.
started_generation() { on_board "$1" hcctl status --json | python3 -c 'import json, sys
s = json.load(sys.stdin)
sys.exit(s["desired"].get("generation") != int(sys.argv[1]) or
         [u.get("state") for u in s["units"] if u["name"] == "demo-web.service"] != ["converged"])' "$2"; }
all_started() { local b; for ((b = 1; b <= boards; b++)); do started_generation $b 1 || return 1; done; }

up() {
  [ "$(id -u)" = 0 ] || { echo "the demo makes network namespaces and containers: run it as root"; exit 1; }
  command -v systemd-nspawn >/dev/null || { echo "systemd-nspawn is missing: scripts/install-deps.sh installs it"; exit 1; }
  [ -e "$running" ] && echo "a demo was running: stopping it first"
  down
  mkdir -p "$work"
  local started=$SECONDS b key
  lab_up $boards
  key=$(head -c 32 /dev/urandom | base64)
  # make demo has just built the release binaries: stage them (container_boot's /usr/local) without a second
  # look at the build, which takes Swift half a minute even when nothing changed.
  if [ "${HCDEMO_BUILT:-}" = yes ]; then
    make -s -C "$root" -o release install DESTDIR="$work/stage" PREFIX=/usr/local >"$work/install.log" 2>&1 ||
      { cat "$work/install.log"; down; exit 1; }
  fi
  # The three boot at once: about 2 s on an idle machine.
  for ((b = 1; b <= boards; b++)); do
    container_start "hcdemo-b$b" "$(lab_ns $b)" || { down; exit 1; }
    echo "$nspawn" >"$work/b$b.nspawn"
  done
  for ((b = 1; b <= boards; b++)); do
    nspawn=$(cat "$work/b$b.nspawn")
    container_wait "hcdemo-b$b" || { down; exit 1; }
    echo "$init" >"$work/b$b.init"
    setup_board $b "$key" || { down; exit 1; }
  done
  local booted=$((SECONDS - started))
  touch "$running"
  wait_until 20 all_alive || { echo "the boards did not all see each other alive"; down; exit 1; }
  on_board 1 hcctl apply /root/desired.yaml >/dev/null
  wait_until 20 all_started || echo "(not every board has taken the document yet: see hcctl status)"
  echo "3 boards up in $((SECONDS - started)) s (booted in $booted s): containers hcdemo-b1..b3, each its own systemd," \
    "on bridge $(lab_bridge) ($(lab_ip 1)-$(lab_ip $boards)); the VIP front is $vip"
  echo
  echo "# scripts/demo.sh on 1 hcctl status"
  on_board 1 hcctl status || true
  cat <<TOUR

(A board is converging until its units are as the document says; demo-backup, placement: one, starts only when
its fence allows, some 8 s after the document: run hcctl status again to see every board converged.)

A guided tour: from another shell, in this directory ($root), as root.
Board N is \`scripts/demo.sh on N CMD\` (without CMD: a shell on board N, where hcctl and systemctl are its own).
 1. What board 2 sees of the cluster:
      scripts/demo.sh on 2 hcctl members
 2. The front door follows the VIP; watch it from board 3 (leave it running):
      scripts/demo.sh on 3 watch -n 0.5 curl -s -m 1 http://$vip/
 3. Kill the VIP holder's agent: b2 takes the VIP and starts demo-front within a second; systemd restarts b1's
    agent, which stops the copy it left, and takes the VIP back after its preempt_delay (10 s):
      scripts/demo.sh on 1 systemctl kill --kill-who=main -s KILL hcagent
      scripts/demo.sh on 2 hcctl vip
 4. Drift is repaired: stop a unit by hand and watch it come back:
      scripts/demo.sh on 3 systemctl stop demo-web
      scripts/demo.sh on 3 hcctl status
      scripts/demo.sh on 3 journalctl -u hcagent -n 5
 5. A new generation (desired-gen2.yaml adds demo-cache.service everywhere), signed on b1 with the admin key
    the boards trust; gossip carries it to every board:
      scripts/demo.sh on 1 hcctl apply /root/desired-gen2.yaml
      scripts/demo.sh on 3 hcctl status
TOUR
}

case "${1:-}" in
  up)
    trap 'echo; down; echo "demo stopped"; exit 0' INT TERM HUP
    up
    if [ "${2:-}" = --detach ]; then
      trap - INT TERM HUP
      echo "Stop it with: make demo-down"
    else
      echo "Stop it with Ctrl-C here, or make demo-down from another shell."
      # One board powered off is part of playing with it; all three gone means the demo is over.
      while [ -e "$running" ] && any_board_runs; do sleep 0.5; done
      if [ -e "$running" ]; then
        echo "every board has stopped: removing the lab"
        down
      fi
      echo "demo stopped"
    fi
    ;;
  down)
    down
    echo "demo stopped"
    ;;
  on)
    [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 on BOARD [CMD...]"; exit 2; }
    board=$2
    shift 2
    (($#)) || set -- bash -l
    on_board "$board" "$@"
    ;;
  *) echo "usage: $0 up [--detach] | down | on BOARD [CMD...]"; exit 2 ;;
esac
