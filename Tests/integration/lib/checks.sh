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
