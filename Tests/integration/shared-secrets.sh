#!/usr/bin/env bash
# Shared secrets on three boards (real systemd in systemd-nspawn, hcagent as its sandboxed unit): b1 publishes
# its k3s token file when it appears; b2 writes a managed file with it (mode 0600) while its status said it
# waited; b3, started late, gets it by push-pull; the value never shows in hcctl status (text and --json), hcctl
# plan, metrics or any agent's log; the state_dir copy is 0600 in a 0700 directory; a changed token rewrites the
# file using it and only that one; a restarted board keeps it from state_dir with the source down; a secret the
# source's policy does not allow is refused and says so.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
source "$here/lib/container.sh"
LAB_NAME=hcs
LAB_NET=10.98.0
source "$root/scripts/lab.sh"
source "$here/lib/boards.sh"
require_root

work=$(mktemp -d /tmp/hcs-secrets.XXXXXX)
nspawns=()
trap boards_cleanup EXIT
started=$SECONDS

lab_up 3
boards_boot hcs 1 2 3 || exit 1
status_json() { on "$1" hcctl status --json; }
has_content() { [ "$(on "$1" cat "$2" 2>/dev/null)" = "$3" ]; }  # has_content BOARD PATH TEXT
stat_is() { [ "$(on "$1" stat -c '%a %U:%G' "$2" 2>/dev/null)" = "$3" ]; }
# secret_state BOARD NAME: "STATE|FINGERPRINT|REASON" of a secret in that board's status.
secret_state() { status_json "$1" | python3 -c '
import json, sys
for s in json.load(sys.stdin).get("secrets") or []:
    if s["name"] == sys.argv[1]: print("%s|%s|%s" % (s["state"], s.get("fingerprint", ""), s.get("reason", "")))' "$2"; }
agent_log() { on "$1" journalctl -u hcagent.service --no-pager -o cat; }
export INIT1 INIT2 INIT3 LAB_NET
export -f on status_json has_content stat_is secret_state agent_log lab_ip

for b in 1 2 3; do
  on $b mkdir -p /etc/homecloud /etc/hcs /etc/systemd/system/hcagent.service.d
  printf '[Service]\nReadWritePaths=/etc/hcs\n' | on $b sh -c 'cat > /etc/systemd/system/hcagent.service.d/shared-secrets.conf'
  on $b systemctl daemon-reload
  board_agent_config $b "1 2" 'policy:
  paths: ["/etc/hcs/*"]
  secrets: ["/var/lib/rancher/k3s/server/*"]'
done
on 1 mkdir -p /var/lib/rancher/k3s/server /root/private

# document GENERATION [PLAIN]: the cluster's document.
document() {
  cat <<YAML
generation: $1
cluster: hcs
nodes:
  b1: { roles: [k3s], address: $(lab_ip 1) }
  b2: { roles: [k3s], address: $(lab_ip 2) }
  b3: { roles: [k3s], address: $(lab_ip 3) }
secrets:
  k3s-token: { from: b1, file: /var/lib/rancher/k3s/server/node-token }
  private: { from: b1, file: /root/private/key }
roles:
  k3s:
    files:
      - path: /etc/hcs/k3s.env
        content: |
          K3S_URL=https://$(lab_ip 1):6443
          K3S_TOKEN={{ secrets.k3s-token }}
      - path: /etc/hcs/plain
        content: "node {{ node }} ${2:-}"
YAML
}
echo "  (3 boards booted in $((SECONDS - started)) s)"

for b in 1 2; do on $b systemctl start hcagent.service; done
check "b1 and b2 see each other alive" wait_until 20 boards_alive 1 2
document 1 | on 1 sh -c 'cat > /root/d.yaml'
check "hcctl apply accepts a document with secrets" bash -c "on 1 hcctl apply /root/d.yaml | grep -qx 'generation 1 accepted'"

echo "before the token file exists"
check "b2 writes the file without a secret" wait_until 10 has_content 2 /etc/hcs/plain "node b2 "
check "b2 waits for the secret: k3s.env not written, status says so" bash -c "
  file_state 2 /etc/hcs/k3s.env | tee /dev/stderr | grep -q '^converging|waiting for secret k3s-token' && on 2 test ! -e /etc/hcs/k3s.env"
check "b1 says it waits for the file to appear" wait_until 5 bash -c "secret_state 1 k3s-token | tee /dev/stderr | grep -q '^waiting||waiting for /var/lib/rancher/k3s/server/node-token to appear'"
check "b1 refuses the secret its policy does not allow, and says why" bash -c "
  secret_state 1 private | tee /dev/stderr | grep -q '^refused||refused: /root/private/key is not allowed by policy.secrets in /etc/homecloud/agent.yaml'"

echo "the token appears on b1"
token1="K10$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')::server:$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
on 1 sh -c "umask 077; echo $token1 > /var/lib/rancher/k3s/server/node-token"
echo "secret-that-must-not-leave" | on 1 sh -c 'umask 077; cat > /root/private/key'
t0=$(date +%s%N)
env1=$(printf 'K3S_URL=https://%s:6443\nK3S_TOKEN=%s' "$(lab_ip 1)" "$token1")
check "b2 writes k3s.env with the token" wait_until 10 has_content 2 /etc/hcs/k3s.env "$env1"
echo "  token file to b2's managed file: $(( ($(date +%s%N) - t0) / 1000000 )) ms (polled)"
check "b1 writes it too" wait_until 5 has_content 1 /etc/hcs/k3s.env "$env1"
check "k3s.env is 0600 root:root (a file using a secret)" bash -c "stat_is 1 /etc/hcs/k3s.env '600 root:root' && stat_is 2 /etc/hcs/k3s.env '600 root:root'"
check "plain is 0644 and was written once" bash -c "stat_is 2 /etc/hcs/plain '644 root:root' && file_state 2 /etc/hcs/plain | grep -q '|1\$'"
check "both boards hold it with the same fingerprint" wait_until 5 bash -c '
  a=$(secret_state 1 k3s-token); b=$(secret_state 2 k3s-token); echo "$a / $b"
  [[ "$a" =~ ^held\|[0-9a-f]{16}\| ]] && [ "$(cut -d"|" -f2 <<<"$a")" = "$(cut -d"|" -f2 <<<"$b")" ]'
check "the refused secret's file was never published" bash -c "secret_state 2 private | tee /dev/stderr | grep -q '^waiting||not received from b1 yet'"
check "b2's state_dir copy is 0600 in a 0700 directory" bash -c "
  stat_is 2 /var/lib/homecloud/secrets '700 root:root' && stat_is 2 /var/lib/homecloud/secrets/k3s-token '600 root:root'"

echo "b3 joins late"
on 3 systemctl start hcagent.service
check "b3 gets the document and the secret, and writes k3s.env" wait_until 15 has_content 3 /etc/hcs/k3s.env "$env1"

echo "the token changes"
sleep 1.1  # a new mtime second for filesystems with coarse timestamps
token2="K10$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')::server:rotated"
fp1=$(secret_state 2 k3s-token | cut -d'|' -f2)
t_change=$(date +%s%N)
on 1 sh -c "umask 077; echo $token2 > /var/lib/rancher/k3s/server/node-token.new && mv /var/lib/rancher/k3s/server/node-token.new /var/lib/rancher/k3s/server/node-token"
env2=$(printf 'K3S_URL=https://%s:6443\nK3S_TOKEN=%s' "$(lab_ip 1)" "$token2")
t0=$(date +%s%N)
# b1 sees the rename with inotify (no stat poll), then b2 fetches the new copy its metadata announces.
check "the renamed-over token is held on b2 with a new fingerprint within 5 s" wait_until 5 bash -c "
  s=\$(secret_state 2 k3s-token); [[ \"\$s\" =~ ^held\\|[0-9a-f]{16}\\| ]] && [ \"\$(cut -d'|' -f2 <<<\"\$s\")\" != '$fp1' ]"
echo "  token file renamed over on b1 to its new copy held on b2: $(( ($(date +%s%N) - t_change) / 1000000 )) ms"
check "k3s.env is rewritten on b2 and b3" wait_until 10 bash -c "has_content 2 /etc/hcs/k3s.env '$env2' && has_content 3 /etc/hcs/k3s.env '$env2'"
echo "  changed token to b2 and b3: $(( ($(date +%s%N) - t0) / 1000000 )) ms (polled)"
check "plain (no secret) was not rewritten" bash -c "file_state 2 /etc/hcs/plain | tee /dev/stderr | grep -q '|1\$' && file_state 3 /etc/hcs/plain | grep -q '|1\$'"
check "k3s.env on b2 was written twice" bash -c "file_state 2 /etc/hcs/k3s.env | tee /dev/stderr | grep -q '^converged||2\$'"
t_change=$(date +%s%N)
on 1 rm /var/lib/rancher/k3s/server/node-token
check "b1 sees its token file removed within 5 s, and keeps the copy it holds" wait_until 5 bash -c "
  secret_state 1 k3s-token | tee /dev/stderr | grep -q '^held|.*|waiting for /var/lib/rancher/k3s/server/node-token to appear'"
echo "  token file removed to b1's status saying so: $(( ($(date +%s%N) - t_change) / 1000000 )) ms"
on 1 sh -c "umask 077; echo $token2 > /var/lib/rancher/k3s/server/node-token"

echo "a restarted board keeps the secret (every other agent is down)"
on 1 systemctl stop hcagent.service
on 3 systemctl stop hcagent.service
on 2 systemctl restart hcagent.service
on 2 rm /etc/hcs/k3s.env
check "b2 writes k3s.env again from its state_dir copy" wait_until 10 has_content 2 /etc/hcs/k3s.env "$env2"
check "and holds it" bash -c "secret_state 2 k3s-token | grep -q '^held|'"
on 1 systemctl start hcagent.service
on 3 systemctl start hcagent.service
check "b1 is back with the same copy, the cluster whole" wait_until 20 boards_alive 1 2 3

echo "the value never shows"
for b in 1 2 3; do document 2 changed | sed 's/ K3S_TOKEN=/ TOKEN=/' | on $b sh -c 'cat > /root/d2.yaml'; done
check "hcctl plan shows the change with the secret as a placeholder" bash -c "
  out=\$(on 2 hcctl plan /root/d2.yaml); echo \"\$out\"
  grep -q '^ *- K3S_TOKEN=«secret k3s-token»' <<<\"\$out\" && grep -q '^ *+ TOKEN=«secret k3s-token»' <<<\"\$out\" && ! grep -qF '$token2' <<<\"\$out\""
for b in 1 2 3; do
  check "b$b: not in hcctl status, status --json, plan, metrics or the log" bash -c "
    for t in '$token1' '$token2' secret-that-must-not-leave; do
      on $b hcctl status | grep -qF \"\$t\" && { echo status; exit 1; }
      on $b hcctl status --json | grep -qF \"\$t\" && { echo json; exit 1; }
      on $b hcctl plan /root/d2.yaml 2>&1 | grep -qF \"\$t\" && { echo plan; exit 1; }
      on $b curl -sf http://127.0.0.1:9646/metrics | grep -qF \"\$t\" && { echo metrics; exit 1; }
      agent_log $b | grep -qF \"\$t\" && { echo log; exit 1; }
    done; true"
done
check "metrics show the secret's fingerprint and when it was made" bash -c "
  on 2 curl -sf http://127.0.0.1:9646/metrics | tee /dev/stderr | grep -Eq '^hcagent_secret_made_timestamp_seconds\\{.*name=\"k3s-token\".*\\} [0-9]+'"

echo "  (test took $((SECONDS - started)) s)"
finish
