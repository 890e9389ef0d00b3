#!/usr/bin/env bash
# The reconciler against a real systemd, hcagent beside ansible-playbook in the same run. Three boards, each a
# systemd-nspawn container on one namespace LAN running the installed hcagent as its unit, 10 test units
# (sleep infinity) each. hcagent: `hcctl apply` on b1 of a document that starts and enables the 10 units on
# every board, timed to every board converged (each board's status polled on its control socket) and to the
# last unit started (the job's end in systemd's journal); each agent's CPU (utime+stime of its process) over
# the apply; the same document re-applied (nothing to change) and a stop+disable of the 10; drift repair (a
# unit stopped by hand: how long systemd saw it down). ansible-core (Debian's; installed here if missing)
# starts and enables the same 10 units on ONE board with ansible.builtin.systemd over a local connection,
# inside the container, then runs again with nothing to change; with fact gathering (Ansible's default) and
# without. Prints one line per figure, then a summary. Needs root and `make release`. ROUNDS (default 3) runs
# per case: min / median / max. Uses the lab hcr (10.85.0.0/24) and containers hcr-b1..3, as
# Tests/integration/reconciler-cluster.sh does: do not run both at once.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
LAB_NAME=hcr
LAB_NET=10.85.0
source "$root/scripts/lab.sh"
work=$(mktemp -d /tmp/hcr-bench.XXXXXX)
source "$root/Tests/integration/lib/checks.sh"
source "$root/Tests/integration/lib/container.sh"
rounds=${ROUNDS:-3}
nspawns=()
cleanup() {
  containers_stop
  lab_down
  rm -rf "$work"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 1; }
if ! command -v ansible-playbook >/dev/null; then
  echo "installing ansible-core (Debian's)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ansible-core >/dev/null || exit 1
fi
units=()
for i in $(seq -w 1 10); do units+=("hcb-u$i.service"); done

on() { local v="INIT$1"; shift; nsenter -t "${!v}" -a "$@"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
# CPU of the board's agent so far, in ms: utime+stime of the process (10 ms ticks).
agent_cpu_ms() {
  on "$1" sh -c 'pid=$(systemctl show -p MainPID --value hcagent.service); cat /proc/$pid/stat' |
    python3 -c 'import os,sys; f=sys.stdin.read().rsplit(")", 1)[1].split(); print((int(f[11]) + int(f[12])) * 1000 // os.sysconf("SC_CLK_TCK"))'
}
stats() {  # min / median / max of the numbers given
  python3 -c 'import sys; v=sorted(float(x) for x in sys.argv[1:] if x.replace(".", "").isdigit()); f=lambda x: f"{x:.0f}"; print(f"{f(v[0])} / {f(v[len(v)//2])} / {f(v[-1])}" if v else "none")' "$@"
}

lab_up 3
for b in 1 2 3; do
  container_boot "hcr-b$b" "$(lab_ns "$b")" >/dev/null || exit 1
  nspawns+=("$nspawn")
  declare "INIT$b=$init"
done
key=$(head -c 32 /dev/urandom | base64)
for b in 1 2 3; do
  for u in "${units[@]}"; do
    printf '[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n' | on $b sh -c "cat > /etc/systemd/system/$u"
  done
  on $b systemctl daemon-reload
  on $b mkdir -p /etc/homecloud
  on $b sh -c "echo $key > /etc/homecloud/gossip.key && chmod 600 /etc/homecloud/gossip.key"
  printf 'node: b%s\nbind: %s:7964\njoin: [%s:7964, %s:7964, %s:7964]\nkey_file: /etc/homecloud/gossip.key\n' \
    "$b" "$(lab_ip $b)" "$(lab_ip 1)" "$(lab_ip 2)" "$(lab_ip 3)" | on $b sh -c 'cat > /etc/homecloud/agent.yaml'
  on $b systemctl start hcagent.service
done
document() {  # document STATE ENABLED
  printf 'generation: 1\ncluster: hcr\nnodes: { b1: [bench], b2: [bench], b3: [bench] }\nroles:\n  bench:\n    units:\n'
  for u in "${units[@]}"; do printf '      - { name: %s, state: %s, enabled: %s }\n' "$u" "$1" "$2"; done
}
document running true | on 1 sh -c 'cat > /root/up.yaml'
document stopped false | on 1 sh -c 'cat > /root/down.yaml'
# Every board sees the other two alive before anything is measured.
until [ "$(for b in 1 2 3; do on $b hcctl members --json; done | grep -o '"state" *: *"alive"' | wc -l)" = 9 ]; do sleep 0.2; done
sleep 2

# poll.py GENERATION WANT T0_NS INIT...: asks each board's agent for its status (one thread each) until it runs
# GENERATION with all 10 units desired WANT and converged; prints each board's ms after T0 (CLOCK_REALTIME).
# It speaks the control protocol (what hcctl status --json sends) to the agent's socket through the container's
# root, /proc/INIT/root: spawning nsenter and hcctl 50 times a second per board would load the 2 cores more
# than the agents do.
cat >"$work/poll.py" <<'PY'
import json, socket, sys, threading, time
generation, want, t0 = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
done = {}
def status(init):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        s.connect(f"/proc/{init}/root/run/homecloud/hcagent.sock")
        s.sendall(b'{"v":1,"id":1,"command":"status"}\n')
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk: break
            reply += chunk
    return json.loads(reply)["status"]
def poll(board, init):
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            s = status(init)
        except (OSError, ValueError, KeyError):
            time.sleep(0.02)
            continue
        seen = time.time_ns()
        units = s.get("units", [])
        if not (s["desired"].get("generation") == generation and len(units) == 10 and s.get("convergence") == "converged"
                and all(u["desired"] == want and u.get("state") == "converged" for u in units)):
            time.sleep(0.02)  # each request costs the agent CPU too: about 50 a second, not more
            continue
        done[board] = (seen - t0) / 1e6
        return
threads = [threading.Thread(target=poll, args=(i + 1, init)) for i, init in enumerate(sys.argv[4:])]
for t in threads: t.start()
for t in threads: t.join()
print(" ".join(f"{done[b]:.0f}" if b in done else "timeout" for b in (1, 2, 3)))
PY

generation=0
# apply FILE WANT: one hcctl apply on b1; sets converged_ms (slowest board, polled), systemd_ms (the last start
# or stop job systemd finished on any board after the apply, from its journal; "-" when none), moved (how many
# such jobs: 30 for 10 units on 3 boards, 0 when nothing changes), cpu (per board: ms of utime+stime from the
# apply to 1 s after convergence, less the idle rate over that window; then the raw figures). The journal, not
# the units' timestamps: systemd unloads a stopped, disabled unit at the daemon reload, and its timestamps go.
apply() {
  local file=$1 want=$2 b cpu0=() t0 polled
  for b in 1 2 3; do cpu0[$b]=$(agent_cpu_ms $b); done
  generation=$((generation + 1))
  t0=$(date +%s%N)
  on 1 hcctl apply "$file" >/dev/null || { echo "apply failed"; exit 1; }
  polled=$(python3 "$work/poll.py" "$generation" "$want" "$t0" "$INIT1" "$INIT2" "$INIT3")
  converged_ms=$(tr ' ' '\n' <<<"$polled" | sort -n | tail -1)
  [[ "$polled" == *timeout* ]] && converged_ms=timeout
  sleep 1  # the agents' CPU for the apply includes what follows convergence (status gossip)
  local window_ms=$((($(date +%s%N) - t0) / 1000000)) raw="" used
  cpu=""
  for b in 1 2 3; do
    used=$(($(agent_cpu_ms $b) - cpu0[b]))
    raw+="$used/"
    cpu+="$((used - idle_ms[b] * window_ms / idle_window_ms))/"
  done
  cpu_net=${cpu%/}
  cpu="$cpu_net (raw ${raw%/} over ${window_ms} ms)"
  read -r moved systemd_ms < <(for b in 1 2 3; do on $b journalctl -o json --no-pager --since=@$((t0 / 1000000000 - 1)) "${units[@]/#/--unit=}"; done |
    python3 -c '
import json, sys
t0 = int(sys.argv[1]) // 1000
ends = [int(e["__REALTIME_TIMESTAMP"]) for e in map(json.loads, sys.stdin)
        if e.get("JOB_TYPE") in ("start", "stop") and e.get("JOB_RESULT") == "done" and int(e["__REALTIME_TIMESTAMP"]) >= t0]
print(len(ends), (max(ends) - t0) // 1000 if ends else "-")' "$t0")
}

echo "reconcile: 3 boards x 10 units, hcagent vs ansible-playbook ($(date -u +%F), $(nproc) cores, load $(load) at start)"
# Idle CPU of the agents over 3 s, to read the apply's CPU against.
idle_window_ms=10000
for b in 1 2 3; do c0[$b]=$(agent_cpu_ms $b); done
sleep $((idle_window_ms / 1000))
idle=""
for b in 1 2 3; do idle_ms[$b]=$(($(agent_cpu_ms $b) - c0[b])); idle+="${idle_ms[$b]}/"; done
echo "hcagent idle CPU over $((idle_window_ms / 1000)) s, b1/b2/b3: ${idle%/} ms"

up_conv=() up_sysd=() same_conv=() down_conv=() down_sysd=() up_cpu=() same_cpu=() down_cpu=() same_moved=()
for ((r = 1; r <= rounds; r++)); do
  apply /root/up.yaml running
  echo "round $r: start+enable 10 units x 3 boards: all converged ${converged_ms} ms (polled), last unit started ${systemd_ms} ms (journal), start jobs $moved/30, agent CPU b1/b2/b3 ${cpu} ms, load $(load)"
  up_conv+=("$converged_ms") up_sysd+=("$systemd_ms") up_cpu+=("$cpu_net")
  enabled=$(for b in 1 2 3; do on $b systemctl is-enabled "${units[@]}"; done | grep -cx enabled)
  [ "$enabled" = 30 ] || echo "  only $enabled/30 enabled!"
  apply /root/up.yaml running
  echo "round $r: re-apply, nothing to change: all at the new generation and converged ${converged_ms} ms (polled), start or stop jobs $moved, agent CPU ${cpu} ms"
  same_conv+=("$converged_ms") same_moved+=("$moved") same_cpu+=("$cpu_net")
  apply /root/down.yaml stopped
  echo "round $r: stop+disable 10 units x 3 boards: all converged ${converged_ms} ms (polled), last unit stopped ${systemd_ms} ms (journal), stop jobs $moved/30, agent CPU ${cpu} ms"
  down_conv+=("$converged_ms") down_sysd+=("$systemd_ms") down_cpu+=("$cpu_net")
done

# Drift: the units running again, one stopped by hand at a time on each board in turn.
apply /root/up.yaml running
drift=()
for ((i = 0; i < 3 * rounds; i++)); do
  b=$((i % 3 + 1))
  u=${units[$((i % 10))]}
  on $b systemctl stop "$u"
  until [ "$(on $b systemctl show -p ActiveState --value "$u")" = active ]; do sleep 0.02; done
  drift+=("$(on $b systemctl show -p InactiveEnterTimestampMonotonic,ActiveEnterTimestampMonotonic "$u" |
    python3 -c 'import sys; p=dict(l.strip().split("=", 1) for l in sys.stdin); print((int(p["ActiveEnterTimestampMonotonic"]) - int(p["InactiveEnterTimestampMonotonic"])) // 1000)')")
  sleep 0.5
done
echo "drift: a unit stopped by hand, down (systemd's inactive to active again), ms: ${drift[*]}"

# ansible-playbook on b1 alone, the agents stopped (they would fight it), the 10 units stopped and disabled.
for b in 1 2 3; do on $b systemctl stop hcagent.service; done
for facts in true false; do
  {
    echo "- hosts: localhost"
    echo "  connection: local"
    echo "  gather_facts: $facts"
    echo "  tasks:"
    echo "    - name: the 10 units started and enabled"
    echo "      ansible.builtin.systemd: { name: \"{{ item }}\", state: started, enabled: true }"
    echo "      loop: [$(IFS=,; echo "${units[*]}")]"
  } | on 1 sh -c "cat > /root/play-$facts.yml"
done
ansible_run() {  # ansible_run FACTS: prints "SECONDS CHANGED"
  local t0 out
  t0=$(date +%s%N)
  out=$(on 1 env LANG=C.UTF-8 LC_ALL=C.UTF-8 HOME=/root ANSIBLE_NOCOLOR=1 ansible-playbook -i localhost, -c local "/root/play-$1.yml" 2>&1)
  local ms=$((($(date +%s%N) - t0) / 1000000))
  local changed
  changed=$(grep -oE 'changed=[0-9]+' <<<"$out" | tail -1)
  grep -q 'failed=0' <<<"$out" || { echo "ansible failed:" >&2; echo "$out" >&2; }
  echo "$ms ${changed:-changed=?}"
}
ans_up=() ans_same=() ans_up_nofacts=() ans_same_nofacts=()
for ((r = 1; r <= rounds; r++)); do
  for facts in true false; do
    on 1 systemctl disable --now "${units[@]}" 2>/dev/null
    read -r ms changed < <(ansible_run $facts)
    active=$(on 1 systemctl is-active "${units[@]}" | grep -cx active)
    echo "round $r: ansible-playbook (gather_facts: $facts) start+enable 10 units on b1: $ms ms, $changed, $active/10 active, load $(load)"
    read -r ms2 changed2 < <(ansible_run $facts)
    echo "round $r: ansible-playbook (gather_facts: $facts) again, nothing to change: $ms2 ms, $changed2"
    if [ $facts = true ]; then ans_up+=("$ms") ans_same+=("$ms2"); else ans_up_nofacts+=("$ms") ans_same_nofacts+=("$ms2"); fi
  done
done

echo
echo "summary, min / median / max of $rounds runs ($(date -u +%F), load $(load) at the end):"
echo "hcagent start+enable 10 units on 3 boards, apply to all converged (polled): $(stats "${up_conv[@]}") ms"
echo "hcagent start+enable, apply to last unit started (journal): $(stats "${up_sysd[@]}") ms"
echo "hcagent re-apply, nothing to change, to all converged: $(stats "${same_conv[@]}") ms; start or stop jobs: ${same_moved[*]}"
echo "hcagent stop+disable 10 units on 3 boards, to all converged: $(stats "${down_conv[@]}") ms; to last unit stopped (journal): $(stats "${down_sysd[@]}") ms"
echo "hcagent CPU per apply less idle, b1/b2/b3 ms: start ${up_cpu[*]}; no change ${same_cpu[*]}; stop ${down_cpu[*]} (idle: ${idle%/} per $((idle_window_ms / 1000)) s)"
echo "hcagent drift repair (unit down, systemd's view): $(stats "${drift[@]}") ms"
echo "ansible-playbook start+enable 10 units on 1 board: $(stats "${ans_up[@]}") ms; again, no change: $(stats "${ans_same[@]}") ms"
echo "ansible-playbook gather_facts: false, start+enable: $(stats "${ans_up_nofacts[@]}") ms; no change: $(stats "${ans_same_nofacts[@]}") ms"
