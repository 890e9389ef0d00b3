// Gossip's decoders of outside input: sealed datagrams and streams (opened with a fixed keyring), datagrams
// and push-pull states once opened, the push-pull frame, and the metadata a peer says about itself.
@testable import Gossip
@testable import GossipCore
import HomecloudSchema

enum GossipFixtures {
    /// Two fixed keys: the primary and an older one still installed, so both of the keyring's tries run.
    static let primaryKey = (0..<32).map { UInt8($0) }
    static let olderKey = [UInt8](repeating: 0xA5, count: 32)
    static let keyring = try! GossipKeyring(keys: [primaryKey, olderKey])
    static let olderOnly = try! GossipKeyring(keys: [olderKey])

    static let v4 = GossipAddress(ipv4: 10, 77, 0, 2, port: 7964)
    static let v6 = GossipAddress(host: [0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], port: 7964)!
    static let metadata = NodeMetadata(version: "0.1.0", generation: 7, hash: 0xDEAD_BEEF, roles: ["web", "dnas"], convergence: "converged").bytes

    static let messages: [GossipMessage] = [
        .ping(seq: 1, target: "fuzz-n1", source: "fuzz-n2", sourceAddress: v4),
        .indirectPingRequest(seq: 2, target: "fuzz-n3", targetAddress: v6, requester: "fuzz-n2", requesterAddress: v4),
        .ack(seq: 1, payload: [1, 2, 3]),
        .nack(seq: 2),
        .alive(incarnation: 3, name: "fuzz-n2", address: v4, metadata: metadata),
        .suspect(incarnation: 1, name: "fuzz-n1", from: "fuzz-n2"),
        .dead(incarnation: 1, name: "fuzz-n3", from: "fuzz-n2"),
        .left(incarnation: 4, name: "fuzz-n2"),
    ]
    static let packets: [[UInt8]] = messages.map { GossipCodec.encodePacket([$0]) } + [GossipCodec.encodePacket(messages)]

    static let state = GossipPushPullState(from: "fuzz-n2", members: [
        .init(name: "fuzz-n2", address: v4, incarnation: 3, state: .alive, metadata: metadata),
        .init(name: "fuzz-n3", address: v6, incarnation: 9, state: .suspect, metadata: []),
        .init(name: "fuzz-n4", address: v4, incarnation: 1, state: .dead, metadata: [0x7B]),
        .init(name: "fuzz-n5", address: v4, incarnation: 2, state: .left, metadata: []),
    ])
    static let frames: [[UInt8]] = [
        PushPullFrame(state: state, documentText: "").encoded,
        PushPullFrame(state: state, documentText: "generation: 3\ncluster: lab\nnodes: { fuzz-n2: [web] }\nroles: { web: { units: [ { name: nginx.service, state: running } ] } }\n").encoded,
    ]

    /// A fresh core per input, so a crash replays from its input alone.
    static func core() -> SWIMCore {
        SWIMCore(name: "fuzz-n1", address: GossipAddress(ipv4: 10, 77, 0, 1, port: 7964), random: SplitMix64(seed: 1))
    }
}

let gossipTargets: [FuzzTarget] = [
    // What the daemon does with a datagram or a stream from the network: open it, then hand it on.
    FuzzTarget(name: "gossip-sealed", run: { bytes in
        guard let plain = GossipFixtures.keyring.open(bytes) else { return }
        require(plain.count == bytes.count - GossipKeyring.overhead, "the plaintext is the sealed bytes less the overhead")
        var tampered = bytes
        tampered[tampered.count - 1] ^= 0x01
        require(GossipFixtures.keyring.open(tampered) == nil, "a changed tag still opens")
        require(GossipFixtures.keyring.open(GossipFixtures.keyring.seal(plain)) == plain, "sealing and opening lose bytes")
        var core = GossipFixtures.core()
        _ = core.onDatagram(plain, from: GossipFixtures.v4, now: .seconds(1))
        _ = try? PushPullFrame.decode(plain)
    }, seeds: {
        let plain = GossipFixtures.packets + GossipFixtures.frames
        return plain.map(GossipFixtures.keyring.seal) + plain.prefix(2).map(GossipFixtures.olderOnly.seal) + [[1] + [UInt8](repeating: 0, count: 28)]
    }),

    // An opened datagram: taken whole or refused; what decodes encodes back to the same bytes; the core
    // takes any of it, then ticks.
    FuzzTarget(name: "gossip-packet", run: { bytes in
        if let messages = try? GossipCodec.decodePacket(bytes) {
            require(GossipCodec.encodePacket(messages) == bytes, "a datagram does not round-trip")
        }
        var core = GossipFixtures.core()
        _ = core.onDatagram(bytes, from: GossipFixtures.v4, now: .seconds(1))
        _ = core.onTick(now: .seconds(2))
    }, seeds: { GossipFixtures.packets }),

    // A push-pull stream's frame once opened: its state round-trips, its document is taken as text.
    FuzzTarget(name: "push-pull-frame", run: { bytes in
        guard let frame = try? PushPullFrame.decode(bytes) else { return }
        require((try? PushPullFrame.decode(frame.encoded)) == frame, "a frame does not round-trip")
        let length = Int(bytes[0]) << 24 | Int(bytes[1]) << 16 | Int(bytes[2]) << 8 | Int(bytes[3])
        if String(validating: bytes[(4 + length)...], as: UTF8.self) != nil {
            require(frame.encoded == bytes, "a frame with a UTF-8 document does not re-encode to its bytes")
        }
    }, seeds: { GossipFixtures.frames }),

    // A frame's contents: a member state, round-tripping byte for byte; the core merges any of it.
    FuzzTarget(name: "push-pull-state", run: { bytes in
        guard let state = try? GossipCodec.decodeState(bytes) else { return }
        require(GossipCodec.encodeState(state) == bytes, "a push-pull state does not round-trip")
        var core = GossipFixtures.core()
        _ = core.onPushPull(state, now: .seconds(1))
        _ = core.onTick(now: .seconds(2))
    }, seeds: { [GossipCodec.encodeState(GossipFixtures.state), GossipCodec.encodeState(GossipPushPullState(from: "x", members: []))] }),

    // What a peer says about itself: what decodes re-encodes to the same value, or, when it must be trimmed
    // to fit, to one that keeps the version, generation, hash and convergence and gives up whole lists only.
    FuzzTarget(name: "node-metadata", run: { bytes in
        guard let metadata = NodeMetadata(bytes) else { return }
        let encoded = metadata.bytes
        guard encoded.count <= GossipMember.maxMetadataBytes else { return }  // nothing left to trim: refused by the core
        guard let again = NodeMetadata(encoded) else {
            require(false, "encoded metadata does not decode")
            return
        }
        guard again != metadata else { return }
        require(again.version == metadata.version && again.generation == metadata.generation && again.hash == metadata.hash
                && again.convergence == metadata.convergence, "trimming lost more than lists")
        require(again.roles.isEmpty && (again.vips == metadata.vips || again.vips.isEmpty)
                && (again.handovers == metadata.handovers || again.handovers.isEmpty)
                && again.probes?.count == metadata.probes?.count
                && (again.probes?.failing == metadata.probes?.failing || again.probes?.failing == ["?"]), "trimming changed a list's items")
    }, seeds: {
        var full = NodeMetadata(version: "0.1.0", generation: 12, hash: 0x0123_4567_89AB_CDEF, roles: ["k3s-server", "dnas"], convergence: "degraded")
        full.handovers = ["front": "fuzz-n3"]
        full.probes = ProbeSummary(count: 3, failing: ["k3s-api"])
        full.vips = ["front", "back"]
        return [GossipFixtures.metadata, full.bytes, NodeMetadata(version: "0.1.0", generation: 0, hash: 0, roles: []).bytes]
    }),
]
