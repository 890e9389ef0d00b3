#!/usr/bin/env bash
# Fuzzes the parsers of untrusted input (desired.yaml, agent.yaml, control requests, VRRP advertisements,
# gossip packets and push-pull states) with libFuzzer for SECONDS (default 30), starting from the examples and
# captured packets. Prints libFuzzer's summary; fails on any crash.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-30}
out=$root/.build/fuzz
mkdir -p "$out/corpus"
cp "$root"/examples/*.yaml "$out/corpus/"
printf '{"v":1,"id":1,"command":"status"}' >"$out/corpus/request.json"
# keepalived 2.2.7's advertisement (Tests/VRRPTests/VRRPAdvertisementTests.swift), with the fuzz input's
# leading byte that picks the parser.
printf '\x01\x31\x33\x64\x01\x00\x64\x74\x59\x0a\x42\x00\xfa' >"$out/corpus/vrrp.bin"
# The pure modules are compiled as one (their imports of each other dropped): swiftc then needs no package.
rm -rf "$out/src" && mkdir -p "$out/src"
cp "$root"/Sources/HomecloudSchema/*.swift "$root"/Sources/VRRP/Core/*.swift "$root"/Sources/Gossip/Core/*.swift "$out/src/"
sed -i '/^import HomecloudSchema$/d' "$out"/src/*.swift
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name FuzzTargets \
  -Xcc -fmodule-map-file="$root/Sources/CYAML/module.modulemap" \
  "$out"/src/*.swift "$root/Tests/Fuzz/FuzzParsers.swift" -lyaml -o "$out/fuzz-parsers" \
  >"$out/build.log" 2>&1 || { cat "$out/build.log"; exit 1; }
cd "$out"
./fuzz-parsers -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 corpus 2>&1 | tail -n 12
echo "fuzz-parsers: 1 passed, 0 failed (${seconds}s without a crash)"
