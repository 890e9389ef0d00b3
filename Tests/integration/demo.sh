#!/usr/bin/env bash
# The README's `make demo` works: three boards come up, status prints, and demo-down leaves nothing behind.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
require_root
trap '"$root/scripts/demo.sh" down >/dev/null 2>&1' EXIT

echo "make demo"
check "the demo comes up and prints hcctl status from a board" bash -c "
  out=\$($root/scripts/demo.sh up --detach); echo \"\$out\"
  grep -q 'node     hc1-n1 (cluster hc1)' <<<\"\$out\" && grep -q 'generation 1' <<<\"\$out\""
check "every board's agent answers" bash -c "for i in 1 2 3; do $root/.build/release/hcctl --socket /tmp/hcdemo/n\$i/hcagent.sock status >/dev/null || exit 1; done"
check "hc1-n1 holds the VIP and the others follow it" bash -c "
  $root/.build/release/hcctl --socket /tmp/hcdemo/n1/hcagent.sock vip | grep -E '^  front .* master +hc1-n1 ' &&
  $root/.build/release/hcctl --socket /tmp/hcdemo/n2/hcagent.sock vip | grep -E '^  front .* backup +10.77.0.1 '"
check "each agent runs in its own namespace" bash -c "for i in 1 2 3; do ip netns pids hc-n\$i | grep -q . || exit 1; done"
check "demo-down removes namespaces, bridge and files" bash -c "
  $root/scripts/demo.sh down && ! ip netns list | grep -q '^hc-n' && ! ip link show hcbr 2>/dev/null && test ! -e /tmp/hcdemo"
finish
