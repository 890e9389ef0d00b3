// libFuzzer entry point: whatever the bytes, desired.yaml, agent.yaml and control-request parsing give a value
// or a located error, never a crash. Built into the HomecloudSchema module by scripts/fuzz.sh.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzParsers(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)
    if case .failure(let rejected) = DesiredStateParser.parse(text, file: "f") {
        precondition(!rejected.diagnostics.isEmpty, "a refusal without a reason")
    }
    if case .failure(let rejected) = AgentConfig.parse(text, file: "f", hostname: "h") {
        precondition(!rejected.diagnostics.isEmpty, "a refusal without a reason")
    }
    if let value = try? JSONValue.parse(bytes) {
        precondition((try? JSONValue.parse(Array(value.serialized.utf8))) == value, "JSON does not round-trip")
    }
    return 0
}
