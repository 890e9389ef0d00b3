# lab.sh: a LAN of boards on this one machine: network namespaces on a bridge (see shared/notes/LAB.md).
# Set LAB_NAME and LAB_NET first (on their own lines), source it, then: lab_up N; lab_exec 2 CMD...; lab_down. Traffic stays inside the namespaces made here.
LAB_NAME=${LAB_NAME:-hc}          # namespaces ${LAB_NAME}-n1..., bridge ${LAB_NAME}br
LAB_NET=${LAB_NET:-10.77.0}       # board i has ${LAB_NET}.i/24 on its eth0

lab_ns() { echo "${LAB_NAME}-n$1"; }
lab_ip() { echo "${LAB_NET}.$1"; }
lab_bridge() { echo "${LAB_NAME}br"; }

lab_up() {
  local count=$1 i bridge
  bridge=$(lab_bridge)
  lab_down 2>/dev/null || true
  ip link add "$bridge" type bridge
  ip link set "$bridge" up
  for ((i = 1; i <= count; i++)); do
    ip netns add "$(lab_ns "$i")"
    ip link add "${LAB_NAME}v$i" type veth peer name eth0 netns "$(lab_ns "$i")"
    ip link set "${LAB_NAME}v$i" master "$bridge" up
    ip netns exec "$(lab_ns "$i")" ip link set lo up
    ip netns exec "$(lab_ns "$i")" ip link set eth0 up
    ip netns exec "$(lab_ns "$i")" ip addr add "$(lab_ip "$i")/24" dev eth0
  done
}

lab_exec() {
  local board=$1
  shift
  ip netns exec "$(lab_ns "$board")" "$@"
}

# lab_start_child BOARD LOGFILE CMD...: runs CMD on the board in the background; prints its pid (ip netns
# exec execs CMD, so the pid is CMD's own and signals reach it). It stays this shell's child, so `wait PID`
# returns its exit status.
lab_start_child() {
  local board=$1 log=$2
  shift 2
  ip netns exec "$(lab_ns "$board")" "$@" >"$log" 2>&1 &
  echo $!
}

# lab_start: the same, disowned, for what lab_down kills: the shell need not announce each kill. `wait`
# cannot follow it (it returns at once): use lab_start_child where a test needs the exit status.
lab_start() {
  lab_start_child "$@"
  disown $! 2>/dev/null || true
}

# A board dies as a power cut would look from the LAN: its link goes dark.
lab_cut() { ip link set "${LAB_NAME}v$1" down; }
lab_heal() { ip link set "${LAB_NAME}v$1" up; }

lab_down() {
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${LAB_NAME}-n[0-9]*$"); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    # The pair goes with this end at once; left to the namespace, it lingers until the killed processes are
    # gone, and a lab_up right after would find the name taken.
    ip link del "${LAB_NAME}v${ns##*-n}" 2>/dev/null || true
    ip netns del "$ns"
  done
  ip link del "$(lab_bridge)" 2>/dev/null || true
}
