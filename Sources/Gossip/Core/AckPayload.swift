// What an ack carries: the acking node's incarnation, so the prober knows whether its copy of that node's
// metadata is the latest (SWIMCore.confirmed). Tagged, so later hints can come beside it; an agent before it
// sends an empty payload and ignores any (the codec has always carried up to 255 bytes).
public enum AckPayload {
    static let incarnationTag: UInt8 = 1

    /// A tag byte, then the incarnation big-endian.
    public static func encode(incarnation: UInt64) -> [UInt8] {
        [incarnationTag] + (0..<8).reversed().map { UInt8(truncatingIfNeeded: incarnation >> (8 * UInt64($0))) }
    }

    /// The incarnation an ack says, or nil when it says none (an older agent) or something else.
    public static func incarnation(_ payload: [UInt8]) -> UInt64? {
        guard payload.count >= 9, payload[0] == incarnationTag else { return nil }
        return payload[1...8].reduce(0) { $0 << 8 | UInt64($1) }
    }
}
