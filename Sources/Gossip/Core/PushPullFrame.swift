// The push-pull exchange's frame: the member state's length (4 bytes, big-endian), the state, then the
// document in force as text (possibly empty). Documents ride the TCP exchange: they are larger than a datagram.

public struct PushPullFrame: Sendable, Equatable {
    public var state: GossipPushPullState
    /// The sender's document in force, as text; empty when it has none.
    public var documentText: String

    public init(state: GossipPushPullState, documentText: String) {
        self.state = state
        self.documentText = documentText
    }

    static let lengthBytes = 4

    public var encoded: [UInt8] {
        let stateBytes = GossipCodec.encodeState(state)
        let length = UInt32(clamping: stateBytes.count)
        let header: [UInt8] = [UInt8(length >> 24), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)]
        return header + stateBytes + Array(documentText.utf8)
    }

    /// The frame's state and document, or why the bytes are not a frame. The document's text is taken as
    /// sent (invalid UTF-8 repaired); the desired-state parser judges it.
    public static func decode(_ frame: [UInt8]) throws(GossipDecodeError) -> PushPullFrame {
        guard frame.count >= lengthBytes else { throw .truncated }
        let length = Int(frame[0]) << 24 | Int(frame[1]) << 16 | Int(frame[2]) << 8 | Int(frame[3])
        guard length <= frame.count - lengthBytes else { throw .truncated }
        let state = try GossipCodec.decodeState(Array(frame[lengthBytes..<(lengthBytes + length)]))
        return PushPullFrame(state: state, documentText: String(decoding: frame[(lengthBytes + length)...], as: UTF8.self))
    }
}
