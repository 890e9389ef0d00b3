# container.sh: one board with a real systemd, booted with systemd-nspawn from the host's /usr (see LAB.md),
# with a staged `make install` as its /usr/local. Source after checks.sh; needs $root and $work.

# container_boot NAME: installs into $work/stage, boots the container, sets $init (its PID 1) and $nspawn.
container_boot() {
  local name=$1
  make -s -C "$root" install DESTDIR="$work/stage" PREFIX=/usr/local >"$work/install.log" 2>&1 || { cat "$work/install.log"; return 1; }
  # The host's own services stay masked in the container: wait-online would hold the boot for 2 minutes.
  systemd-nspawn --directory=/ --volatile=yes --boot --machine="$name" --register=no --keep-unit \
    --console=passive --private-network --bind-ro="$work/stage/usr/local:/usr/local" \
    systemd.firstboot=off systemd.mask=systemd-networkd-wait-online.service \
    systemd.mask=keepalived.service systemd.mask=nftables.service >"$work/console.log" 2>&1 &
  nspawn=$!
  wait_until 30 container_init_pid || { echo "the container did not boot"; cat "$work/console.log"; return 1; }
  init=$(container_init_pid)
  wait_until 60 container_booted || { echo "systemd in the container did not finish booting"; inside systemctl --failed; return 1; }
}

container_init_pid() { pgrep -P "$nspawn" -x systemd; }
container_booted() { [[ "$(inside systemctl is-system-running 2>/dev/null)" =~ ^(running|degraded)$ ]]; }
container_stop() { [ -n "${nspawn:-}" ] && kill "$nspawn" 2>/dev/null && wait "$nspawn" 2>/dev/null; nspawn=; }

# inside CMD...: runs CMD in the container (all its namespaces).
inside() { nsenter -t "$init" -a "$@"; }
# unit_property UNIT PROPERTY
unit_property() { inside systemctl show -p "$2" --value "$1"; }
