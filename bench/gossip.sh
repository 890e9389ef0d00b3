#!/usr/bin/env bash
# Gossip figures of hcagent beside HashiCorp memberlist 0.2.2 (Debian's, DefaultLANConfig, encrypted) in the
# same run, real processes on the namespace lab: join convergence (N = 5 and 10), a crash (link cut + kill -9)
# seen dead at every survivor, steady traffic per node, idle CPU and RSS of one node, false deaths with 20 %
# UDP loss on one node, and the simulator's crash at N = 1000. Prints one line per figure. Needs root and
# `make release`; installs golang-go and golang-github-hashicorp-memberlist-dev when missing.
#
# REPEATS (5) clusters per size and implementation, each one joined then crashed: join and crash lines give
# min / median / max over them. SIZES ("5 10"). SETTLE (10) seconds between join and measurements.
# STEADY_SECONDS (30): traffic and CPU window, in the first cluster of each size. FALSE_DEATH_SECONDS (600) of
# loss, at N = 5. KEEP_WORK=1 keeps the event files. IMPLS ("hcagent memberlist"). SIMULATE (1): 0 skips the simulator (it builds the tests).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
LAB_NAME=hgb
LAB_NET=10.84.0
source "$root/scripts/lab.sh"
source "$root/bench/lib.sh"
bin=${BIN:-$root/.build/release}
work=$(mktemp -d /tmp/hgb.XXXXXX)
trap 'lab_down; [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"' EXIT
repeats=${REPEATS:-5}
sizes=${SIZES:-5 10}
settle=${SETTLE:-10}
steady=${STEADY_SECONDS:-30}
loss_seconds=${FALSE_DEATH_SECONDS:-600}
impls=${IMPLS:-hcagent memberlist}
simulate=${SIMULATE:-1}
export PATH=/opt/swift/usr/bin:$PATH

now_ns() { date +%s%N; }

# memberlist's side: our small program (bench/memberlist/main.go) built offline against Debian's Go tree.
build_memberlist() {
  local missing=() p
  for p in golang-go golang-github-hashicorp-memberlist-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || return 1
  fi
  mkdir -p "$work/go/src/memberlist-peer"
  cp "$root/bench/memberlist/main.go" "$work/go/src/memberlist-peer/"
  (cd "$work/go/src/memberlist-peer" &&
    GO111MODULE=off GOPATH="$work/go:/usr/share/gocode" GOFLAGS= GOCACHE="$work/go/cache" GOPROXY=off \
      go build -o "$work/memberlist-peer" .)
}

# hcagent writes "member NAME (ADDRESS) is STATE" on stderr, without a time: a stamper reads the agent's
# stderr through a FIFO and stamps each line as it arrives. It opens the FIFO before the agent starts and says
# so in "$dir/stamping" (opened without blocking: poll reports no hang-up before a writer came and went).
stamper() {  # stamper DIR
  python3 -u - "$1" <<'PY' >/dev/null 2>"$1/stamper.err" &
import os, re, select, sys, time
d = sys.argv[1]
fd = os.open(f"{d}/fifo", os.O_RDONLY | os.O_NONBLOCK)
out = open(f"{d}/events", "w", buffering=1)
open(f"{d}/stamping", "w").close()
poll = select.poll()
poll.register(fd, select.POLLIN)
pending = b""
while True:
    poll.poll()
    t = time.time_ns()
    try:
        chunk = os.read(fd, 65536)
    except BlockingIOError:
        continue
    if not chunk:
        break
    pending += chunk
    while b"\n" in pending:
        raw, pending = pending.split(b"\n", 1)
        line = raw.decode(errors="replace")
        m = re.search(r"member (\S+) \(.*\) is (\w+)", line)
        if m: out.write(f"{t} {m.group(2)} {m.group(1)}\n")
        elif "gossip on " in line: out.write(f"{t} ready -\n")
        out.write(f"{t} log {line}\n")
PY
}

prepare_node() {  # prepare_node IMPL BOARD: its configuration, and for hcagent its stamper, ready
  local impl=$1 i=$2 dir="$work/n$2" limit
  mkdir -p "$dir"
  [ "$impl" = hcagent ] || return 0
  local join=""
  [ "$i" != 1 ] && join="$(lab_ip 1):7964"
  cat >"$dir/agent.yaml" <<YAML
node: n$i
bind: $(lab_ip "$i"):7964
join: [$join]
key_file: $work/gossip.key
socket: $dir/hc.sock
state_dir: $dir/state
desired: $dir/desired.yaml
metrics: 127.0.0.1:9646
YAML
  rm -f "$dir/fifo" "$dir/stamping"
  mkfifo "$dir/fifo"
  stamper "$dir"
  limit=$(($(date +%s) + 10))
  until [ -e "$dir/stamping" ]; do [ "$(date +%s)" -ge "$limit" ] && return 1; sleep 0.01; done
}

launch_node() {  # launch_node IMPL BOARD: starts it, joining board 1 (but board 1 itself)
  local impl=$1 i=$2 dir="$work/n$2"
  if [ "$impl" = hcagent ]; then
    lab_start "$i" "$dir/fifo" "$bin/hcagent" --config "$dir/agent.yaml" >"$dir/pid"
  else
    local join=()
    [ "$i" != 1 ] && join=(-join "$(lab_ip 1):7946")
    lab_start "$i" "$dir/events" "$work/memberlist-peer" -name "n$i" -bind "$(lab_ip "$i")" -port 7946 \
      -key-file "$work/gossip.key" "${join[@]}" >"$dir/pid"
  fi
}

# The event files: "<ns> alive|suspect|dead|left|gone|ready NAME". memberlist's "gone" is dead or left; no
# node leaves here, so it is a death.
analyse() {  # analyse join N T0 | detect N VICTIM T0 | deaths N T0
  python3 - "$work" "$@" <<'PY'
import sys
work, what, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def events(i):
    out = []
    for line in open(f"{work}/n{i}/events", errors="replace"):
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] != "log":
            out.append((int(parts[0]), parts[1], parts[2].strip()))
    return out
if what == "join":
    t0 = int(sys.argv[4]); last = 0; starts = []
    for i in range(1, n + 1):
        # When its gossip began: memberlist's "start" (before it binds and joins), hcagent's "gossip on".
        begun = [t for t, state, _ in events(i) if state == "start"] or [t for t, state, _ in events(i) if state == "ready"]
        if i > 1 and begun: starts.append(begun[0])
        first = {}
        for t, state, name in events(i):
            if state == "alive" and name not in first: first[name] = t
        missing = [f"n{j}" for j in range(1, n + 1) if j != i and f"n{j}" not in first]
        if missing: print("fail"); sys.exit(1)
        last = max([last] + list(first.values()))
    print(round((last - t0) / 1e6), round((last - max(starts)) / 1e6) if starts else "fail")
elif what == "detect":
    victim, t0 = sys.argv[4], int(sys.argv[5]); seen = []
    for i in range(1, n + 1):
        if f"n{i}" == victim: continue
        times = [t for t, state, name in events(i) if t >= t0 and name == victim and state in ("dead", "gone")]
        if not times: print("fail"); sys.exit(1)
        seen.append(round((min(times) - t0) / 1e6))
    print(max(seen), ",".join(map(str, sorted(seen))))
elif what == "deaths":
    t0 = int(sys.argv[4]); deaths = suspicions = 0; final = {}
    for i in range(1, n + 1):
        for t, state, name in events(i):
            if t < t0: continue
            if state in ("dead", "gone"): deaths += 1
            if state == "suspect": suspicions += 1
            if state in ("alive", "suspect", "dead", "gone"): final[(i, name)] = state
    down = sorted(f"n{i} sees {name} {s}" for (i, name), s in final.items() if s in ("dead", "gone"))
    print(deaths, suspicions, "; ".join(down) or "all alive at the end")
PY
}

wait_for() {  # wait_for SECONDS ANALYSE-ARGS...: prints the analysis once it succeeds, or "fail"
  local limit=$(($(date +%s) + $1)) out
  shift
  while :; do
    out=$(analyse "$@") && { echo "$out"; return 0; }
    [ "$(date +%s)" -ge "$limit" ] && { echo fail; return 1; }
    sleep 0.1
  done
}

ready() { grep -q " ready " "$work/n$1/events" 2>/dev/null; }  # hcagent: "gossip on"; memberlist: created

# A fresh cluster of N: board 1 first, then the others at once, each joining board 1. Prints the join time (ms
# from the start of the last process to every member seeing all N alive), or "fail".
form_cluster() {  # form_cluster IMPL N
  local impl=$1 n=$2 i t_last limit
  lab_up "$n"
  rm -rf "$work"/n*
  for ((i = 1; i <= n; i++)); do prepare_node "$impl" "$i" || { echo fail; return 1; }; done
  launch_node "$impl" 1
  limit=$(($(date +%s) + 10))
  until ready 1; do [ "$(date +%s)" -ge "$limit" ] && { echo fail; return 1; }; sleep 0.02; done
  for ((i = 2; i <= n; i++)); do
    t_last=$(now_ns)
    launch_node "$impl" "$i"
  done
  wait_for 20 join "$n" "$t_last"
}

pid_of() { cat "$work/n$1/pid"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wire_bytes() {  # wire_bytes N rx|tx: sum over the boards' host-side veths (rx there = sent by the board)
  local i sum=0
  for ((i = 1; i <= $1; i++)); do sum=$((sum + $(cat "/sys/class/net/${LAB_NAME}v$i/statistics/$2_bytes"))); done
  echo "$sum"
}

# Traffic per node and node 2's CPU and RSS over STEADY_SECONDS. Prints "SENT RECEIVED CPU% RSS_KIB".
steady_figures() {  # steady_figures N
  local n=$1 pid sent0 recv0 cpu0 sent1 recv1 cpu1 t0 t1
  pid=$(pid_of 2)
  sent0=$(wire_bytes "$n" rx) recv0=$(wire_bytes "$n" tx) cpu0=$(ticks "$pid") t0=$(now_ns)
  sleep "$steady"
  sent1=$(wire_bytes "$n" rx) recv1=$(wire_bytes "$n" tx) cpu1=$(ticks "$pid") t1=$(now_ns)
  python3 -c "
s = ($t1 - $t0) / 1e9
print(round(($sent1 - $sent0) / $n / s), round(($recv1 - $recv0) / $n / s),
      '%.2f' % (100 * ($cpu1 - $cpu0) / $(getconf CLK_TCK) / s), $(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"))"
}

echo "gossip: hcagent beside memberlist 0.2.2, $(date -u +%F), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
head -c 32 /dev/urandom | base64 >"$work/gossip.key"
if [[ " $impls " == *" memberlist "* ]] && ! build_memberlist; then
  echo "memberlist: could not build bench/memberlist (golang-go, golang-github-hashicorp-memberlist-dev)"
  impls=${impls//memberlist/}
fi

for n in $sizes; do
  for impl in $impls; do
    joins=() gossip_joins=() crashes=() survivors=()
    for ((r = 0; r < repeats; r++)); do
      read -r join gossip_join <<<"$(form_cluster "$impl" "$n")"
      joins+=("$join")
      gossip_joins+=("${gossip_join:-fail}")
      [ "$join" = fail ] && { crashes+=(fail); lab_down; continue; }
      sleep "$settle"
      if ((r == 0)); then
        read -r sent recv cpu rss <<<"$(steady_figures "$n")"
        printf '%-10s N=%-2s steady, per node: sent %s B/s, received %s B/s (on the wire, %s s); node 2: CPU %s %% of a core, RSS %s KiB\n' \
          "$impl" "$n" "$sent" "$recv" "$steady" "$cpu" "$rss"
      fi
      victim=$((2 + r % (n - 1)))
      t_cut=$(now_ns)
      lab_cut "$victim"
      ip netns pids "$(lab_ns "$victim")" | xargs -r kill -9
      read -r last each <<<"$(wait_for 30 detect "$n" "n$victim" "$t_cut")"
      crashes+=("$last")
      survivors+=("n$victim:${each:-fail}")
      lab_down
    done
    printf '%-10s N=%-2s join, last process started to all %s alive everywhere: %s (from its gossip start: %s)\n' \
      "$impl" "$n" "$n" "$(summary "${joins[@]}")" "$(summary "${gossip_joins[@]}")"
    printf '%-10s N=%-2s crash seen dead at every survivor: %s (per run, victim: ms until each survivor saw it: %s)\n' "$impl" "$n" \
      "$(summary "${crashes[@]}")" "${survivors[*]}"
  done
done

# False deaths: 20 % of UDP dropped on board 3, both ways (as the simulator's node loss), for FALSE_DEATH_SECONDS.
for impl in $impls; do
  read -r join _ <<<"$(form_cluster "$impl" 5)"
  if [ "$join" = fail ]; then echo "$impl N=5  20 % loss on n3: fail (no cluster)"; lab_down; continue; fi
  sleep "$settle"
  ns=$(lab_ns 3)
  ip netns exec "$ns" nft add table inet hgbloss
  ip netns exec "$ns" nft add chain inet hgbloss in '{ type filter hook input priority 0; }'
  ip netns exec "$ns" nft add chain inet hgbloss out '{ type filter hook output priority 0; }'
  ip netns exec "$ns" nft add rule inet hgbloss in meta l4proto udp numgen random mod 5 0 drop
  ip netns exec "$ns" nft add rule inet hgbloss out meta l4proto udp numgen random mod 5 0 drop
  t_loss=$(now_ns)
  sleep "$loss_seconds"
  read -r deaths suspicions final <<<"$(analyse deaths 5 "$t_loss")"
  suspected=""
  [ "$impl" = hcagent ] && suspected=", $suspicions suspicions"
  printf '%-10s N=5  20 %% UDP loss on n3 (in and out) for %s s: %s false deaths (a member declared dead, counted at each observer)%s; %s\n' \
    "$impl" "$loss_seconds" "$deaths" "$suspected" "$final"
  lab_down
done

if [ "$simulate" = 1 ]; then
  # The deterministic simulator (Tests/GossipTests/Simulation): 1000 cores on virtual time, started converged.
  out=$(cd "$root" && swift test --filter 'GossipSimulationTests/aCrashInALargeCluster' 2>&1)
  line=$(grep -o 'crash at N=1000: .*' <<<"$out" | head -1)
  printf '%-10s N=1000 simulated crash: %s\n' "hcagent" "${line:-fail (swift test: $(tail -1 <<<"$out"))}"
fi
