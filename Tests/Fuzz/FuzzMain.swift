// libFuzzer's entry points for every decoder of outside input: FUZZ_TARGET names the target a run fuzzes;
// FUZZ_WRITE_SEEDS=DIR writes each target's seeds (made by the real encoders) to DIR/NAME/ and exits.
// Built with the pure targets (and Gossip's keyring) by scripts/fuzz.sh.
#if canImport(Glibc)
import Glibc
#endif

/// One decoder: what it does with any bytes (checking its properties, trapping when one fails) and inputs
/// it accepts, for libFuzzer to start from.
struct FuzzTarget: Sendable {
    var name: String
    var run: @Sendable ([UInt8]) -> Void
    var seeds: @Sendable () -> [[UInt8]]
}

let fuzzTargets: [FuzzTarget] = gossipTargets + vrrpTargets + schemaTargets + trustTargets

/// A property every input must keep: a failure traps, which libFuzzer reports with the input that did it.
func require(_ condition: Bool, _ property: @autoclosure () -> String) {
    if !condition { fatalError("property broken: \(property())") }
}

nonisolated(unsafe) var selectedTarget: FuzzTarget?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    if let directory = getenv("FUZZ_WRITE_SEEDS").map({ String(cString: $0) }) {
        for target in fuzzTargets { writeSeeds(target, under: directory) }
        exit(0)
    }
    let name = getenv("FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let target = fuzzTargets.first(where: { $0.name == name }) else {
        print("FUZZ_TARGET must name one of: \(fuzzTargets.map(\.name).joined(separator: " "))")
        exit(2)
    }
    selectedTarget = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    selectedTarget?.run(bytes)
    return 0
}

func writeSeeds(_ target: FuzzTarget, under directory: String) {
    let folder = "\(directory)/\(target.name)"
    mkdir(folder, 0o755)
    for (index, seed) in target.seeds().enumerated() {
        guard let file = fopen("\(folder)/seed-\(index)", "wb") else {
            print("cannot write \(folder)/seed-\(index)")
            exit(1)
        }
        _ = seed.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
    }
}
