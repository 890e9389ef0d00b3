#!/usr/bin/env bash
# The Debian package on two fresh writable boards (systemd-nspawn on an overlay of the host's /, each on its own
# lab namespace): apt install ./hcagent_*.deb, hcctl init on the first, the join line it printed on the second,
# both agents alive in hcctl members; man hcctl works; an upgrade reloads the agent in place (same PID); apt purge
# removes the keys and the state.
# Builds the package with make deb unless DEB=path/to/hcagent_*.deb is given.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
source "$here/lib/container.sh"  # container_own_cgroup, and containers_stop for the cleanup
LAB_NAME=hcpkg
LAB_NET=10.94.0
source "$root/scripts/lab.sh"
[ "$(id -u)" = 0 ] || { echo "debian-package: needs root"; exit 1; }

work=$(mktemp -d /tmp/hcpkg.XXXXXX)
nspawns=()
cleanup() {
  local pid b
  containers_stop
  for b in 1 2; do
    umount "$work/b$b/root" 2>/dev/null
    umount "$work/b$b" 2>/dev/null
  done
  lab_down
  [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
started=$SECONDS

deb=${DEB:-}
if [ -z "$deb" ]; then
  make -s -C "$root" deb >"$work/deb.log" 2>&1 || { tail -30 "$work/deb.log"; echo "debian-package: make deb failed"; exit 1; }
  deb=$(ls "$root"/hcagent_*.deb | head -1)
fi
echo "  package: $(basename "$deb"), $(du -k "$deb" | cut -f1) KiB"
started=$SECONDS

lab_up 2

# boot_board N: a writable board hcpkg-bN: an overlay of the host's / (changes land in a tmpfs, never on the
# host), booted with its own systemd on lab namespace N. Sets INITN (its PID 1).
boot_board() {
  local b=$1 dir=$work/b$1 name=hcpkg-b$1 pid
  mkdir -p "$dir" && mount -t tmpfs tmpfs "$dir" && mkdir "$dir"/{u,w,root} &&
    mount -t overlay overlay -o "lowerdir=/,upperdir=$dir/u,workdir=$dir/w" "$dir/root" || return 1
  # A fresh board: nothing of a previous install, the package file at hand.
  rm -rf "$dir/root/etc/homecloud" "$dir/root/var/lib/homecloud"
  echo "$name" >"$dir/root/etc/hostname"
  # This host is a Docker-style image whose policy-rc.d forbids maintainer scripts to start or stop services;
  # a board has none.
  rm -f "$dir/root/usr/sbin/policy-rc.d"
  cp "$deb" "$dir/root/root/"
  # The host's own services stay masked: wait-online would hold the boot, keepalived would take VRRP.
  # Each board in a cgroup of its own (container_own_cgroup, lib/container.sh).
  ( container_own_cgroup "$name"
    exec systemd-nspawn --directory="$dir/root" --boot --machine="$name" --register=no --keep-unit --console=passive \
    --network-namespace-path="/run/netns/$(lab_ns "$b")" --capability=CAP_NET_ADMIN \
    systemd.firstboot=off systemd.mask=systemd-networkd-wait-online.service \
    systemd.mask=keepalived.service systemd.mask=nftables.service ) >"$work/console-$b.log" 2>&1 &
  pid=$!
  nspawns+=("$pid")
  wait_until 30 pgrep -P "$pid" -x systemd || { cat "$work/console-$b.log"; return 1; }
  declare -g "INIT$b=$(pgrep -P "$pid" -x systemd)"
  wait_until 90 booted "$b" || { on "$b" systemctl --failed; return 1; }
}
on() { local v="INIT$1"; shift; nsenter -t "${!v}" -a "$@"; }
booted() { [[ "$(on "$1" systemctl is-system-running 2>/dev/null)" =~ ^(running|degraded)$ ]]; }

for b in 1 2; do boot_board $b || { echo "debian-package: board $b did not boot"; exit 1; }; done
echo "  (2 boards booted in $((SECONDS - started)) s)"

install_deb() { on "$1" env DEBIAN_FRONTEND=noninteractive apt-get install -y "/root/$(basename "$deb")"; }
for b in 1 2; do check "b$b: apt install ./$(basename "$deb")" install_deb $b; done
check "b1: the unit is enabled but not started before init (ConditionPathExists)" bash -c \
  "test \"\$(nsenter -t $INIT1 -a systemctl is-enabled hcagent.service)\" = enabled &&
   ! nsenter -t $INIT1 -a systemctl is-active -q hcagent.service"
check "b1: postinst's start was skipped by ConditionPathExists, not failed" bash -c \
  "test \"\$(nsenter -t $INIT1 -a systemctl show -p ConditionResult --value hcagent.service)\" = no &&
   ! nsenter -t $INIT1 -a systemctl is-failed -q hcagent.service"
check "b1: systemd-analyze verify passes on the packaged unit, its man pages included" on 1 systemd-analyze verify /lib/systemd/system/hcagent.service
check "b1: man hcctl renders after install" bash -c "nsenter -t $INIT1 -a env MANWIDTH=80 man hcctl 2>&1 | grep -q 'hcctl join'"
check "b1: man homecloud-agent.yaml renders" bash -c "nsenter -t $INIT1 -a man -w homecloud-agent.yaml | grep -q /usr/share/man/man5"
check "b1: bash completion installed" on 1 test -f /usr/share/bash-completion/completions/hcctl
check "b1: examples under /usr/share/doc/hcagent" on 1 test -f /usr/share/doc/hcagent/examples/desired.yaml

on 1 hcctl init --cluster pkg >"$work/init.out" 2>&1
check "b1: hcctl init succeeds" bash -c "grep -q '^ *hcctl join hcjoin1:' $work/init.out || { cat $work/init.out; exit 1; }"
join=$(grep -o 'hcctl join hcjoin1:[^ ]*' "$work/init.out" | head -1)
refuses() { local out rc; out=$(on "$@" 2>&1); rc=$?; echo "$out"; [ $rc = 1 ] && grep -q 'already configured' <<<"$out"; }
check "b1: hcctl init refuses to overwrite without --force" refuses 1 hcctl init --no-start
check "b1: the admin private key is not left in /etc/homecloud" bash -c "! nsenter -t $INIT1 -a test -e /etc/homecloud/admin.key && nsenter -t $INIT1 -a test -s /run/homecloud-admin.key"
check "b1: hcagent --check accepts what init wrote" on 1 hcagent --check
check "b1: the key files are mode 0600" bash -c "test \"\$(nsenter -t $INIT1 -a stat -c %a /etc/homecloud/gossip.key /run/homecloud-admin.key | sort -u)\" = 600"

on 2 $join >"$work/join.out" 2>&1
check "b2: the printed join command succeeds" bash -c "grep -q 'joining $(lab_ip 1):7964' $work/join.out || { cat $work/join.out; exit 1; }"
check "b2: hcctl join refuses to overwrite without --force" refuses 2 $join --no-start
check "b2: hcagent --check accepts what join wrote" on 2 hcagent --check
check "b2: the same cluster key as b1" bash -c "test \"\$(nsenter -t $INIT1 -a grep -v '^#' /etc/homecloud/gossip.key)\" = \"\$(nsenter -t $INIT2 -a grep -v '^#' /etc/homecloud/gossip.key)\""

for b in 1 2; do
  check "b$b: hcagent.service is active (started by init/join)" wait_until 20 on $b systemctl is-active -q hcagent.service
done
both_alive() {
  local b
  for b in 1 2; do
    on $b hcctl members --json | python3 -c '
import json, sys
view = {m["name"]: m["state"] for m in json.load(sys.stdin)}
print(view)
sys.exit(any(view.get(n) != "alive" for n in ("hcpkg-b1", "hcpkg-b2")))' || return 1
  done
}
check "both boards alive in hcctl members on both" wait_until 30 both_alive
check "b2 received the signed starter document by gossip" wait_until 20 bash -c "test \"\$(nsenter -t $INIT2 -a hcctl status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"desired\"][\"generation\"])')\" = 1"
check "bash completion offers node names from the agent" bash -c \
  "nsenter -t $INIT1 -a bash -c 'source /usr/share/bash-completion/completions/hcctl; COMP_WORDS=(hcctl vip handover front --to \"\"); COMP_CWORD=5; _hcctl; echo \"\${COMPREPLY[*]}\"' | grep -q hcpkg-b2"

# An upgrade (the same package again: dpkg runs the upgrade scripts) reloads the agent in place: same PID, no restart.
pid_before=$(on 1 systemctl show -p MainPID --value hcagent.service)
check "b1: dpkg -i over the installed package (an upgrade)" on 1 env DEBIAN_FRONTEND=noninteractive dpkg -i "/root/$(basename "$deb")"
upgraded_in_place() { on 1 journalctl -u hcagent.service --no-pager | grep -q 'in-place restart: executing /usr/bin/hcagent'; }
check "b1: the upgrade re-executed the agent in place" wait_until 10 upgraded_in_place
check "b1: same PID, unit active, no restart" wait_until 10 bash -c \
  "test \"\$(nsenter -t $INIT1 -a systemctl show -p MainPID --value hcagent.service)/\$(nsenter -t $INIT1 -a systemctl show -p ActiveState --value hcagent.service)/\$(nsenter -t $INIT1 -a systemctl show -p NRestarts --value hcagent.service)\" = $pid_before/active/0"

on 2 env DEBIAN_FRONTEND=noninteractive apt-get purge -y hcagent >"$work/purge.out" 2>&1
check "b2: apt purge succeeds" bash -c "grep -q 'Purging configuration files for hcagent' $work/purge.out || { cat $work/purge.out; exit 1; }"
check "b2: purge removed the keys, agent.yaml and the state" bash -c \
  "! nsenter -t $INIT2 -a test -e /etc/homecloud/gossip.key && ! nsenter -t $INIT2 -a test -e /etc/homecloud/agent.yaml &&
   ! nsenter -t $INIT2 -a test -e /var/lib/homecloud"
check "b2: the agent is stopped" bash -c "! nsenter -t $INIT2 -a systemctl is-active hcagent.service"
check "b2: the binaries are gone" bash -c "! nsenter -t $INIT2 -a ls -l /usr/bin/hcagent /usr/bin/hcctl"

echo "  (took $((SECONDS - started)) s)"
finish
