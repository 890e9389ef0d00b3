#!/usr/bin/env bash
# Runs every Tests/integration/*.sh (they need root; their helpers are in lib/) and prints one closing tally.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "integration tests need root (network namespaces, systemd-nspawn): run make check as root"
  exit 1
fi
# One integration run at a time on this machine: the scripts use fixed lab names (namespaces, containers), so a
# second make check (CI beside a session's own clean check) would tear down the first one's labs. Helpers running
# single scripts take the same lock (flock /tmp/hc-integration.lock bash SCRIPT).
exec 9>/tmp/hc-integration.lock
if ! flock -n 9; then
  echo "integration: another run holds /tmp/hc-integration.lock; waiting for it (up to 40 min)"
  flock -w 2400 9 || { echo "integration: still locked after 40 min; giving up"; exit 1; }
fi
passed=0
failed=0
failed_scripts=()
timings=()
failure_lines=()  # each failed script's FAIL/VIOLATION lines, repeated at the end: CI shows only the tail
for script in Tests/integration/*.sh; do
  echo "== $script"
  output=$(mktemp)
  started=$SECONDS
  bash "$script" 9>&- | tee "$output"
  status=${PIPESTATUS[0]}
  timings+=("$((SECONDS - started)) s  $(basename "$script")")
  tally=$(grep -E '^[a-z0-9-]+: [0-9]+ passed, [0-9]+ failed$' "$output" | tail -1)
  if [ -n "$tally" ]; then
    passed=$((passed + $(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$tally")))
    failed=$((failed + $(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$tally")))
  fi
  if [ "$status" != 0 ]; then
    failed_scripts+=("$script")
    [ -z "$tally" ] && failed=$((failed + 1))
    failure_lines+=("$(basename "$script"):")
    mapfile -t -O "${#failure_lines[@]}" failure_lines < <(grep -E 'FAIL|VIOLATION|NOT healed|did not' "$output" | head -20 | sed 's/^/  /')
  fi
  rm -f "$output"
done
# Which scripts the time goes to: make check must stay well under the 30 minutes the guide allows.
echo "integration time per script, longest first:"
printf '%s\n' "${timings[@]}" | sort -rn | sed 's/^/  /'
((${#failure_lines[@]} == 0)) || { echo "what the failed scripts said:"; printf '%s\n' "${failure_lines[@]}"; }
echo "integration: $passed passed, $failed failed"
((${#failed_scripts[@]} == 0)) || { echo "failed: ${failed_scripts[*]}"; exit 1; }
