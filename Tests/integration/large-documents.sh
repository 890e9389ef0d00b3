#!/usr/bin/env bash
# Documents up to 1 MiB: three gossiping boards; `hcctl apply` of a ~1 MiB document (many units for a role no
# board has) on one board reaches the others over gossip's push-pull; one just over 1 MiB is refused, by hcctl
# and by the agent itself, with a message that says the limit; the agent's resident memory after the apply is shown.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
LAB_NAME=hcd
LAB_NET=10.93.0
source "$root/scripts/lab.sh"
require_root

bin=${BIN:-$root/.build/release}
work=$(mktemp -d /tmp/hcd.XXXXXX)
cleanup() { lab_down; [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"; }
trap cleanup EXIT

lab_up 3
head -c 32 /dev/urandom | base64 >"$work/gossip.key"
for i in 1 2 3; do
  mkdir -p "$work/n$i"
  cat >"$work/n$i/agent.yaml" <<YAML
node: n$i
bind: $(lab_ip $i):7964
join: [$(lab_ip 1):7964]
key_file: $work/gossip.key
socket: $work/n$i/hc.sock
state_dir: $work/n$i/state
desired: $work/n$i/desired.yaml
metrics: 127.0.0.1:9646
YAML
done
cat >"$work/n1/desired.yaml" <<YAML
generation: 1
cluster: lab
nodes: { n1: [], n2: [], n3: [] }
roles: {}
YAML

# document GENERATION BYTES: a valid document of exactly BYTES bytes: units of a role no board has, the last
# unit's name padded to the size.
document() {
  python3 - "$1" "$2" <<'PY'
import sys
generation, size = int(sys.argv[1]), int(sys.argv[2])
head = f"generation: {generation}\ncluster: lab\nnodes: {{ n1: [], n2: [], n3: [] }}\nroles:\n  spare:\n    units:\n"
line = lambda i, pad="": f"      - {{ name: spare-{i:06d}{pad}.service, state: running }}\n"
units, i = [], 0
while len(head) + sum(map(len, units)) + len(line(i)) + 200 <= size:
    units.append(line(i)); i += 1
text = head + "".join(units)
units.append(line(i, "x" * (size - len(text) - len(line(i)))))
text = head + "".join(units)
assert len(text.encode()) == size, (len(text), size)
sys.stdout.write(text)
PY
}
hcctl() { "$bin/hcctl" --socket "$work/n$1/hc.sock" "${@:2}"; }
generation_of() { hcctl "$1" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["desired"]["generation"])'; }
all_at_generation() { local g=$1 b; shift; for b in "$@"; do [ "$(generation_of "$b")" = "$g" ] || return 1; done; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$(cat "$work/n$1/pid")/status"; }
export bin work
export -f hcctl generation_of all_at_generation

for i in 1 2 3; do lab_start $i "$work/n$i/log" "$bin/hcagent" --config "$work/n$i/agent.yaml" >"$work/n$i/pid"; done
check "three boards run generation 1" wait_until 15 all_at_generation 1 1 2 3
echo "RSS before: n1 $(rss_kib 1) KiB, n2 $(rss_kib 2) KiB, n3 $(rss_kib 3) KiB"

echo "a document of 1 MiB exactly is applied on n1 and reaches n2 and n3"
document 2 1048576 >"$work/big.yaml"
check "the 1 MiB document is 1048576 bytes" test "$(stat -c %s "$work/big.yaml")" = 1048576
start=$(date +%s%N)
check "hcctl apply of the 1 MiB document is accepted" hcctl 1 apply "$work/big.yaml"
check "n1, n2 and n3 run generation 2" wait_until 30 all_at_generation 2 1 2 3
echo "  spread to all three boards in $((($(date +%s%N) - start) / 1000000)) ms (polled)"
check "n2 and n3 keep the same 1 MiB text in their state_dir" wait_until 10 bash -c "cmp $work/big.yaml $work/n2/state/desired.yaml && cmp $work/big.yaml $work/n3/state/desired.yaml"
sleep 2
echo "RSS after the 1 MiB apply: n1 $(rss_kib 1) KiB, n2 $(rss_kib 2) KiB, n3 $(rss_kib 3) KiB"

echo "a document of 1 MiB and one byte is refused, by hcctl and by the agent"
document 3 1048577 >"$work/over.yaml"
check "hcctl refuses it and says the limit" bash -c "! hcctl 1 apply $work/over.yaml 2>$work/over.err; cat $work/over.err; grep -q 'the document is 1048577 bytes; a document is at most 1048576 bytes' $work/over.err"
# The agent checks too, for any client: the same request hcctl would send, written to the socket directly.
refused_by_agent() {
  python3 - "$work/n1/hc.sock" "$work/over.yaml" <<'PY'
import json, socket, sys
text = open(sys.argv[2]).read()
with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
    s.settimeout(10)
    s.connect(sys.argv[1])
    s.sendall((json.dumps({"v": 1, "id": 1, "command": "apply", "file": "over.yaml", "document": text}) + "\n").encode())
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk: break
        reply += chunk
answer = json.loads(reply)
print(answer)
sys.exit(0 if not answer["ok"] and "at most 1048576 bytes" in answer["error"]["message"] else 1)
PY
}
check "the agent refuses it too and says the limit" refused_by_agent
# A request line longer than the socket's bound is refused whole, without the agent reading it into memory.
line_too_long() {
  python3 - "$work/n1/hc.sock" <<'PY'
import json, socket, sys
with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
    s.settimeout(10)
    s.connect(sys.argv[1])
    try:
        s.sendall(b'{"v":1,"command":"apply","document":"' + b"#" * (3 * 1024 * 1024) + b'"}\n')
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        reply = s.recv(65536)
    except ConnectionResetError:
        reply = b"(reset before a reply)"
print(reply)
sys.exit(0 if b'"too-large"' in reply else 1)
PY
}
check "a request line over the bound is refused as too large" line_too_long
check "n1 still runs generation 2" all_at_generation 2 1
check "the agents still run" bash -c "for i in 1 2 3; do kill -0 \$(cat $work/n\$i/pid) || exit 1; done"
echo "RSS at the end: n1 $(rss_kib 1) KiB, n2 $(rss_kib 2) KiB, n3 $(rss_kib 3) KiB"
finish
