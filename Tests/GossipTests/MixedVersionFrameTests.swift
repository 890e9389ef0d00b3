// Mixed versions (issue 16 item 8): a push-pull frame to an agent from before shared secrets (a7d0970) carries no
// secrets section, so that agent, which takes every byte after the member state as the document's text, reads
// exactly the document; a peer that says it reads secrets ("ss") gets them.
import HomecloudSchema
import Testing
@testable import GossipCore

@Suite struct MixedVersionFrameTests {
    static let state = GossipPushPullState(from: "n1", members: [
        .init(name: "n1", address: GossipAddress(ipv4: 10, 89, 0, 1, port: 7964), incarnation: 2, state: .alive, metadata: [1]),
    ])
    static let document = "generation: 5\ncluster: mixed\n"
    static let token = SharedSecretRecord(name: "token", origin: "n1", version: 7, value: Array("s3cret".utf8))

    /// How a7d0970 reads a frame: the state by its length, then everything else as the document's text.
    static func documentAsAnOldAgentReadsIt(_ frame: [UInt8]) -> String {
        let length = Int(frame[0]) << 24 | Int(frame[1]) << 16 | Int(frame[2]) << 8 | Int(frame[3])
        return String(decoding: frame[(4 + length)...], as: UTF8.self)
    }

    @Test func anOldPeersMetadataGetsNoSecrets() throws {
        // a7d0970's metadata, as it gossips it: no "ss".
        let old = try #require(NodeMetadata(Array(#"{"v":"0.2.0","g":3,"h":"ab","r":[],"c":"converged"}"#.utf8)))
        #expect(!old.readsSecretFrames)
        let shared = SharedSecretWire.records([Self.token], forPeer: old)
        #expect(shared.isEmpty)
        let frame = PushPullFrame(state: Self.state, documentText: Self.document, secrets: shared).encoded
        #expect(Self.documentAsAnOldAgentReadsIt(frame) == Self.document)
    }

    @Test func aPeerNotKnownYetGetsNoSecrets() {
        #expect(SharedSecretWire.records([Self.token], forPeer: nil).isEmpty)
    }

    @Test func aNewPeerSaysItReadsSecretsAndGetsThem() throws {
        var new = NodeMetadata(version: "0.2.0", generation: 3, hash: 0xAB, roles: [])
        new.readsSecretFrames = true
        let heard = try #require(NodeMetadata(new.bytes))
        #expect(heard.readsSecretFrames)
        #expect(String(decoding: new.bytes, as: UTF8.self).contains(#""ss":true"#))
        let frame = PushPullFrame(state: Self.state, documentText: Self.document,
                                  secrets: SharedSecretWire.records([Self.token], forPeer: heard)).encoded
        let decoded = try PushPullFrame.decode(frame)
        #expect(decoded.documentText == Self.document)
        #expect(decoded.secrets == [Self.token])
        // What the old agent would have made of that frame: the document with the secret appended, refused.
        #expect(Self.documentAsAnOldAgentReadsIt(frame) != Self.document)
    }

    @Test func theFlagIsNotSentUnlessSetSoOldMetadataBytesStayTheSame() {
        let plain = NodeMetadata(version: "0.2.0", generation: 1, hash: 1, roles: ["a"])
        #expect(!String(decoding: plain.bytes, as: UTF8.self).contains("ss"))
    }
}
