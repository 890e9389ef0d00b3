// The push-pull exchange's frame: the member state's length (4 bytes, big-endian), the state, then the
// document in force as text (possibly empty), then, only when the sender holds shared secrets, a zero byte and
// the secrets (SharedSecretWire). Documents ride the TCP exchange: they are larger than a datagram. A document's
// text never holds a zero byte (YAML allows none), so it ends the text.

public struct PushPullFrame: Sendable, Equatable {
    public var state: GossipPushPullState
    /// The sender's document in force, as text; empty when it has none.
    public var documentText: String
    /// The shared secrets the sender holds (every board relays them, so one that joins late gets them).
    public var secrets: [SharedSecretRecord]

    public init(state: GossipPushPullState, documentText: String, secrets: [SharedSecretRecord] = []) {
        self.state = state
        self.documentText = documentText
        self.secrets = secrets
    }

    static let lengthBytes = 4

    public var encoded: [UInt8] {
        let stateBytes = GossipCodec.encodeState(state)
        let length = UInt32(clamping: stateBytes.count)
        let header: [UInt8] = [UInt8(length >> 24), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)]
        var frame = header + stateBytes + Array(documentText.utf8)
        // Nothing added without secrets: an agent before them reads the frame as it always did.
        if !secrets.isEmpty { frame += [0] + SharedSecretWire.encode(secrets) }
        return frame
    }

    /// The frame's state and document, or why the bytes are not a frame. The document's text is taken as
    /// sent (invalid UTF-8 repaired); the desired-state parser judges it.
    public static func decode(_ frame: [UInt8]) throws(GossipDecodeError) -> PushPullFrame {
        guard frame.count >= lengthBytes else { throw .truncated }
        let length = Int(frame[0]) << 24 | Int(frame[1]) << 16 | Int(frame[2]) << 8 | Int(frame[3])
        guard length <= frame.count - lengthBytes else { throw .truncated }
        let state = try GossipCodec.decodeState(Array(frame[lengthBytes..<(lengthBytes + length)]))
        let rest = frame[(lengthBytes + length)...]
        guard let zero = rest.firstIndex(of: 0) else {
            return PushPullFrame(state: state, documentText: String(decoding: rest, as: UTF8.self))
        }
        let secrets = try SharedSecretWire.decode(rest[(zero + 1)...])
        return PushPullFrame(state: state, documentText: String(decoding: rest[..<zero], as: UTF8.self), secrets: secrets)
    }
}
