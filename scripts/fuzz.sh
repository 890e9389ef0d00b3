#!/usr/bin/env bash
# Fuzzes every decoder of outside input with libFuzzer, SECONDS (default 60) per target, each from seeds the
# real encoders make plus the examples and any committed inputs (Tests/Fuzz/corpus/NAME/). A target whose
# property breaks or that crashes fails; its input is kept in .build/fuzz/crashes/. Last line:
# `fuzz: N passed, M failed`.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (no TARGET: all of them)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
shift || true
out=$root/.build/fuzz

# One target per decoder of outside input, in Tests/Fuzz/*Targets.swift.
targets=(
  gossip-sealed       # a datagram or stream as it comes off the network, opened with a fixed keyring
  gossip-packet       # an opened datagram (GossipCodec.decodePacket), then the SWIM core
  push-pull-frame     # the push-pull stream's frame (PushPullFrame)
  push-pull-state     # its member state (GossipCodec.decodeState), then the SWIM core
  node-metadata       # what a peer says about itself (NodeMetadata)
  vrrp-advertisement  # VRRPAdvertisement.decode
  control-request     # a control socket line (ControlRequest.parse)
  agent-config        # agent.yaml
  desired-document    # desired.yaml, an apply, a peer's document; and renumbering it as apply does
  json                # JSONValue, under the control protocol and gossip metadata
  signed-document     # a document's signature line (DocumentSignature), verified against a fixed admin key
  admin-key-line      # a trusted_admin_keys line (AdminPublicKey)
  sealed-metadata     # a member's gossip metadata sealed with its node key (MetadataSeal, VerifiedMetadataBook)
)
(($# > 0)) && targets=("$@")

# The build: the package's pure targets compiled whole and as they are (their own sources and imports,
# internals reachable with @testable), instrumented for libFuzzer and AddressSanitizer, then linked with the
# targets: HomecloudSchema, HomecloudYAML (libyaml), GossipCore, VRRPCore, Trust (libsodium), and from Gossip's
# shell only its keyring (GossipKeyring.swift, SystemCrypto.swift: libsodium's seal and open, no sockets), which
# opens what comes off the network. No package resolution and no NIO.
modules=$out/modules
mkdir -p "$modules"
flags=(-O -wmo -swift-version 6 -parse-as-library -enable-testing -sanitize=fuzzer,address -I "$modules"
       -Xcc -fmodule-map-file="$root/Sources/CYAML/module.modulemap" -Xcc -fmodule-map-file="$root/Sources/CSodium/module.modulemap")
module() {  # NAME SOURCES...: NAME.swiftmodule and NAME.o
  local name=$1
  shift
  swiftc "${flags[@]}" -module-name "$name" -emit-module -emit-module-path "$modules/$name.swiftmodule" -c "$@" \
    -o "$modules/$name.o" >"$modules/$name.log" 2>&1 || { cat "$modules/$name.log" >&2; return 1; }
}
build_started=$SECONDS
# Built again only when a source changed since the last build (or the script itself).
sources=("$root"/Sources/HomecloudSchema "$root"/Sources/HomecloudYAML "$root"/Sources/Trust "$root"/Sources/Gossip
         "$root"/Sources/VRRP/Core "$root"/Tests/Fuzz "$root"/scripts/fuzz.sh)
if [[ -x $out/fuzz-targets && -z $(find "${sources[@]}" -name '*.swift' -newer "$out/fuzz-targets" -o -name fuzz.sh -newer "$out/fuzz-targets") ]]; then
  echo "fuzz: the targets are up to date"
else
rm -f "$modules"/*.o "$modules"/*.swiftmodule
# Two at a time (each -wmo compile is one process on one core): Trust needs none of the others; the rest need
# HomecloudSchema only.
module Trust "$root"/Sources/Trust/*.swift & trust=$!
module HomecloudSchema "$root"/Sources/HomecloudSchema/*.swift
wait "$trust"
module GossipCore "$root"/Sources/Gossip/Core/*.swift & gossip=$!
module HomecloudYAML "$root"/Sources/HomecloudYAML/*.swift
wait "$gossip"
module Gossip "$root"/Sources/Gossip/Shell/GossipKeyring.swift "$root"/Sources/Gossip/Shell/SystemCrypto.swift & keyring=$!
module VRRPCore "$root"/Sources/VRRP/Core/*.swift
wait "$keyring"
swiftc "${flags[@]}" -module-name FuzzTargets "$root"/Tests/Fuzz/*.swift "$modules"/{HomecloudSchema,HomecloudYAML,GossipCore,Gossip,VRRPCore,Trust}.o \
  -lyaml -lsodium -o "$out/fuzz-targets" >"$out/build.log" 2>&1 || { cat "$out/build.log" >&2; exit 1; }
echo "fuzz: built the targets in $((SECONDS - build_started)) s"
fi

# Seeds: the encoders' own output, rewritten each run (libFuzzer adds what it finds beside them).
rm -rf "$out/seeds" && mkdir -p "$out/seeds" "$out/crashes"
FUZZ_WRITE_SEEDS=$out/seeds "$out/fuzz-targets" >"$out/seeds.log" 2>&1 || { cat "$out/seeds.log" >&2; exit 1; }
cp "$root/examples/agent.yaml" "$out/seeds/agent-config/example.yaml"
cp "$root/examples/desired.yaml" "$out/seeds/desired-document/example.yaml"

# A broken property traps: libFuzzer's report is the one wanted, not Swift's backtracer (which trips ASan).
export SWIFT_BACKTRACE=enable=no
# fuzz_one TARGET: fuzzes it for $seconds and writes its verdict, the lines to print, to $out/TARGET.verdict
# (first line "passed" or "failed").
fuzz_one() {
  local target=$1 corpus log inputs options runs rate report
  corpus=$out/corpus/$target
  mkdir -p "$corpus"
  inputs=("$corpus" "$out/seeds/$target")
  [[ -d $root/Tests/Fuzz/corpus/$target ]] && inputs+=("$root/Tests/Fuzz/corpus/$target")
  log=$out/$target.log
  options=()
  [[ $target == agent-config || $target == desired-document ]] && options+=(-dict="$root/Tests/Fuzz/yaml.dict")
  # -timeout: an input that takes 10 s is a hang, and a failure like a crash.
  if FUZZ_TARGET=$target "$out/fuzz-targets" -max_total_time="$seconds" -max_len=8192 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$out/crashes/$target-" "${options[@]}" "${inputs[@]}" >"$log" 2>&1; then
    runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log")
    rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log")
    printf 'passed\n%s\n' "$target: ${seconds}s, ${runs:-?} runs, ${rate:-?} exec/s, no crash"
  else
    echo failed
    echo "$target: FAILED; input and report:"
    report=$(grep -E 'property broken|Fatal error|ERROR: (AddressSanitizer|libFuzzer)|SUMMARY|Test unit written to' "$log" | head -n 8 || true)
    sed 's/^/  /' <<<"${report:-$(tail -n 5 "$log")}"
    echo "  replay: FUZZ_TARGET=$target $out/fuzz-targets FILE   (full log: $log)"
  fi >"$out/$target.verdict"
}
# FUZZ_JOBS targets at once (default: one per core, at most 2): each libFuzzer is one process on one core, so
# on an otherwise idle machine every target still gets its seconds of a whole core, in half the wall time.
jobs=${FUZZ_JOBS:-$(($(nproc) < 2 ? $(nproc) : 2))}
running=()
for target in "${targets[@]}"; do
  rm -f "$out/$target.verdict"
  fuzz_one "$target" &
  running+=($!)
  if ((${#running[@]} >= jobs)); then wait -n; running=($(jobs -pr)); fi
done
wait
passed=0
failed=0
for target in "${targets[@]}"; do
  if [[ $(head -n 1 "$out/$target.verdict" 2>/dev/null) == passed ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  tail -n +2 "$out/$target.verdict" 2>/dev/null || echo "$target: FAILED: no verdict"
done
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
