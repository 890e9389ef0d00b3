#!/usr/bin/env bash
# Runs every Tests/integration/*.sh (they need root; their helpers are in lib/) and prints one closing tally.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "integration tests need root (network namespaces, systemd-nspawn): run make check as root"
  exit 1
fi
passed=0
failed=0
failed_scripts=()
timings=()
for script in Tests/integration/*.sh; do
  echo "== $script"
  output=$(mktemp)
  started=$SECONDS
  bash "$script" | tee "$output"
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
  fi
  rm -f "$output"
done
# Which scripts the time goes to: make check must stay well under the 30 minutes the guide allows.
echo "integration time per script, longest first:"
printf '%s\n' "${timings[@]}" | sort -rn | sed 's/^/  /'
echo "integration: $passed passed, $failed failed"
((${#failed_scripts[@]} == 0)) || { echo "failed: ${failed_scripts[*]}"; exit 1; }
