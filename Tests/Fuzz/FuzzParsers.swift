// libFuzzer entry point: whatever the bytes, desired.yaml, agent.yaml and control-request parsing give a value
// or a located error; VRRP advertisements and gossip packets decode or are refused, and what decodes encodes
// back to the same bytes. Never a crash. Built with the pure modules by scripts/fuzz.sh.

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
    // Binary parsers: the first byte picks the family (VRRP), the rest is the packet.
    guard let first = bytes.first else { return 0 }
    let packet = Array(bytes.dropFirst())
    let (source, destination) = first & 1 == 1
        ? (IPAddress("10.66.0.1")!, IPAddress("224.0.0.18")!)
        : (IPAddress("fe80::1")!, IPAddress("ff02::12")!)
    if let (advertisement, variant) = try? VRRPAdvertisement.decode(packet, source: source, destination: destination),
       variant == .pseudoHeader, packet[4] & 0xF0 == 0 {  // reserved bits are ignored on receive, sent as 0
        precondition(advertisement.encoded(source: source, destination: destination) == packet, "VRRP does not round-trip")
    }
    _ = try? GossipCodec.decodePacket(bytes)
    _ = try? GossipCodec.decodeState(bytes)
    return 0
}
