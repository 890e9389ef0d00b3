// The wire format: every message round-trips, compound packets stay whole, and no byte string crashes the
// decoder (truncations, flipped bytes, random garbage), it only throws.
import HomecloudSchema
import Testing
@testable import GossipCore

@Suite struct GossipCodecTests {
    static let v4 = GossipAddress(ipv4: 10, 77, 0, 1, port: 7964)
    static let v6 = GossipAddress(host: [0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], port: 7964)!

    static let everyKind: [GossipMessage] = [
        .ping(seq: 1, target: "hc1-n2", source: "hc1-n1", sourceAddress: v4),
        .indirectPingRequest(seq: .max, target: "hc1-n3", targetAddress: v6, requester: "hc1-n1", requesterAddress: v4),
        .ack(seq: 7, payload: [1, 2, 3]),
        .ack(seq: 8, payload: []),
        .nack(seq: 9),
        .alive(incarnation: 42, name: "hc1-n4", address: v6, metadata: Array(repeating: 0xAB, count: 512)),
        .alive(incarnation: 0, name: "ñode-ü", address: v4, metadata: []),
        .suspect(incarnation: .max, name: "hc1-n2", from: "hc1-n1"),
        .dead(incarnation: 3, name: "hc1-n2", from: "hc1-n3"),
        .left(incarnation: 4, name: "hc1-n5"),
    ]

    @Test func everyMessageRoundTripsAloneAndTogether() throws {
        for message in Self.everyKind {
            #expect(try GossipCodec.decodePacket(GossipCodec.encodePacket([message])) == [message])
        }
        let compound = GossipCodec.encodePacket(Self.everyKind)
        #expect(compound.count <= GossipCodec.maxDatagramBytes)
        #expect(try GossipCodec.decodePacket(compound) == Self.everyKind)
    }

    @Test func theFormatIsBigEndianAndVersioned() {
        let bytes = GossipCodec.encodePacket([.nack(seq: 0x0102_0304)])
        #expect(bytes == [0x48, 0x47, 1, 4, 0, 4, 1, 2, 3, 4])
    }

    @Test func pushPullStatesRoundTrip() throws {
        let state = GossipPushPullState(from: "hc1-n1", members: [
            .init(name: "hc1-n1", address: Self.v4, incarnation: 3, state: .alive, metadata: [9]),
            .init(name: "hc1-n2", address: Self.v6, incarnation: 1, state: .suspect, metadata: []),
            .init(name: "hc1-n3", address: Self.v4, incarnation: 0, state: .dead, metadata: Array(repeating: 1, count: 512)),
            .init(name: "hc1-n4", address: Self.v4, incarnation: .max, state: .left, metadata: []),
        ])
        #expect(try GossipCodec.decodeState(GossipCodec.encodeState(state)) == state)
        let empty = GossipPushPullState(from: "x", members: [])
        #expect(try GossipCodec.decodeState(GossipCodec.encodeState(empty)) == empty)
    }

    @Test func aLargeStateIsFineAndAnOversizedOneIsRefused() throws {
        let members = (0..<3000).map {
            GossipPushPullState.Entry(name: "node-\($0)", address: Self.v4, incarnation: UInt64($0), state: .alive,
                                      metadata: Array(repeating: 7, count: 512))
        }
        let bytes = GossipCodec.encodeState(GossipPushPullState(from: "node-0", members: members))
        #expect(bytes.count > 1_500_000 && bytes.count <= GossipCodec.maxStateBytes)
        #expect(try GossipCodec.decodeState(bytes).members.count == 3000)
        #expect(throws: GossipDecodeError.tooLarge) {
            try GossipCodec.decodeState(bytes + [UInt8](repeating: 0, count: GossipCodec.maxStateBytes))
        }
        // A count the bytes cannot hold is refused before anything is reserved for it.
        var lying = GossipCodec.encodeState(GossipPushPullState(from: "a", members: []))
        lying.replaceSubrange(lying.count - 4..<lying.count, with: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: GossipDecodeError.truncated) { try GossipCodec.decodeState(lying) }
    }

    @Test func malformedPacketsAreNamed() {
        let good = GossipCodec.encodePacket([.nack(seq: 1)])
        #expect(throws: GossipDecodeError.badMagic) { try GossipCodec.decodePacket([0x00, 0x47, 1] + good.dropFirst(3)) }
        #expect(throws: GossipDecodeError.unsupportedVersion(2)) { try GossipCodec.decodePacket([0x48, 0x47, 2] + good.dropFirst(3)) }
        #expect(throws: GossipDecodeError.emptyPacket) { try GossipCodec.decodePacket(GossipCodec.packetHeader) }
        #expect(throws: GossipDecodeError.unknownMessageType(99)) { try GossipCodec.decodePacket(GossipCodec.packetHeader + [99, 0, 0]) }
        // A body longer than its message: the length field lies.
        #expect(throws: GossipDecodeError.badLength) { try GossipCodec.decodePacket(GossipCodec.packetHeader + [4, 0, 5, 0, 0, 0, 1, 9]) }
        #expect(throws: GossipDecodeError.truncated) { try GossipCodec.decodePacket(GossipCodec.packetHeader + [4, 0, 4, 0, 0]) }
        // An empty name, a name that is not UTF-8, an unknown address family, metadata over 512 bytes.
        #expect(throws: GossipDecodeError.badName) { try GossipCodec.decodePacket(GossipCodec.packetHeader + [8, 0, 9] + [0, 0, 0, 0, 0, 0, 0, 1, 0]) }
        #expect(throws: GossipDecodeError.badName) {
            try GossipCodec.decodePacket(GossipCodec.packetHeader + [8, 0, 11] + [0, 0, 0, 0, 0, 0, 0, 1, 2, 0xC3, 0x28])
        }
        var badFamily = GossipCodec.encodePacket([.alive(incarnation: 1, name: "a", address: Self.v4, metadata: [])])
        badFamily[3 + 3 + 8 + 2] = 5
        #expect(throws: GossipDecodeError.badAddress) { try GossipCodec.decodePacket(badFamily) }
        var bigMetadata = GossipCodec.encodePacket([.alive(incarnation: 1, name: "a", address: Self.v4, metadata: [1])])
        bigMetadata.replaceSubrange(bigMetadata.count - 3..<bigMetadata.count - 1, with: [0x02, 0x01])
        #expect(throws: GossipDecodeError.tooLarge) { try GossipCodec.decodePacket(bigMetadata) }
    }

    /// A cut inside a message throws; a cut between messages is a shorter compound packet, and decodes as one.
    @Test func everyTruncationThrowsOrIsAShorterCompound() throws {
        let compound = GossipCodec.encodePacket(Self.everyKind)
        var boundaries: [Int: Int] = [:]
        var end = GossipCodec.headerBytes
        for (index, message) in Self.everyKind.enumerated() {
            end += GossipCodec.encodeFramed(message).count
            boundaries[end] = index + 1
        }
        for length in 0..<compound.count {
            let cut = Array(compound.prefix(length))
            if let count = boundaries[length] {
                #expect(try GossipCodec.decodePacket(cut) == Array(Self.everyKind.prefix(count)))
            } else {
                #expect(throws: GossipDecodeError.self, "cut at \(length)") { try GossipCodec.decodePacket(cut) }
            }
        }
        let state = GossipCodec.encodeState(GossipPushPullState(from: "a", members: [
            .init(name: "b", address: Self.v6, incarnation: 1, state: .dead, metadata: [1, 2]),
        ]))
        for length in 0..<state.count {
            #expect(throws: GossipDecodeError.self, "cut at \(length)") { try GossipCodec.decodeState(Array(state.prefix(length))) }
        }
    }

    /// Random bytes, and valid packets with random bytes changed: the decoder throws or returns messages that
    /// encode back to the same bytes; it never traps.
    @Test func randomAndMutatedBytesNeverCrash() {
        let seed: UInt64 = 0x5EED_F00D
        var random = SplitMix64(seed: seed)
        let valid = GossipCodec.encodePacket(Self.everyKind)
        let validState = GossipCodec.encodeState(GossipPushPullState(from: "a", members: [
            .init(name: "b", address: Self.v6, incarnation: 1, state: .dead, metadata: [1, 2]),
            .init(name: "c", address: Self.v4, incarnation: 2, state: .alive, metadata: []),
        ]))
        var accepted = 0
        for round in 0..<20_000 {
            var bytes: [UInt8]
            switch round % 3 {
            case 0:
                bytes = (0..<Int(random.next() % 200)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                if random.next() % 2 == 0 { bytes = GossipCodec.packetHeader + bytes }
            case 1:
                bytes = valid
                for _ in 0..<(1 + random.next() % 4) {
                    bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
                }
            default:
                bytes = validState
                for _ in 0..<(1 + random.next() % 3) {
                    bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
                }
                if let state = try? GossipCodec.decodeState(bytes) {
                    #expect((try? GossipCodec.decodeState(GossipCodec.encodeState(state))) == state, "seed \(seed), round \(round)")
                }
                continue
            }
            if let messages = try? GossipCodec.decodePacket(bytes) {
                accepted += 1
                #expect(GossipCodec.encodePacket(messages) == bytes, "seed \(seed), round \(round)")
            }
        }
        #expect(accepted > 0, "some mutations keep a packet valid, and those must survive re-encoding")
    }
}
