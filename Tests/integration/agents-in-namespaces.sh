#!/usr/bin/env bash
# Three real agents on a namespace LAN: hcctl status, documents refused and kept, SIGHUP, exit codes, root-only
# changes, a hostile control client, metrics, and a SIGTERM stop within 2 s.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
LAB_NAME=hct
LAB_NET=10.78.0
source "$root/scripts/lab.sh"
require_root

bin=${BIN:-$root/.build/release}
work=$(mktemp -d /tmp/hct-agents.XXXXXX)
chmod 755 "$work"  # the non-root checks below must reach a socket in here
cleanup() { lab_down; rm -rf "$work"; }
trap cleanup EXIT

lab_up 3
head -c 32 /dev/urandom | base64 >"$work/gossip.key"
for i in 1 2 3; do
  mkdir -p "$work/n$i"
  cat >"$work/n$i/agent.yaml" <<YAML
node: lab-n$i
bind: $(lab_ip $i):7964
join: [$(lab_ip 1):7964, $(lab_ip 2):7964, $(lab_ip 3):7964]
interface: eth0
socket: $work/n$i/hc.sock
key_file: $work/gossip.key
state_dir: $work/n$i/state
desired: $work/n$i/desired.yaml
metrics: 127.0.0.1:964$i
YAML
  cat >"$work/n$i/desired.yaml" <<YAML
generation: 1
cluster: lab
nodes: { lab-n1: [web], lab-n2: [web], lab-n3: [] }
roles:
  web:
    units:
      - { name: nginx.service, state: running, enabled: true }
vips:
  - { name: front, address: $(lab_ip 100)/24, interface: eth0, vrid: 51, advert: 100ms }
YAML
  # n1 is stopped and waited for below: it stays this shell's child.
  launch=lab_start; [ "$i" = 1 ] && launch=lab_start_child
  $launch $i "$work/n$i/log" "$bin/hcagent" --config "$work/n$i/agent.yaml" >"$work/n$i/pid"
done
hcctl() { "$bin/hcctl" "$@"; }
sock() { echo "$work/n$1/hc.sock"; }

echo "agents in namespaces"
check "every agent answers hcctl status" wait_until 10 bash -c "for i in 1 2 3; do $bin/hcctl --socket $work/n\$i/hc.sock status >/dev/null || exit 1; done"
check "status shows node, generation and this node's units" bash -c "
  out=\$($bin/hcctl --socket $(sock 1) status); echo \"\$out\"
  grep -q 'node     lab-n1 (cluster lab)' <<<\"\$out\" && grep -q 'generation 1' <<<\"\$out\" && grep -q 'nginx.service  running' <<<\"\$out\""
check "status --json has the documented fields" bash -c "
  $bin/hcctl --socket $(sock 2) status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s[\"node\"] == \"lab-n2\" and s[\"desired\"][\"generation\"] == 1, s
me = [m for m in s[\"members\"] if m[\"name\"] == \"lab-n2\"][0]
assert me[\"address\"] == \"10.78.0.2:7964\" and me[\"state\"] == \"alive\", s
assert s[\"vips\"][0][\"name\"] == \"front\" and \"holder\" in s[\"vips\"][0] and s[\"vips\"][0][\"state\"], s
u = s[\"units\"][0]
assert (u[\"name\"], u[\"desired\"], u[\"active\"]) == (\"nginx.service\", \"running\", \"unknown\"), s
assert \"reconciler off\" in u[\"reason\"] and s[\"headline\"].startswith(\"attention: reconciler\"), s
'"
check "the control socket has mode 0660" test "$(stat -c %a "$(sock 1)")" = 660
check "metrics are served with the desired generation" bash -c "ip netns exec hct-n1 curl -sf http://127.0.0.1:9641/metrics | grep -q '^hcagent_desired_generation 1'"
check "metrics report resident memory" bash -c "ip netns exec hct-n1 curl -sf http://127.0.0.1:9641/metrics | grep -q '^process_resident_memory_bytes [1-9]'"

echo "bad documents are refused and the last good one stays"
sed -i 's/generation: 1/generation: 2/; s/state: running/state: sprinting/' "$work/n1/desired.yaml"
check "a bad document is shown as refused with its location" wait_until 5 bash -c "$bin/hcctl --socket $(sock 1) status | grep -q 'desired.yaml:7:39: roles.web.units\[0\].state: expected running or stopped'"
check "generation 1 stays in force" bash -c "$bin/hcctl --socket $(sock 1) status --json | python3 -c 'import json,sys; s=json.load(sys.stdin); assert s[\"desired\"][\"generation\"] == 1 and len(s[\"desired\"][\"rejected\"]) == 1, s'"
check "the refusal is in the log with the same message" grep -q 'desired.yaml:7:39: roles.web.units\[0\].state' "$work/n1/log"
check "hcagent --check reports the same error and exits 2" bash -c "$bin/hcagent --check --config $work/n1/agent.yaml | grep -q 'desired.yaml:7:39:'; test \${PIPESTATUS[0]} = 2"
sed -i 's/sprinting/stopped/' "$work/n1/desired.yaml"
check "a fixed document with a higher generation is taken" wait_until 5 bash -c "$bin/hcctl --socket $(sock 1) status | grep -q 'nginx.service  stopped'"
printf 'generation: 3\ncluster: lab\n' >"$work/n2/desired.yaml.new" && mv "$work/n2/desired.yaml.new" "$work/n2/desired.yaml"
kill -HUP "$(cat "$work/n2/pid")"
check "SIGHUP rereads the document" wait_until 5 bash -c "$bin/hcctl --socket $(sock 2) status | grep -q 'generation 3'"

echo "hcctl exit codes and rights"
check "hcctl exits 3 with one line when no agent runs" bash -c "
  out=\$($bin/hcctl --socket /nonexistent/hc.sock status 2>&1); code=\$?; echo \"\$out\"
  test \$code = 3 && test \"\$out\" = 'hcctl: hcagent is not running (no socket at /nonexistent/hc.sock)'"
check "hcctl exits 2 on a usage mistake" bash -c "$bin/hcctl status --bogus; test \$? = 2"
check "hcagent exits 2 on a usage mistake" bash -c "$bin/hcagent --bogus; test \$? = 2"
check "an agent without key_file refuses to start (exit 2) and says how to make one" bash -c "
  grep -v key_file $work/n1/agent.yaml >$work/nokey.yaml
  out=\$($bin/hcagent --config $work/nokey.yaml 2>&1); code=\$?; echo \"\$out\"
  test \$code = 2 && grep -q 'key_file: not set: gossip is always encrypted' <<<\"\$out\" && grep -q -- '--insecure-gossip' <<<\"\$out\""
check "a key file that is not a key is refused with its line" bash -c "
  echo not-a-key >$work/bad.key; sed 's|key_file: .*|key_file: $work/bad.key|' $work/n1/agent.yaml >$work/badkey.yaml
  out=\$($bin/hcagent --config $work/badkey.yaml 2>&1); code=\$?; echo \"\$out\"
  test \$code = 2 && grep -q 'bad.key:1: not a key' <<<\"\$out\""
chmod 755 "$work/n3"
chgrp nogroup "$(sock 3)"
check "a non-root user in the socket's group can read status" setpriv --reuid=nobody --regid=nogroup --clear-groups "$bin/hcctl" --socket "$(sock 3)" status
check "a non-root user cannot change anything (exit 1, needs root)" bash -c "
  out=\$(setpriv --reuid=nobody --regid=nogroup --clear-groups $bin/hcctl --socket $(sock 3) reload 2>&1); code=\$?; echo \"\$out\"
  test \$code = 1 && grep -q 'needs root' <<<\"\$out\""
# (n3's own file still says generation 1; gossip has brought it the newer documents of n1 and n2.)
check "root can reload" bash -c "$bin/hcctl --socket $(sock 3) reload | grep -q 'older than the one in force: not taken'"

echo "a hostile control client changes nothing"
check "garbage, wrong versions and a 3 MiB line get error replies; other clients are served" python3 - "$(sock 3)" <<'PY'
import json, socket, sys
path = sys.argv[1]
def conn():
    s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(path); return s
idle = conn(); idle.sendall(b'{"v":1,')            # holds a half request open
s = conn()
s.sendall(b'\x00\xff garbage\n{"v":9,"command":"status"}\n{"v":1,"command":"launch"}\n')
replies = b''
while replies.count(b'\n') < 3: replies += s.recv(65536)
codes = [json.loads(line)["error"]["code"] for line in replies.splitlines()]
assert codes == ["bad-request", "unsupported-version", "unknown-command"], codes
big = conn()
# Over the request line's bound (2 MiB + 64 KiB: a 1 MiB document, JSON-escaped, must fit).
try: big.sendall(b'x' * (3 << 20))
except (BrokenPipeError, ConnectionResetError): pass   # the agent answers and closes before reading it all
reply = json.loads(big.makefile().readline()); assert reply["error"]["code"] == "too-large", reply
s.sendall(b'{"v":1,"id":5,"command":"status"}\n')
reply = json.loads(s.makefile().readline()); assert reply["ok"] and reply["id"] == 5, reply
PY
check "the agent survived it" "$bin/hcctl" --socket "$(sock 3)" status

echo "graceful stop"
pid=$(cat "$work/n1/pid")
start=$(date +%s%N)
kill -TERM "$pid"
wait "$pid"
code=$?
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
echo "  (SIGTERM to exit: ${elapsed_ms} ms)"
check "SIGTERM stops the agent with status 0" test "$code" = 0
check "SIGTERM stops the agent within 2 s" test "$elapsed_ms" -lt 2000
check "the socket file is removed on stop" test ! -e "$(sock 1)"

finish
