#!/usr/bin/env bash
# Fuzzes the parsers of untrusted input (desired.yaml, agent.yaml, control requests) with libFuzzer for
# SECONDS (default 30), starting from the examples. Prints libFuzzer's summary; fails on any crash.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-30}
out=$root/.build/fuzz
mkdir -p "$out/corpus"
cp "$root"/examples/*.yaml "$out/corpus/"
printf '{"v":1,"id":1,"command":"status"}' >"$out/corpus/request.json"
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name HomecloudSchema \
  -Xcc -fmodule-map-file="$root/Sources/CYAML/module.modulemap" \
  "$root"/Sources/HomecloudSchema/*.swift "$root/Tests/Fuzz/FuzzParsers.swift" -lyaml -o "$out/fuzz-parsers" \
  >"$out/build.log" 2>&1 || { cat "$out/build.log"; exit 1; }
cd "$out"
./fuzz-parsers -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 corpus 2>&1 | tail -n 12
echo "fuzz-parsers: 1 passed, 0 failed (${seconds}s without a crash)"
