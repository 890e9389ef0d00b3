# checks.sh: a tiny test harness for the integration scripts: named checks, a tally, and the closing line.
PASSED=0
FAILED=0
FAILURES=()

# check "what should hold" COMMAND...: runs COMMAND and counts it.
check() {
  local what=$1
  shift
  if "$@" >/tmp/hc-check.out 2>&1; then
    PASSED=$((PASSED + 1))
    echo "  ok    $what"
  else
    FAILED=$((FAILED + 1))
    FAILURES+=("$what")
    echo "  FAIL  $what"
    sed 's/^/        | /' /tmp/hc-check.out | head -20
  fi
}

# wait_until SECONDS COMMAND...: polls every 50 ms until COMMAND succeeds; on timeout the last try's output
# is shown, so a failed check says what it saw.
wait_until() {
  local limit=$1 start=$SECONDS
  shift
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS - start >= limit)); then
      "$@"
      return 1
    fi
    sleep 0.05
  done
}

# output_has PATTERN COMMAND...: a line of COMMAND's output matches PATTERN (grep's basic regex). Not
# `COMMAND | grep -q PATTERN`: under pipefail that fails now and then, when grep exits at the first match while
# COMMAND is still writing and dies of SIGPIPE (ip writes one address at a time: 1 in 1000 here, and a clean-clone
# make check failed on it, 2026-12-07).
output_has() {
  local pattern=$1
  shift
  grep -q -- "$pattern" <<<"$("$@")"
}
export -f output_has

# Prints the closing line that CI reads and returns non-zero if anything failed.
finish() {
  echo "$(basename "$0" .sh): $PASSED passed, $FAILED failed"
  ((FAILED == 0))
}

require_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "$(basename "$0"): needs root (network namespaces, systemd-nspawn)"
    exit 1
  fi
}
