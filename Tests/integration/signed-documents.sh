#!/usr/bin/env bash
# Four boards trust one admin key and have a local policy; a fifth board holds the gossip key but no admin key
# and is configured to take anything, as a compromised board would be. Its unsigned, foreign-signed and
# replayed documents, a hand-written desired.yaml and an unsigned apply on a trusting board, and a tampered
# persisted copy are all refused (status and metrics say so, the generation in force stays, a refused document
# is not fetched again); a signed apply spreads to all; a document outside one board's policy is refused on
# that board only, and hcctl plan says so there first.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
LAB_NAME=hcs
LAB_NET=10.86.0
source "$root/scripts/lab.sh"
require_root

bin=${BIN:-$root/.build/release}
work=$(mktemp -d /tmp/hcs.XXXXXX)
cleanup() { lab_down; [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"; }
trap cleanup EXIT

lab_up 5
head -c 32 /dev/urandom | base64 >"$work/gossip.key"
check "hcctl keys admin generate writes a key of mode 0600 and prints its public line" bash -c "
  $bin/hcctl keys admin generate --out $work/admin.key >$work/admin.pub && test \$(stat -c %a $work/admin.key) = 600 &&
  grep -Eq '^ed25519 [0-9a-f]{16} [A-Za-z0-9+/]{43}=\$' $work/admin.pub"
check "it never overwrites a key (exit 1)" bash -c "$bin/hcctl keys admin generate --out $work/admin.key; test \$? = 1"
"$bin/hcctl" keys admin generate --out "$work/stranger.key" >"$work/stranger.pub" 2>/dev/null
admin_pub=$(cat "$work/admin.pub")
admin_id=$(cut -d' ' -f2 "$work/admin.pub")

# configure BOARD TRUST EXEC: TRUST=yes lists the admin key; EXEC is the policy's exec list.
configure() {
  mkdir -p "$work/n$1"
  cat >"$work/n$1/agent.yaml" <<YAML
node: n$1
bind: $(lab_ip "$1"):7964
join: [$(lab_ip 1):7964]
key_file: $work/gossip.key
socket: $work/n$1/hc.sock
state_dir: $work/n$1/state
desired: $work/n$1/desired.yaml
metrics: 127.0.0.1:9646
YAML
  if [ "$2" = yes ]; then
    cat >>"$work/n$1/agent.yaml" <<YAML
trusted_admin_keys:
  - $admin_pub
policy:
  units: [hc-trust-*.service]
  exec: $3
YAML
  fi
}
for i in 1 2 3; do configure $i yes '[/bin/true]'; done
configure 4 yes '[]'  # n4 lets the document run no command
configure 5 no        # the compromised board: the gossip key, no admin key, takes anything

cat >"$work/doc.yaml" <<YAML
generation: 1
cluster: lab
nodes: { n1: [base], n2: [base], n3: [base], n4: [base], n5: [] }
roles:
  base:
    units: [ { name: hc-trust-a.service, state: stopped } ]
YAML
start_agent() { lab_start "$1" "$work/n$1/log.$(date +%s%N)" "$bin/hcagent" --config "$work/n$1/agent.yaml" >"$work/n$1/pid"; }
stop_agent() { local pid; pid=$(cat "$work/n$1/pid"); kill -TERM "$pid"; wait_until 5 bash -c "! kill -0 $pid 2>/dev/null"; }
hcctl() { local b=$1; shift; "$bin/hcctl" --socket "$work/n$b/hc.sock" "$@"; }
status_json() { hcctl "$1" status --json; }
generation_of() { status_json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["desired"]["generation"])'; }
all_at_generation() { local g=$1 b; shift; for b in "$@"; do [ "$(generation_of "$b")" = "$g" ] || { echo "n$b: $(generation_of "$b")"; return 1; }; done; }
# refused_on BOARD REASON TEXT: BOARD's status lists a refusal for REASON whose messages contain TEXT.
refused_on() {
  status_json "$1" | python3 -c '
import json, sys
refused = json.load(sys.stdin)["desired"].get("refused") or []
print(refused)
sys.exit(not any(r["reason"] == sys.argv[1] and sys.argv[2] in " ".join(m["message"] for m in r["messages"]) for r in refused))' "$2" "$3"
}
refusals_counted() { lab_exec "$1" curl -sf http://127.0.0.1:9646/metrics | awk -v r="hcagent_desired_refused_total{reason=\"$2\"}" '$1 == r {print $2}'; }
alive_all() { hcctl "$1" members --json | python3 -c 'import json,sys; v={m["name"]:m["state"] for m in json.load(sys.stdin)}; print(v); sys.exit(sum(s=="alive" for s in v.values()) != 5)'; }
export bin work LAB_NAME LAB_NET
export -f hcctl status_json generation_of all_at_generation refused_on alive_all refusals_counted lab_exec lab_ns

echo "five boards, four of them trusting the admin key"
for i in 1 2 3 4 5; do start_agent $i; done
check "all five see each other" wait_until 10 bash -c 'for b in 1 2 3 4 5; do alive_all $b || exit 1; done'
check "a trusting board logs no warning about keys; the compromised one says it takes anything" bash -c "
  ! grep -q 'no trusted_admin_keys' $work/n1/log.* && grep -q 'no trusted_admin_keys in agent.yaml' $work/n5/log.* && grep -q 'no policy in agent.yaml' $work/n5/log.*"
check "status says which documents a board takes" bash -c "
  hcctl 1 status | grep -q 'trust    signed documents only (admin keys $admin_id)' && hcctl 5 status | grep -q 'trust    ANY document'"

echo "a signed apply spreads to every board"
check "hcctl apply --sign on n2" hcctl 2 apply "$work/doc.yaml" --sign "$work/admin.key"
check "every board runs generation 1" wait_until 5 all_at_generation 1 1 2 3 4 5
check "status shows who signed it" bash -c "hcctl 4 status | grep -q 'in force signed by $admin_id'"
check "the persisted copy carries the signature line" grep -q "^# hcagent-signature: ed25519 $admin_id " "$work/n3/state/desired.yaml"

echo "a board with the gossip key but no admin key cannot change the others"
sed 's/generation: 1/generation: 7/; s/hc-trust-a.service/debug-shell.service/; s/state: stopped/state: running/' "$work/doc.yaml" >"$work/evil.yaml"
check "n5 (takes anything) applies an unsigned document: generation 7 there" bash -c "hcctl 5 apply $work/evil.yaml && [ \$(generation_of 5) = 7 ]"
# Within 5 s in every run but one clean-clone make check (2026-12-06), where some board had not refused it
# yet: now 10 s, and a refusal slower than 5 s is said, to find out why.
all_refused() { for b in 1 2 3 4; do refused_on $b signature "not signed" || return 1; done; }
export -f all_refused
refuse_started=$SECONDS
check "every trusting board refuses it from gossip as unsigned" wait_until 10 all_refused
(( SECONDS - refuse_started > 5 )) && echo "  (the refusals took $((SECONDS - refuse_started)) s: over the 5 s this used to allow)"
check "and keeps generation 1" all_at_generation 1 1 2 3 4
check "the refusal is counted as reason=\"signature\"" bash -c '[ "$(refusals_counted 1 signature)" -ge 1 ]'
first=$(refusals_counted 1 signature)
sleep 4
check "a refused document is refused once: no new count 4 s later" bash -c "[ \"\$(refusals_counted 1 signature)\" = '$first' ]; "
check "n1 logged it once" bash -c "[ \$(grep -c 'a document from .* was refused' $work/n1/log.*) = 1 ]"

"$bin/hcctl" keys admin public --key "$work/stranger.key" >/dev/null
cp "$work/evil.yaml" "$work/evil8.yaml" && sed -i 's/generation: 7/generation: 8/' "$work/evil8.yaml"
check "n5 applies a document signed by a key nobody trusts" hcctl 5 apply "$work/evil8.yaml" --sign "$work/stranger.key"
check "the trusting boards refuse it: unknown key" wait_until 5 bash -c 'for b in 1 2 3 4; do refused_on $b signature "not in this board" || exit 1; done'
# A replay: the admin's generation-1 document, renumbered 9 by hand (the signature line kept).
sed 's/^generation: 1$/generation: 9/' "$work/n3/state/desired.yaml" >"$work/replay.yaml"
check "n5 applies the admin's old document renumbered to 9" hcctl 5 apply "$work/replay.yaml"
check "the trusting boards refuse it: the signature does not match" wait_until 5 bash -c 'for b in 1 2 3 4; do refused_on $b signature "does not match" || exit 1; done'
check "generation 1 is still in force on n1-n4" all_at_generation 1 1 2 3 4

check "an unsigned hcctl apply on a trusting board is refused (exit 1) with a clear message" bash -c "
  out=\$(hcctl 2 apply $work/evil.yaml 2>&1); code=\$?; echo \"\$out\"; test \$code = 1 && grep -q 'not signed' <<<\"\$out\""
sed 's/generation: 7/generation: 12/' "$work/evil.yaml" >"$work/n2/desired.yaml"
hcctl 2 reload >/dev/null 2>&1
check "a hand-written unsigned desired.yaml on a trusting board is refused there" wait_until 5 bash -c "
  hcctl 2 status | grep -q 'last document REFUSED' && refused_on 2 signature 'not signed'"
check "and no board takes it" all_at_generation 1 1 2 3 4
check "hcagent --check says the desired file is not signed (exit 2)" bash -c "
  out=\$($bin/hcagent --check --config $work/n2/agent.yaml 2>&1); code=\$?; echo \"\$out\"; test \$code = 2 && grep -q 'not signed' <<<\"\$out\""
rm -f "$work/n2/desired.yaml"
stop_agent 5

echo "a signed apply goes through; a document outside one board's policy is refused there only"
{ cat "$work/doc.yaml"; printf 'probes:\n  alive: { exec: /bin/true, interval: 1s }\n'; } >"$work/probe.yaml"
check "hcctl plan on n4 shows its policy refusal, located, and exits 1" bash -c "
  out=\$(hcctl 4 plan $work/probe.yaml); code=\$?; echo \"\$out\"
  test \$code = 1 && grep -q 'probe.yaml:8:18: probes.alive.exec: \"/bin/true\" is not allowed by policy.exec in $work/n4/agent.yaml' <<<\"\$out\""
check "hcctl plan on n1 shows none" bash -c "hcctl 1 plan $work/probe.yaml && ! hcctl 1 plan $work/probe.yaml | grep -q REFUSED"
check "hcctl apply on n3 signs with the next generation (2)" bash -c "hcctl 3 apply $work/probe.yaml --sign $work/admin.key | grep -q 'generation 2 accepted'"
check "n1-n3 run generation 2" wait_until 5 all_at_generation 2 1 2 3
check "n4 refuses it by its policy and keeps generation 1" wait_until 5 bash -c "
  refused_on 4 policy 'is not allowed by policy.exec' && all_at_generation 1 4"
check "n4 counts it as reason=\"policy\"" bash -c '[ "$(refusals_counted 4 policy)" -ge 1 ]'
check "hcagent --check of n4's policy against the document says why (exit 2)" bash -c "
  cp $work/n1/state/desired.yaml $work/n4/desired.yaml
  out=\$($bin/hcagent --check --config $work/n4/agent.yaml 2>&1); code=\$?; rm -f $work/n4/desired.yaml; echo \"\$out\"
  test \$code = 2 && grep -q 'signed by trusted key $admin_id' <<<\"\$out\" && grep -q 'probes.alive.exec' <<<\"\$out\""

echo "a tampered persisted copy is refused at start"
stop_agent 1
sed -i 's/interval: 1s/interval: 2s/' "$work/n1/state/desired.yaml"
start_agent 1
check "n1 refuses its persisted copy (the signature does not match) and says so" wait_until 5 bash -c "
  grep -q 'the persisted document is refused' $work/n1/log.* && refused_on 1 signature 'does not match'"
check "and takes the signed generation 2 back from its peers" wait_until 10 all_at_generation 2 1 2 3

finish
