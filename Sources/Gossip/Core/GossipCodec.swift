// Gossip's binary wire format: versioned, big-endian, every length checked, so untrusted bytes only ever throw.

/// Why bytes from the network were refused. The core counts these and drops the datagram whole.
public enum GossipDecodeError: Error, Sendable, Equatable {
    case truncated
    case badMagic
    case unsupportedVersion(UInt8)
    case unknownMessageType(UInt8)
    /// A message's length field disagrees with what its body holds.
    case badLength
    case emptyPacket
    case badAddress
    case badName
    case badState(UInt8)
    case tooLarge
}

/// Datagram: "HG", version, then messages, each `type (1) | body length (2) | body`. Push-pull state: "HS",
/// version, then the sender's name, a member count and the members. Strings are UTF-8 with a 1-byte length;
/// addresses are `family (4 or 6) | host bytes | port (2)`.
public enum GossipCodec {
    public static let version: UInt8 = 1
    static let packetMagic: [UInt8] = [0x48, 0x47]
    static let stateMagic: [UInt8] = [0x48, 0x53]
    public static let headerBytes = 3
    /// 1400 bytes keep a datagram under a 1500-byte MTU with IP/UDP headers to spare; the shell's sealing
    /// (nonce and tag) takes up to 40 of them, so the core itself encodes at most 1360.
    public static let maxDatagramBytes = 1360
    /// The transport refuses stream frames over 4 MiB; a state must fit in one.
    public static let maxStateBytes = 4 * 1024 * 1024
    /// Type and length in front of every message of a datagram.
    public static let messageFramingBytes = 3

    enum MessageType: UInt8 {
        case ping = 1, indirectPingRequest, ack, nack, alive, suspect, dead, left
    }

    // MARK: Datagrams

    public static var packetHeader: [UInt8] { packetMagic + [version] }

    /// One datagram holding `messages` in order. The caller keeps it within `maxDatagramBytes`.
    public static func encodePacket(_ messages: [GossipMessage]) -> [UInt8] {
        var bytes = packetHeader
        for message in messages { bytes += encodeFramed(message) }
        return bytes
    }

    /// One message with its type and length, ready to append to a datagram after the header.
    public static func encodeFramed(_ message: GossipMessage) -> [UInt8] {
        var body = ByteWriter()
        let type: MessageType
        switch message {
        case let .ping(seq, target, source, sourceAddress):
            type = .ping
            body.u32(seq)
            body.name(target)
            body.name(source)
            body.address(sourceAddress)
        case let .indirectPingRequest(seq, target, targetAddress, requester, requesterAddress):
            type = .indirectPingRequest
            body.u32(seq)
            body.name(target)
            body.address(targetAddress)
            body.name(requester)
            body.address(requesterAddress)
        case let .ack(seq, payload):
            type = .ack
            body.u32(seq)
            body.u8(UInt8(min(payload.count, GossipMessage.maxAckPayloadBytes)))
            body.bytes += payload.prefix(GossipMessage.maxAckPayloadBytes)
        case let .nack(seq):
            type = .nack
            body.u32(seq)
        case let .alive(incarnation, name, address, metadata):
            type = .alive
            body.u64(incarnation)
            body.name(name)
            body.address(address)
            body.metadata(metadata)
        case let .suspect(incarnation, name, from):
            type = .suspect
            body.u64(incarnation)
            body.name(name)
            body.name(from)
        case let .dead(incarnation, name, from):
            type = .dead
            body.u64(incarnation)
            body.name(name)
            body.name(from)
        case let .left(incarnation, name):
            type = .left
            body.u64(incarnation)
            body.name(name)
        }
        var framed = ByteWriter()
        framed.u8(type.rawValue)
        framed.u16(UInt16(body.bytes.count))
        framed.bytes += body.bytes
        return framed.bytes
    }

    /// Every message of a datagram, or an error if any part of it is malformed: a datagram is taken whole or
    /// not at all.
    public static func decodePacket(_ bytes: [UInt8]) throws(GossipDecodeError) -> [GossipMessage] {
        guard bytes.count <= 65_535 else { throw .tooLarge }
        var reader = ByteReader(bytes)
        guard try reader.u8() == packetMagic[0], try reader.u8() == packetMagic[1] else { throw .badMagic }
        let packetVersion = try reader.u8()
        guard packetVersion == version else { throw .unsupportedVersion(packetVersion) }
        var messages: [GossipMessage] = []
        while !reader.isAtEnd {
            let rawType = try reader.u8()
            let length = Int(try reader.u16())
            var body = try reader.subReader(length: length)
            guard let type = MessageType(rawValue: rawType) else { throw .unknownMessageType(rawType) }
            messages.append(try decodeBody(type, &body))
            guard body.isAtEnd else { throw .badLength }
        }
        guard !messages.isEmpty else { throw .emptyPacket }
        return messages
    }

    private static func decodeBody(_ type: MessageType, _ body: inout ByteReader) throws(GossipDecodeError) -> GossipMessage {
        switch type {
        case .ping:
            return .ping(seq: try body.u32(), target: try body.name(), source: try body.name(), sourceAddress: try body.address())
        case .indirectPingRequest:
            return .indirectPingRequest(seq: try body.u32(), target: try body.name(), targetAddress: try body.address(),
                                        requester: try body.name(), requesterAddress: try body.address())
        case .ack:
            let seq = try body.u32()
            let count = Int(try body.u8())
            return .ack(seq: seq, payload: try body.take(count))
        case .nack:
            return .nack(seq: try body.u32())
        case .alive:
            return .alive(incarnation: try body.u64(), name: try body.name(), address: try body.address(),
                          metadata: try body.metadata())
        case .suspect:
            return .suspect(incarnation: try body.u64(), name: try body.name(), from: try body.name())
        case .dead:
            return .dead(incarnation: try body.u64(), name: try body.name(), from: try body.name())
        case .left:
            return .left(incarnation: try body.u64(), name: try body.name())
        }
    }

    // MARK: Push-pull state

    public static func encodeState(_ state: GossipPushPullState) -> [UInt8] {
        var writer = ByteWriter()
        writer.bytes = stateMagic + [version]
        writer.name(state.from)
        writer.u32(UInt32(clamping: state.members.count))
        for member in state.members {
            writer.name(member.name)
            writer.address(member.address)
            writer.u64(member.incarnation)
            writer.u8(member.state.rawValue)
            writer.metadata(member.metadata)
        }
        return writer.bytes
    }

    public static func decodeState(_ bytes: [UInt8]) throws(GossipDecodeError) -> GossipPushPullState {
        guard bytes.count <= maxStateBytes else { throw .tooLarge }
        var reader = ByteReader(bytes)
        guard try reader.u8() == stateMagic[0], try reader.u8() == stateMagic[1] else { throw .badMagic }
        let stateVersion = try reader.u8()
        guard stateVersion == version else { throw .unsupportedVersion(stateVersion) }
        let from = try reader.name()
        let count = Int(try reader.u32())
        // The smallest entry is 18 bytes; a count the bytes cannot hold is refused before reserving anything.
        guard count <= reader.remaining / 18 else { throw .truncated }
        var members: [GossipPushPullState.Entry] = []
        members.reserveCapacity(count)
        for _ in 0..<count {
            let name = try reader.name()
            let address = try reader.address()
            let incarnation = try reader.u64()
            let rawState = try reader.u8()
            guard let state = GossipMember.State(rawValue: rawState) else { throw .badState(rawState) }
            members.append(.init(name: name, address: address, incarnation: incarnation, state: state,
                                 metadata: try reader.metadata()))
        }
        guard reader.isAtEnd else { throw .badLength }
        return GossipPushPullState(from: from, members: members)
    }
}

/// Appends big-endian fields. Names and metadata longer than the format allows are the caller's bug; they
/// are cut rather than trusted so a frame never lies about its own length.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u16(_ value: UInt16) { bytes += [UInt8(value >> 8), UInt8(truncatingIfNeeded: value)] }
    mutating func u32(_ value: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }
    mutating func u64(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }
    mutating func name(_ text: String) {
        let utf8 = Array(text.utf8.prefix(GossipMember.maxNameBytes))
        u8(UInt8(utf8.count))
        bytes += utf8
    }
    mutating func address(_ address: GossipAddress) {
        u8(address.isIPv6 ? 6 : 4)
        bytes += address.host
        u16(address.port)
    }
    mutating func metadata(_ metadata: [UInt8]) {
        let kept = metadata.prefix(GossipMember.maxMetadataBytes)
        u16(UInt16(kept.count))
        bytes += kept
    }
}

/// Reads big-endian fields from `bytes[offset..<end]`, throwing instead of reading past `end`.
struct ByteReader {
    private let bytes: [UInt8]
    private var offset: Int
    private let end: Int

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        offset = 0
        end = bytes.count
    }

    private init(bytes: [UInt8], offset: Int, end: Int) {
        self.bytes = bytes
        self.offset = offset
        self.end = end
    }

    var isAtEnd: Bool { offset == end }
    var remaining: Int { end - offset }

    /// A reader over the next `length` bytes, which this reader then skips.
    mutating func subReader(length: Int) throws(GossipDecodeError) -> ByteReader {
        guard length <= remaining else { throw .truncated }
        defer { offset += length }
        return ByteReader(bytes: bytes, offset: offset, end: offset + length)
    }

    mutating func take(_ count: Int) throws(GossipDecodeError) -> [UInt8] {
        guard count <= remaining else { throw .truncated }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func u8() throws(GossipDecodeError) -> UInt8 {
        guard remaining >= 1 else { throw .truncated }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u16() throws(GossipDecodeError) -> UInt16 {
        guard remaining >= 2 else { throw .truncated }
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    mutating func u32() throws(GossipDecodeError) -> UInt32 {
        guard remaining >= 4 else { throw .truncated }
        var value: UInt32 = 0
        for index in offset..<offset + 4 { value = value << 8 | UInt32(bytes[index]) }
        offset += 4
        return value
    }

    mutating func u64() throws(GossipDecodeError) -> UInt64 {
        guard remaining >= 8 else { throw .truncated }
        var value: UInt64 = 0
        for index in offset..<offset + 8 { value = value << 8 | UInt64(bytes[index]) }
        offset += 8
        return value
    }

    /// A non-empty UTF-8 name; invalid UTF-8 is refused rather than repaired, so two nodes never disagree on
    /// what a name is.
    mutating func name() throws(GossipDecodeError) -> String {
        let count = Int(try u8())
        guard count > 0 else { throw .badName }
        let utf8 = try take(count)
        guard let text = String(validating: utf8, as: UTF8.self) else { throw .badName }
        return text
    }

    mutating func address() throws(GossipDecodeError) -> GossipAddress {
        let family = try u8()
        let hostBytes: Int
        switch family {
        case 4: hostBytes = 4
        case 6: hostBytes = 16
        default: throw .badAddress
        }
        let host = try take(hostBytes)
        guard let address = GossipAddress(host: host, port: try u16()) else { throw .badAddress }
        return address
    }

    mutating func metadata() throws(GossipDecodeError) -> [UInt8] {
        let count = Int(try u16())
        guard count <= GossipMember.maxMetadataBytes else { throw .tooLarge }
        return try take(count)
    }
}
