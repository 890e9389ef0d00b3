#!/usr/bin/env bash
# VIP transition hooks and hcctl events on three namespace agents: each board runs its VIP's hook exactly once per
# transition it logged (name and state as arguments and environment), a hook its local policy does not allow is
# not run and is reported, a hook that hangs is killed at its timeout, and after the master is killed
# `hcctl events --json` on a survivor shows the member dead and the VIP's transition; the document's webhook
# (a listener on board 4) gets the new master's transition from it, and the member's death exactly once. Then
# the webhook over HTTPS (through curl): a receiver whose certificate the document's ca_file signs gets the
# events, one whose certificate it does not sign gets nothing and the failures are counted and shown, and a
# board without curl says so once and runs on.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
LAB_NAME=hch
LAB_NET=10.96.0
source "$root/scripts/lab.sh"
require_root

bin=${BIN:-$root/.build/release}
work=$(mktemp -d /tmp/hch.XXXXXX)
cleanup() {
  [ -f "$work/events.pid" ] && kill "$(cat "$work/events.pid")" 2>/dev/null
  lab_down
  [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

vip=$(lab_ip 250)
lab_up 4  # boards 1-3 run agents; board 4 listens for the webhook
chmod 755 "$work"
head -c 32 /dev/urandom | base64 >"$work/gossip.key"
# The hook: one line per run into one file every board shares (O_APPEND: lines do not mix).
cat >"$work/hook.sh" <<SH
#!/bin/sh
echo "node=\$HC_NODE args=\$* vip=\$HC_VIP state=\$HC_STATE previous=\$HC_PREVIOUS" >>$work/hooks.log
SH
# The hook that hangs: records its pid, then sleeps far past its 1 s timeout.
cat >"$work/hang.sh" <<SH
#!/bin/sh
echo \$\$ >>$work/hang.pids
exec sleep 60
SH
chmod 755 "$work/hook.sh" "$work/hang.sh"
for i in 1 2 3; do
  mkdir -p "$work/n$i"
  cat >"$work/n$i/agent.yaml" <<YAML
node: n$i
bind: $(lab_ip $i):7964
join: [$(lab_ip 1):7964, $(lab_ip 2):7964, $(lab_ip 3):7964]
socket: $work/n$i/hc.sock
key_file: $work/gossip.key
state_dir: $work/n$i/state
desired: $work/desired.yaml
metrics: 127.0.0.1:9646
YAML
done
# n1 and n2 allow the hooks by policy; n3's policy allows another command only.
for i in 1 2; do
  cat >>"$work/n$i/agent.yaml" <<YAML
policy:
  exec: ["$work/hook.sh * *", "$work/hang.sh slow master"]
YAML
done
cat >>"$work/n3/agent.yaml" <<YAML
policy:
  exec: ["/usr/bin/true"]
YAML
# The webhook's listener: each POST's body, one line each, into webhook.log; 204 back.
cat >"$work/listener.py" <<'PY'
import http.server, sys
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(sys.argv[1], "ab") as log:
            log.write(body + b"\n")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("0.0.0.0", 8080), Hook).serve_forever()
PY
lab_start 4 "$work/listener.log" python3 "$work/listener.py" "$work/webhook.log" >/dev/null
cat >"$work/desired.yaml" <<YAML
generation: 1
cluster: lab
notify: { webhook: "http://$(lab_ip 4):8080/hcagent" }
nodes: { n1: [], n2: [], n3: [] }
vips:
  - name: front
    address: $vip/24
    interface: eth0
    vrid: 61
    priority: { default: 100, n1: 150, n2: 120 }
    notify: { master: $work/hook.sh, backup: $work/hook.sh, fault: $work/hook.sh }
  - name: slow
    address: $(lab_ip 251)/24
    interface: eth0
    vrid: 62
    priority: { default: 100, n1: 150, n2: 120 }
    notify: { master: $work/hang.sh, timeout: 1s }
YAML
start_agent() { lab_start "$1" "$work/n$1/log" "$bin/hcagent" --config "$work/n$1/agent.yaml" >"$work/n$1/pid"; }
for i in 1 2 3; do start_agent $i; done
source "$here/lib/vrrp.sh"

# The transitions of VIP front into master/backup/fault a board logged, as "state" lines, in order.
logged() { grep -oE "VIP front: [a-z]+ -> (master|backup|fault):" "$work/n$1/log" | sed -E 's/.* -> ([a-z]+):/\1/'; }
# The runs of front's hook on a board, as "state" lines, in order.
ran() { grep "^node=n$1 " "$work/hooks.log" 2>/dev/null | sed -E 's/.* state=([a-z]+) .*/\1/'; }
same_runs_as_transitions() {
  local board=$1
  echo "logged: $(logged "$board" | tr '\n' ' ')"
  echo "ran:    $(ran "$board" | tr '\n' ' ')"
  test -n "$(logged "$board")" && test "$(logged "$board")" = "$(ran "$board")"
}
metric() { lab_exec "$1" curl -sf http://127.0.0.1:9646/metrics | grep "hcagent_hook_runs_total{result=\"$2\"}" | awk '{print $2}'; }
export -f logged ran same_runs_as_transitions metric

echo "start"
check "n1 becomes master of front" wait_until 10 is_state 1 master
check "n2 and n3 are backup" wait_until 5 bash -c "is_state 2 backup && is_state 3 backup"
sleep 1.5  # past the hooks' runs
check "n1 ran front's hook once per transition it logged (backup, then master)" same_runs_as_transitions 1
check "n2 ran front's hook once per transition (starting as backup is one)" same_runs_as_transitions 2
check "the hook got the VIP's name and state as arguments and in the environment" \
  grep -qx "node=n2 args=front backup vip=front state=backup previous=init" "$work/hooks.log"

echo "a hook the local policy does not allow"
check "n3 ran no hook" bash -c "! grep -q '^node=n3 ' $work/hooks.log"
check "n3's log says why" grep -q "VIP front: its backup hook was not run: \"$work/hook.sh front backup\" is not allowed by policy.exec" "$work/n3/log"
check "hcctl status on n3 shows it" bash -c "$bin/hcctl --socket $work/n3/hc.sock status | tee /dev/stderr | grep -q 'not allowed by policy.exec'"
# Every transition of n3's with a hook is refused once: front's (all three states) and slow's into master.
check "it is refused and counted once per transition n3 logged" bash -c "
  front=\$(grep -c 'VIP front: its [a-z]* hook was not run' $work/n3/log); all=\$(grep -c 'hook was not run' $work/n3/log)
  echo \"front refused \$front, front transitions \$(logged 3 | wc -l), all refused \$all, counted \$(metric 3 refused)\"
  test \"\$front\" = \"\$(logged 3 | wc -l)\" && test \"\$all\" = \"\$(metric 3 refused)\""

echo "a hook that hangs"
check "n1 started slow's master hook" wait_until 5 test -s "$work/hang.pids"
check "it is killed at its 1 s timeout" wait_until 3 bash -c "! kill -0 \$(head -1 $work/hang.pids) 2>/dev/null"
check "the timeout is counted and shown" wait_until 3 bash -c "test \"\$(metric 1 timeout)\" = 1 && $bin/hcctl --socket $work/n1/hc.sock status | grep -q 'slow: its master hook failed (not retried): timed out'"
check "VRRP was not held up: n1 still master of both" bash -c "is_state 1 master && test \"\$($bin/hcctl --socket $work/n1/hc.sock vip --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[1][\"state\"])')\" = master"

echo "the master dies (kill -9, link cut)"
ip netns exec "$(lab_ns 2)" "$bin/hcctl" --socket "$work/n2/hc.sock" events --json >"$work/events.json" 2>"$work/events.err" &
echo $! >"$work/events.pid"
"$bin/hcctl" --socket "$work/n3/hc.sock" events >"$work/events.txt" 2>&1 &
echo $! >"$work/events3.pid"
sleep 0.5
n2_before=$(ran 2 | wc -l)
n3_before=$(grep -c "^node=n3 " "$work/hooks.log")
kill -9 "$(cat "$work/n1/pid")"
lab_cut 1
check "n2 takes front" wait_until 5 is_state 2 master
sleep 1.5
check "n2 ran front's master hook exactly once more" bash -c "test \$(( \$(ran 2 | wc -l) - $n2_before )) = 1 && ran 2 | tail -1 | grep -qx master"
check "its arguments: front master, previous backup" bash -c "grep '^node=n2 ' $work/hooks.log | tail -1 | grep -qx 'node=n2 args=front master vip=front state=master previous=backup'"
check "n2 ran front's hook once per transition it logged, all along" same_runs_as_transitions 2
check "n3 (a holder change, no transition) ran nothing" test "$(grep -c "^node=n3 " "$work/hooks.log")" = "$n3_before"
cat >"$work/check1.py" <<'PY'
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
print(events)
assert any(e["kind"] == "vip-transition" and e["subject"] == "front" and e["state"] == "master" and e["previous"] == "backup"
           and e["holder"] == "n2" and e.get("reason") and e["node"] == "n2" for e in events)
PY
check "hcctl events --json on n2 shows front's transition to master with holder and reason" wait_until 3 python3 "$work/check1.py" "$work/events.json"
cat >"$work/check2.py" <<'PY'
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
assert any(e["kind"] == "member-dead" and e["subject"] == "n1" for e in events), events
seqs = [e["seq"] for e in events]
assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
PY
check "hcctl events --json on n2 shows n1 dead" wait_until 30 python3 "$work/check2.py" "$work/events.json"
check "hcctl events on n3 prints one line per event with its time" bash -c "cat $work/events.txt; grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}\\.[0-9]{3} n3 member-(suspect|dead) n1' $work/events.txt"
kill "$(cat "$work/events3.pid")" 2>/dev/null

echo "the webhook"
cat >"$work/check3.py" <<'PY'
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
assert any(e["kind"] == "vip-transition" and e["node"] == "n2" and e["subject"] == "front" and e["state"] == "master" for e in events)
PY
check "it got n2's transition of front to master" wait_until 5 python3 "$work/check3.py" "$work/webhook.log"
cat >"$work/check4.py" <<'PY'
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
dead = [e for e in events if e["kind"] == "member-dead" and e["subject"] == "n1"]
print(dead)
assert len(dead) == 1 and dead[0]["node"] == "n2", dead
PY
check "it got n1's death exactly once, from n2 (the lowest-named live member)" wait_until 5 python3 "$work/check4.py" "$work/webhook.log"
check "every board's own events came from that board (n3's VIP start among them)" \
  bash -c "grep -q '\"node\":\"n3\".*\"kind\":\"vip-transition\"' $work/webhook.log"
echo "the webhook over HTTPS (curl, a private CA)"
# A throwaway CA, the receiver's certificate for board 4's address signed by it, and a rogue receiver's
# certificate signed by another CA (EC keys: quick to make).
mkdir -p "$work/tls" && cd "$work/tls" || exit 1
make_ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.pem" -days 1 -subj "/CN=$1" 2>/dev/null; }
make_cert() {  # NAME CA: a certificate for board 4's address
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$(lab_ip 4)" 2>/dev/null
  printf 'subjectAltName=IP:%s\n' "$(lab_ip 4)" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -out "$1.pem" -days 1 -extfile "$1.ext" 2>/dev/null
}
make_ca homeca && make_ca rogueca && make_cert receiver homeca && make_cert rogue rogueca
cd "$root" || exit 1
cat >"$work/tls-listener.py" <<'PY2'
import http.server, ssl, sys
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(sys.argv[1], "ab") as log:
            log.write(body + b"\n")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("0.0.0.0", int(sys.argv[2])), Hook)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[3], sys.argv[4])
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
PY2
touch "$work/https.log" "$work/rogue.log"
lab_start 4 "$work/tls-listener.log" python3 "$work/tls-listener.py" "$work/https.log" 8443 "$work/tls/receiver.pem" "$work/tls/receiver.key" >/dev/null
lab_start 4 "$work/rogue-listener.log" python3 "$work/tls-listener.py" "$work/rogue.log" 8444 "$work/tls/rogue.pem" "$work/tls/rogue.key" >/dev/null
check "the HTTPS receivers listen" wait_until 20 bash -c "lab_exec 4 ss -ltn | grep -q ':8443 ' && lab_exec 4 ss -ltn | grep -q ':8444 '"
# The document names the receiver and the CA; each live board's own acceptance of it is an event it sends.
with_webhook() {  # GENERATION NOTIFY: the same document, another generation and notify line
  sed -e "s/^generation: .*/generation: $1/" -e "s|^notify: .*|notify: $2|" "$work/desired.yaml" >"$work/desired.new" && mv "$work/desired.new" "$work/desired.yaml"
}
export -f lab_exec lab_ns
failed_tries() { lab_exec "$1" curl -sf http://127.0.0.1:9646/metrics | awk '/^hcagent_webhook_failed_tries_total/ {print $2}'; }
export -f failed_tries
# Tries may have failed before (a listener slower to start than the agents' first events): counted from here.
tries_before=$(failed_tries 2)
echo "  (n2's failed tries before HTTPS: $tries_before)"
with_webhook 2 "{ webhook: \"https://$(lab_ip 4):8443/hcagent\", ca_file: $work/tls/homeca.pem }"
cat >"$work/check5.py" <<'PY2'
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
got = sorted(e["node"] for e in events if e["kind"] == "document-accepted" and e.get("generation") == int(sys.argv[2]))
print(got)
assert got == ["n2", "n3"], got
PY2
check "n2 and n3 sent their acceptance of generation 2 over HTTPS, verified against ca_file" \
  wait_until 20 python3 "$work/check5.py" "$work/https.log" 2
check "none of n2's tries over HTTPS failed" bash -c "test \"\$(failed_tries 2)\" = $tries_before"

echo "an HTTPS receiver whose certificate the CA did not sign"
with_webhook 3 "{ webhook: \"https://$(lab_ip 4):8444/hcagent\", ca_file: $work/tls/homeca.pem }"
check "n2's tries fail and are counted" wait_until 20 bash -c "test \"\$(failed_tries 2)\" -gt $tries_before"
# Four tries, 1 s, 2 s and 4 s apart: then dropped, counted, and shown in status.
check "hcctl status on n2 shows why, once the event is dropped" wait_until 30 bash -c \
  "$bin/hcctl --socket $work/n2/hc.sock status | tee /dev/stderr | grep -q \"webhook: https://$(lab_ip 4):8444/hcagent: curl: the server's certificate is not trusted (not signed by ca_file $work/tls/homeca.pem\""
check "the drop is counted" bash -c "lab_exec 2 curl -sf http://127.0.0.1:9646/metrics | grep -qE '^hcagent_webhook_events_total\\{result=\"dropped\"\\} [1-9]'"
check "the untrusted receiver got nothing" test ! -s "$work/rogue.log"
check "the trusted one got nothing of generation 3" bash -c "! grep -q '\"generation\":3' $work/https.log"

echo "a board without curl"
# n1 comes back with /usr/bin/curl masked (a file without an execute bit bound over it, in its own mount
# namespace): its events cannot go out; it says so once and runs on.
: >"$work/no-curl"
chmod 644 "$work/no-curl"
lab_heal 1
lab_start 1 "$work/n1/log" unshare -m --propagation private sh -c \
  "mount --bind $work/no-curl /usr/bin/curl && exec $bin/hcagent --config $work/n1/agent.yaml" >"$work/n1/pid"
check "n1 is back and takes front again (VRRP runs on)" wait_until 20 is_state 1 master
check "n1's status names the missing curl" wait_until 10 bash -c \
  "$bin/hcctl --socket $work/n1/hc.sock status | tee /dev/stderr | grep -q 'needs /usr/bin/curl, which is missing'"
sleep 1  # more of n1's events (its VIPs' transitions, members) meet the same missing curl
check "n1 logged it once" bash -c "grep -c 'needs /usr/bin/curl, which is missing' $work/n1/log | tee /dev/stderr | grep -qx 1"
check "n1 tried nothing and counted its events dropped" bash -c "test \"\$(failed_tries 1)\" = 0 && lab_exec 1 curl -sf http://127.0.0.1:9646/metrics | grep -qE '^hcagent_webhook_events_total\\{result=\"dropped\"\\} [1-9]'"
# Printed, not checked: memory is bench/rss.sh's to measure (a threshold here would fail by the machine's mood).
echo "  (n2 RSS with a follower and a webhook: $(awk '/VmRSS/ {print $2}' /proc/$(cat "$work/n2/pid")/status) kB)"

finish
