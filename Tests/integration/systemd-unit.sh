#!/usr/bin/env bash
# The installed hcagent.service under a real systemd (systemd-nspawn): verify, READY=1, STATUS=, watchdog
# restart of a stopped agent, reload as an in-place restart (same PID), clean stop, and no restart loop on a bad
# agent.yaml.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
require_root

work=$(mktemp -d /tmp/hct-systemd.XXXXXX)
stage=$work/stage
source "$here/lib/container.sh"
trap 'container_stop; rm -rf "$work"' EXIT

container_boot hct-sd1 || exit 1
unit() { inside systemctl show -p "$1" --value hcagent.service; }

inside mkdir -p /etc/homecloud
inside sh -c 'head -c 32 /dev/urandom | base64 > /etc/homecloud/gossip.key'
inside sh -c 'cat > /etc/homecloud/agent.yaml' <<'YAML'
node: sd1
bind: 127.0.0.1:7964
key_file: /etc/homecloud/gossip.key
YAML
inside sh -c 'cat > /etc/homecloud/desired.yaml' <<'YAML'
generation: 4
cluster: lab
nodes: { sd1: [] }
YAML

echo "hcagent.service under systemd $(inside systemctl --version | head -1 | cut -d' ' -f2)"
# --man=no: this volatile container's /etc is empty, so man cannot run (no manpath.config) to find the unit's
# Documentation=man: pages; debian-package.sh verifies them on a board with a whole /etc.
check "systemd-analyze verify passes on the installed unit" inside systemd-analyze verify --man=no /usr/local/lib/systemd/system/hcagent.service
# A shorter watchdog, so the test does not wait 10 s.
inside mkdir -p /etc/systemd/system/hcagent.service.d
inside sh -c 'printf "[Service]\nWatchdogSec=2s\n" > /etc/systemd/system/hcagent.service.d/test.conf'
inside systemctl daemon-reload
check "systemctl start returns once the agent sent READY=1" inside systemctl start hcagent.service
check "the unit is active (running)" test "$(unit ActiveState)/$(unit SubState)" = active/running
status_text() {  # status_text TEXT: the unit's STATUS= is TEXT (says what it is)
  local now
  now=$(nsenter -t "$init" -a systemctl show -p StatusText --value hcagent.service)
  echo "STATUS=$now"
  test "$now" = "$1"
}
check "STATUS= is the status headline: healthy, one member, no units" wait_until 5 status_text 'healthy: 1 of 1 member alive, no units here'
check "hcctl status opens with the same line" bash -c "test \"\$(nsenter -t $init -a hcctl status | head -1)\" = 'healthy: 1 of 1 member alive, no units here'"
check "hcctl status works inside the container" bash -c "nsenter -t $init -a hcctl status | grep -q 'generation 4'"
check "the control socket is in the RuntimeDirectory" inside test -S /run/homecloud/hcagent.sock
check "the agent runs with only CAP_NET_ADMIN and CAP_NET_RAW" bash -c "
  pid=\$(nsenter -t $init -a systemctl show -p MainPID --value hcagent.service)
  test \"\$(nsenter -t $init -a grep CapEff /proc/\$pid/status | awk '{print \$2}')\" = 0000000000003000"

# systemctl reload is the in-place restart (an upgrade): the same PID executes the binary again, and the unit
# stays active throughout (RELOADING=1, then READY=1 from the new process).
before_reload=$(unit MainPID)
check "systemctl reload returns" inside systemctl reload hcagent.service
reloaded() {
  nsenter -t $init -a journalctl -u hcagent.service --no-pager | grep -q 'in-place restart: executing' &&
    [ "$(nsenter -t $init -a journalctl -u hcagent.service --no-pager | grep -c 'hcagent started')" -ge 2 ]
}
check "the agent executed itself again and started" wait_until 10 reloaded
check "reload kept the PID ($before_reload) and the unit active, without a restart" bash -c "
  test \"\$(nsenter -t $init -a systemctl show -p MainPID --value hcagent.service)\" = $before_reload &&
  test \"\$(nsenter -t $init -a systemctl show -p ActiveState --value hcagent.service)/\$(nsenter -t $init -a systemctl show -p NRestarts --value hcagent.service)\" = active/0"
check "hcctl answers the restarted agent" bash -c "nsenter -t $init -a hcctl status | grep -q 'generation 4'"
check "the re-executed agent still has only CAP_NET_ADMIN and CAP_NET_RAW" bash -c "
  test \"\$(nsenter -t $init -a grep CapEff /proc/$before_reload/status | awk '{print \$2}')\" = 0000000000003000"

first=$(unit MainPID)
inside kill -STOP "$first"
restarted() { [ "$(unit NRestarts)" -ge 1 ] && [ "$(unit MainPID)" != "$first" ] && [ "$(unit SubState)" = running ]; }
check "a stopped (SIGSTOP) agent is restarted by the watchdog" wait_until 20 restarted
check "the journal says it was the watchdog" bash -c "nsenter -t $init -a journalctl -u hcagent.service --no-pager | grep -q 'Watchdog timeout'"

check "systemctl stop ends it cleanly (SIGTERM, exit 0, no SIGKILL)" bash -c "
  nsenter -t $init -a systemctl stop hcagent.service &&
  test \"\$(nsenter -t $init -a systemctl show -p Result --value hcagent.service)\" = success"

inside sh -c 'echo "bnd: 1.2.3.4:5" > /etc/homecloud/agent.yaml'
inside systemctl reset-failed hcagent.service 2>/dev/null
inside systemctl start hcagent.service 2>/dev/null
sleep 2
check "a bad agent.yaml fails the start with exit status 2" test "$(unit ExecMainStatus)" = 2
check "... and is not restarted in a loop" test "$(unit NRestarts)" = 0
check "... and the journal has the located error" bash -c "nsenter -t $init -a journalctl -u hcagent.service --no-pager | grep -q '/etc/homecloud/agent.yaml:1:1: bnd: unknown key'"

make -s -C "$root" uninstall DESTDIR="$stage" PREFIX=/usr/local >/dev/null 2>&1
check "make uninstall removes binaries, unit and docs, and keeps the configuration" bash -c "
  test -z \"\$(find $stage/usr/local -type f)\" && test -e $stage/etc/homecloud/agent.yaml"

finish
