#!/usr/bin/env bash
# The reconciler against a real systemd (systemd-nspawn): units started, stopped, enabled and disabled as the
# document says; drift undone; a failing unit backed off then degraded; units outside the document untouched;
# a hung unit restarted by its probe; the last accepted document enforced after a restart with no desired.yaml.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
source "$here/lib/container.sh"
require_root

work=$(mktemp -d /tmp/hct-reconcile.XXXXXX)
trap 'container_stop; rm -rf "$work"' EXIT
container_boot hct-rc1 || exit 1

# Test units of our own; hct-bystander is never named by the document.
unit_file() { inside sh -c "cat > /etc/systemd/system/$1"; }
printf '[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n' | unit_file hct-web.service
printf '[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n' | unit_file hct-old.service
printf '[Service]\nExecStart=/bin/false\n' | unit_file hct-flaky.service
printf '[Service]\nExecStart=/bin/sleep infinity\n' | unit_file hct-bystander.service
printf '[Service]\nExecStart=/bin/sleep infinity\n' | unit_file hct-idle.service
# A service with a heartbeat file: "hung" (SIGSTOP) it stops beating; only its probe can tell.
printf '[Service]\nExecStart=/bin/sh -c "while :; do touch /run/hct-hung.beat; sleep 0.3; done"\n' | unit_file hct-hung.service
inside systemctl daemon-reload
inside systemctl enable --now hct-old.service 2>/dev/null
inside systemctl start hct-bystander.service
inside mkdir -p /etc/homecloud
inside sh -c 'head -c 32 /dev/urandom | base64 > /etc/homecloud/gossip.key'
printf 'node: rc1\nbind: 127.0.0.1:7964\nkey_file: /etc/homecloud/gossip.key\n' | inside sh -c 'cat > /etc/homecloud/agent.yaml'
inside sh -c 'cat > /etc/homecloud/desired.yaml' <<'YAML'
generation: 1
cluster: lab
nodes: { rc1: [app] }
roles:
  app:
    units:
      - { name: hct-web.service, state: running, enabled: true }
      - { name: hct-old.service, state: stopped, enabled: false }
      - { name: hct-flaky.service, state: running }
YAML
active() { [ "$(unit_property "$1" ActiveState)" = active ]; }
inactive() { [ "$(unit_property "$1" ActiveState)" != active ]; }

echo "reconciler under systemd"
inside systemctl start hcagent.service
check "a running unit is started" wait_until 10 active hct-web.service
check "... and enabled" wait_until 5 bash -c "test \"\$(nsenter -t $init -a systemctl is-enabled hct-web.service)\" = enabled"
check "a stopped unit is stopped" wait_until 5 inactive hct-old.service
check "... and disabled" wait_until 5 bash -c "test \"\$(nsenter -t $init -a systemctl is-enabled hct-old.service)\" = disabled"
check "a unit the document does not name keeps running" active hct-bystander.service
check "a stopped unit the document does not name stays stopped" inactive hct-idle.service

start=$(date +%s%N)
inside systemctl stop hct-web.service
wait_until 10 active hct-web.service
repaired=$?
echo "  (drift: hct-web.service stopped by hand, running again after $((($(date +%s%N) - start) / 1000000)) ms, systemctl's own stop included)"
check "drift is undone: a unit stopped by hand runs again" test $repaired = 0

degraded() { inside hcctl status --json | python3 -c 'import json,sys; u={x["name"]:x for x in json.load(sys.stdin)["units"]}; f=u["hct-flaky.service"]; sys.exit(0 if f.get("state")=="degraded" and "exit-code" in f.get("reason","") else 1)'; }
check "a failing unit is retried with backoff, then reported degraded with systemd's result" wait_until 45 degraded
check "... after exactly 5 starts (no restart loop)" bash -c "n=\$(nsenter -t $init -a journalctl -u hcagent.service --no-pager | grep -c 'starting hct-flaky.service'); echo \"starts: \$n\"; test \$n = 5"
check "hcctl status shows the node degraded" bash -c "nsenter -t $init -a hcctl status --json | python3 -c 'import json,sys; assert json.load(sys.stdin)[\"convergence\"] == \"degraded\"'"
check "metrics count the degraded unit and the starts" bash -c "
  out=\$(nsenter -t $init -a curl -sf http://127.0.0.1:9646/metrics); grep -E '^hcagent_units\{state=\"degraded\"\} 1' <<<\"\$out\" &&
  grep -E '^hcagent_reconcile_starts_total [1-9]' <<<\"\$out\""
check "the bystander was never touched by the agent" bash -c "! nsenter -t $init -a journalctl -u hcagent.service --no-pager | grep -q hct-bystander"

# hcctl plan tells the truth without acting; hcctl apply acts.
inside sh -c 'cat > /root/next.yaml' <<'YAML'
generation: 1
cluster: lab
nodes: { rc1: [app] }
roles:
  app:
    units:
      - { name: hct-web.service, state: running, enabled: true }
      - { name: hct-idle.service, state: running }
YAML
check "hcctl plan shows the change and this node's exact steps" bash -c "
  out=\$(nsenter -t $init -a hcctl plan /root/next.yaml); echo \"\$out\"
  grep -q 'it would be generation 2' <<<\"\$out\" && grep -q '+ hct-idle.service running' <<<\"\$out\" &&
  grep -q -- '- hct-flaky.service (no longer managed' <<<\"\$out\" && grep -qx '  start hct-idle.service' <<<\"\$out\""
check "... and changes nothing" inactive hct-idle.service
check "hcctl plan locates an error without asking the agent" bash -c "
  printf 'generation: 1\ncluster: lab\nnodes: { rc1: [ghost] }\n' | nsenter -t $init -a sh -c 'cat > /root/bad.yaml'
  out=\$(nsenter -t $init -a hcctl plan /root/bad.yaml 2>&1); code=\$?; echo \"\$out\"
  test \$code = 1 && grep -q '/root/bad.yaml:3:16: nodes.rc1\[0\]: unknown role' <<<\"\$out\""
check "hcctl apply takes it as generation 2" bash -c "nsenter -t $init -a hcctl apply /root/next.yaml | grep -qx 'generation 2 accepted'"
check "... and the new unit runs" wait_until 10 active hct-idle.service
check "... and the dropped unit is left alone, not stopped" bash -c "! nsenter -t $init -a journalctl -u hcagent.service --no-pager | grep -q 'stopping hct-flaky'"

echo "a probe restarts a hung unit"
inside sh -c 'cat > /root/probed.yaml' <<'YAML'
generation: 1
cluster: lab
nodes: { rc1: [app] }
roles:
  app:
    units:
      - { name: hct-web.service, state: running, enabled: true }
      - { name: hct-idle.service, state: running }
      - { name: hct-hung.service, state: running }
probes:
  hung-beat: { file: /run/hct-hung.beat, max_age: 1s, interval: 500ms, rise: 1, fall: 2, unit: hct-hung.service, restart: true }
  web-up: { unit: hct-web.service, interval: 1s }
YAML
check "hcctl apply with the probes" bash -c "nsenter -t $init -a hcctl apply /root/probed.yaml | grep -qx 'generation 3 accepted'"
check "the probes are healthy (file and unit kinds)" wait_until 10 bash -c "
  out=\$(nsenter -t $init -a hcctl probes); grep -qE '^  hung-beat +healthy' <<<\"\$out\" && grep -qE '^  web-up +healthy' <<<\"\$out\" || { echo \"\$out\"; false; }"
before=$(unit_property hct-hung.service InvocationID)
hung_at=$(date +%s%N)
inside systemctl kill -s STOP hct-hung.service
check "the hung unit is restarted by its probe (a new invocation)" wait_until 15 bash -c "
  id=\$(nsenter -t $init -a systemctl show -p InvocationID --value hct-hung.service); test -n \"\$id\" && test \"\$id\" != $before"
echo "  (hung to restarted: $((($(date +%s%N) - hung_at) / 1000000)) ms; max_age 1 s + fall 2 x 500 ms)"
check "... and runs, beating again: the probe is healthy" wait_until 10 bash -c "
  nsenter -t $init -a hcctl probes | grep -qE '^  hung-beat +healthy' && test \"\$(nsenter -t $init -a systemctl show -p ActiveState --value hct-hung.service)\" = active"
check "the agent's log says why it restarted it" bash -c "nsenter -t $init -a journalctl -u hcagent.service --no-pager | grep -q 'restarting hct-hung.service: its probe fails'"
check "metrics count the probe restart and the probes' health" bash -c "
  out=\$(nsenter -t $init -a curl -sf http://127.0.0.1:9646/metrics); grep -E '^hcagent_reconcile_probe_restarts_total [1-9]' <<<\"\$out\" &&
  grep -E '^hcagent_probe_health\{probe=\"hung-beat\"\} 1' <<<\"\$out\" && grep -qE '^hcagent_probe_duration_seconds_count\{probe=\"web-up\"\} [1-9]' <<<\"\$out\" || { echo \"\$out\" | grep -E 'probe'; false; }"

inside systemctl stop hcagent.service
inside rm /etc/homecloud/desired.yaml
inside systemctl stop hct-web.service
inside systemctl start hcagent.service
check "after a restart with no desired.yaml, the last accepted document is enforced" wait_until 10 active hct-web.service
check "... from the state directory" inside test -s /var/lib/homecloud/desired.yaml

finish
