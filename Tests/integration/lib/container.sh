# container.sh: one board with a real systemd, booted with systemd-nspawn from the host's /usr (see LAB.md),
# with a staged `make install` as its /usr/local. Source after checks.sh; needs $root and $work.

# container_boot NAME [NETNS]: installs into $work/stage (once per $work), boots the container, sets $init (its
# PID 1) and $nspawn. With NETNS (a namespace of scripts/lab.sh, /run/netns/NETNS) the container is that board
# of the lab, on its eth0; without, it has a private network with only lo. Several can run at once: keep each
# one's $init and $nspawn (container_stop stops the one in $nspawn).
container_boot() {
  container_start "$@" && container_wait "$1"
}

# container_start NAME [NETNS]: the first half of container_boot: starts the container and sets $nspawn without
# waiting for it, so several can boot at once (then container_wait each, with its $nspawn).
# A script may set the arrays container_options (more systemd-nspawn options, e.g. --bind= of a state_dir that
# outlives the board's volatile root) and container_boot_args (more arguments for its systemd, e.g.
# systemd.wants=hcagent.service, so the agent starts at boot) before calling it.
container_start() {
  local name=$1 netns=${2:-} network=(--private-network)
  if [ ! -x "$work/stage/usr/local/bin/hcagent" ]; then
    # Under make check (HC_RELEASE_BUILT, test-integration has just built it) the release build is not asked
    # again: swift build would only find nothing to do, and that costs seconds on every script.
    local built=()
    [ -n "${HC_RELEASE_BUILT:-}" ] && built=(-o release)
    make -s -C "$root" "${built[@]}" install DESTDIR="$work/stage" PREFIX=/usr/local >"$work/install.log" 2>&1 || { cat "$work/install.log"; return 1; }
  fi
  # CAP_NET_ADMIN is kept only with --private-network; the lab's namespace needs it said (VRRP's netlink).
  [ -n "$netns" ] && network=(--network-namespace-path="/run/netns/$netns" --capability=CAP_NET_ADMIN)
  # The host's own services stay masked in the container: wait-online would hold the boot for 2 minutes.
  ( container_own_cgroup "$name"
    exec systemd-nspawn --directory=/ --volatile=yes --boot --machine="$name" --register=no --keep-unit \
    --console=passive "${network[@]}" --bind-ro="$work/stage/usr/local:/usr/local" \
    ${container_options[@]+"${container_options[@]}"} \
    systemd.firstboot=off systemd.mask=systemd-networkd-wait-online.service \
    systemd.mask=keepalived.service systemd.mask=nftables.service \
    ${container_boot_args[@]+"${container_boot_args[@]}"} ) >"$work/console-$name.log" 2>&1 &
  nspawn=$!
}

# container_own_cgroup NAME: moves this (sub)shell, and so the systemd-nspawn it becomes, into a cgroup of its
# own. With --keep-unit on a host without systemd, every container's payload would be the same /payload: the
# boards' systemds would share one system.slice, each taking the others' units (systemd-sysusers, dbus) for its
# own, and a boot failed or hung now and then (a clean-clone make check, 2026-12-07: two scripts). Best effort:
# where a hierarchy cannot be had, the container boots as before.
container_own_cgroup() {
  local group="hc-nspawn/$1.$BASHPID" hierarchy
  # The unified hierarchy too (the boards' systemds use both): mounted here if the host has it nowhere.
  if ! awk '$3 == "cgroup2" { found = 1 } END { exit !found }' /proc/mounts; then
    mkdir -p /run/hc-cgroup2 && mount -t cgroup2 cgroup2 /run/hc-cgroup2 2>/dev/null
  fi
  for hierarchy in $(systemd_cgroup_hierarchies); do
    mkdir -p "$hierarchy/$group" 2>/dev/null && echo "$BASHPID" >"$hierarchy/$group/cgroup.procs" 2>/dev/null ||
      echo "(container $1: no cgroup of its own in $hierarchy)"
  done
}

# Where the cgroup hierarchies that systemd uses are mounted: the unified one and name=systemd.
systemd_cgroup_hierarchies() { awk '$3 == "cgroup2" || ($3 == "cgroup" && $4 ~ /name=systemd/) { print $2 }' /proc/mounts | sort -u; }

# container_wait NAME: the second half: waits until the container in $nspawn has booted and sets $init.
container_wait() {
  local name=$1
  wait_until 30 container_init_pid || { echo "the container did not boot"; cat "$work/console-$name.log"; return 1; }
  init=$(container_init_pid)
  wait_until 60 container_booted || {
    echo "systemd in the container did not finish booting ($(inside systemctl is-system-running 2>&1))"
    inside systemctl --failed --no-legend; inside systemctl list-jobs --no-legend | head -5
    inside journalctl -b --no-pager -o short-monotonic -p warning | tail -12
    return 1
  }
}

container_init_pid() { pgrep -P "$nspawn" -x systemd; }
container_booted() { [[ "$(inside systemctl is-system-running 2>/dev/null)" =~ ^(running|degraded)$ ]]; }
container_stop() {
  if [ -n "${nspawn:-}" ]; then local nspawns=("$nspawn"); containers_stop; fi
  nspawn=
}
# containers_stop: stops every container whose systemd-nspawn pid a script kept in its array nspawns, together.
containers_stop() {
  local pid tries alive
  for pid in "${nspawns[@]}"; do kill "$pid" 2>/dev/null; done
  # A board that has not powered off within 20 s is killed, its PID namespace's init first: a cleanup must
  # never hold a test run (once a board's systemd sat with only journald left, and the run waited on it).
  for ((tries = 0; tries < 200; tries++)); do
    alive=0
    for pid in "${nspawns[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${nspawns[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      echo "  (a board's systemd-nspawn, pid $pid, did not power off within 20 s: killed)"
      pkill -KILL -P "$pid" 2>/dev/null
      kill -KILL "$pid" 2>/dev/null
    fi
  done
  for pid in "${nspawns[@]}"; do wait "$pid" 2>/dev/null; done
  # Their cgroups (container_own_cgroup), and any left by a container whose nspawn is gone (a power cut's):
  # deepest first, as cgroupfs wants, once the last process has left.
  local dir group left
  for ((tries = 0; tries < 20; tries++)); do
    left=0
    for dir in $(systemd_cgroup_hierarchies); do
      for group in "$dir"/hc-nspawn/*.[0-9]*; do
        [ -d "$group" ] && ! kill -0 "${group##*.}" 2>/dev/null || continue
        find "$group" -depth -type d | xargs -r rmdir 2>/dev/null || left=1
      done
    done
    ((left)) || break
    sleep 0.1
  done
}

# inside CMD...: runs CMD in the container (all its namespaces).
inside() { nsenter -t "$init" -a "$@"; }
# unit_property UNIT PROPERTY
unit_property() { inside systemctl show -p "$2" --value "$1"; }
