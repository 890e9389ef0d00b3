// Golden bytes of gossip's wire: every datagram message kind, a compound datagram, a sealed datagram, the push-pull
// state and the push-pull stream frame, so a rewrite of the shell cannot change what boards say to each other.
import HomecloudSchema
import Testing
@testable import Gossip
@testable import GossipCore

private func hex(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

private let n1 = GossipAddress(ipv4: 10, 77, 0, 1, port: 7964)
private let n3 = GossipAddress(ipv4: 10, 77, 0, 3, port: 7964)
private let v6 = GossipAddress(host: [0xfd, 0] + [UInt8](repeating: 0, count: 13) + [2], port: 7964)!
private let meta = Array(#"{"v":"0.1.0","g":3}"#.utf8)
private let fixedNonce: [UInt8] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]

@Suite struct GossipWireGoldenTests {
    @Test func everyMessageKind() throws {
        let cases: [(GossipMessage, String)] = [
            (.ping(seq: 7, target: "n2", source: "n1", sourceAddress: n1), "48470101001100000007026e32026e31040a4d00011f1c"),
            (.indirectPingRequest(seq: 8, target: "n3", targetAddress: n3, requester: "n1", requesterAddress: n1), "48470102001800000008026e33040a4d00031f1c026e31040a4d00011f1c"),
            (.ack(seq: 9, payload: []), "4847010300050000000900"),
            (.ack(seq: 10, payload: [1, 2]), "4847010300070000000a020102"),
            (.nack(seq: 11), "4847010400040000000b"),
            (.alive(incarnation: 3, name: "n1", address: n1, metadata: meta), "4847010500270000000000000003026e31040a4d00011f1c00137b2276223a22302e312e30222c2267223a337d"),
            (.alive(incarnation: 4, name: "n6", address: v6, metadata: []), "4847010500200000000000000004026e3606fd0000000000000000000000000000021f1c0000"),
            (.suspect(incarnation: 5, name: "n2", from: "n1"), "48470106000e0000000000000005026e32026e31"),
            (.dead(incarnation: 6, name: "n2", from: "n3"), "48470107000e0000000000000006026e32026e33"),
            (.left(incarnation: 7, name: "n1"), "48470108000b0000000000000007026e31"),
        ]
        for (message, golden) in cases {
            let bytes = GossipCodec.encodePacket([message])
            #expect(hex(bytes) == golden, "\(message)")
            #expect(try GossipCodec.decodePacket(bytes) == [message])
        }
    }

    @Test func aCompoundDatagram() {
        let bytes = GossipCodec.encodePacket([.ping(seq: 1, target: "n2", source: "n1", sourceAddress: n1),
                                              .suspect(incarnation: 2, name: "n3", from: "n1")])
        #expect(hex(bytes) == "48470101001100000001026e32026e31040a4d00011f1c06000e0000000000000002026e33026e31")
    }

    @Test func aSealedDatagram() throws {
        let ring = try GossipKeyring(keys: [keyA])
        let sealed = ring.seal(GossipCodec.encodePacket([.ack(seq: 9, payload: [])]), nonce: fixedNonce)
        #expect(hex(sealed) == "01000102030405060708090a0b8123612bdd7367e3b3be268bd977f8fe1831194cd6467a5f2e6a4c")
        #expect(ring.open(sealed) == GossipCodec.encodePacket([.ack(seq: 9, payload: [])]))
    }

    static let state = GossipPushPullState(from: "n1", members: [
        .init(name: "n1", address: n1, incarnation: 3, state: .alive, metadata: meta),
        .init(name: "n2", address: n3, incarnation: 9, state: .suspect, metadata: []),
        .init(name: "n4", address: v6, incarnation: 1, state: .dead, metadata: []),
        .init(name: "n5", address: n3, incarnation: 2, state: .left, metadata: []),
    ])

    @Test func thePushPullState() throws {
        let bytes = GossipCodec.encodeState(Self.state)
        #expect(hex(bytes) == "485301026e3100000004026e31040a4d00011f1c00000000000000030000137b2276223a22302e312e30222c2267223a337d026e32040a4d00031f1c0000000000000009010000026e3406fd0000000000000000000000000000021f1c0000000000000001020000026e35040a4d00031f1c0000000000000002030000")
        #expect(try GossipCodec.decodeState(bytes) == Self.state)
    }

    /// What goes on a push-pull TCP stream: the sealed frame's length (4 bytes, big-endian), then the sealed
    /// frame, whose plaintext is the state's length (4 bytes, big-endian), the state, the document's text.
    @Test func thePushPullStreamFrame() throws {
        let ring = try GossipKeyring(keys: [keyA])
        let state = GossipCodec.encodeState(Self.state)
        let document = "generation: 1\ncluster: c\n"
        let length = UInt32(state.count)
        let plain = [UInt8(length >> 24), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)]
            + state + Array(document.utf8)
        #expect(PushPullFrame(state: Self.state, documentText: document).encoded == plain)
        let decoded = try PushPullFrame.decode(plain)
        #expect(decoded.state == Self.state && decoded.documentText == document)
        let sealed = ring.seal(plain, nonce: fixedNonce)
        let sealedLength = UInt32(sealed.count)
        let stream = [UInt8(sealedLength >> 24), UInt8((sealedLength >> 16) & 0xFF), UInt8((sealedLength >> 8) & 0xFF),
                      UInt8(sealedLength & 0xFF)] + sealed
        #expect(GossipSockets.framed(sealed) == stream)
        #expect(hex(stream) == "000000b701000102030405060708090a0bc9646055952566e1dd862607436d6fec0ce72341228e2366c5f49ba7a41b75f2a0917a2421fb2c33570f7ccb82e8147e6a185cdab74a1e01f7673cd7535cabce636dd0ca79c3af5cec18b95e59d8aabcceb384816b30c58ed4886de7af59949130af5feea06f45f6e76564a6b9a94d9f3f727e956a16ab44a450b3a7e942b58ffa864df4394301bcf5b4024c611cc1e863e5611a9206ae29547537a03039db0ce4f0b770e78eb0a9ea14")
    }

    /// The metadata every board reads of every other, fully populated.
    @Test func nodeMetadata() {
        var metadata = NodeMetadata(version: "0.1.0", generation: 42, hash: 0xDEAD_BEEF_0123_4567, roles: ["web", "db"],
                                    convergence: "converged")
        metadata.handovers = ["front": "n2", "back": "n3"]
        metadata.probes = ProbeSummary(count: 3, failing: ["k3s-api"])
        metadata.vips = ["front"]
        #expect(String(decoding: metadata.bytes, as: UTF8.self) == #"{"v":"0.1.0","g":42,"h":"deadbeef01234567","r":["web","db"],"c":"converged","ho":{"back":"n3","front":"n2"},"pn":3,"pf":["k3s-api"],"vh":["front"]}"#)
    }
}
