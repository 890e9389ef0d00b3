// The push-pull frame: a state and a document round-trip; a length the frame cannot hold, a short frame or
// a bad state are refused, never read past.
import Testing
@testable import GossipCore

@Suite struct PushPullFrameTests {
    static let state = GossipPushPullState(from: "hc1-n1", members: [
        .init(name: "hc1-n1", address: GossipAddress(ipv4: 10, 77, 0, 1, port: 7964), incarnation: 3, state: .alive, metadata: [9]),
    ])

    @Test func aStateAndADocumentRoundTrip() throws {
        for text in ["", "generation: 4\ncluster: lab\n", "ünïcode ✓"] {
            let frame = PushPullFrame(state: Self.state, documentText: text)
            #expect(try PushPullFrame.decode(frame.encoded) == frame)
        }
    }

    @Test func theLengthComesFirstBigEndian() {
        let bytes = PushPullFrame(state: Self.state, documentText: "x").encoded
        let stateBytes = GossipCodec.encodeState(Self.state)
        #expect(bytes == [0, 0, 0, UInt8(stateBytes.count)] + stateBytes + [0x78])
    }

    @Test func malformedFramesAreRefused() {
        let good = PushPullFrame(state: Self.state, documentText: "").encoded
        #expect(throws: GossipDecodeError.truncated) { try PushPullFrame.decode([]) }
        #expect(throws: GossipDecodeError.truncated) { try PushPullFrame.decode([0, 0, 1]) }
        // A length beyond the frame, up to the largest a 4-byte field says.
        #expect(throws: GossipDecodeError.truncated) { try PushPullFrame.decode([0, 0, 1, 0] + good.dropFirst(4)) }
        #expect(throws: GossipDecodeError.truncated) { try PushPullFrame.decode([0xFF, 0xFF, 0xFF, 0xFF, 1, 2]) }
        // A zero length leaves no state to read.
        #expect(throws: GossipDecodeError.truncated) { try PushPullFrame.decode([0, 0, 0, 0] + Array("generation: 1".utf8)) }
        // A length one short cuts the state: the rest would be read as the document, but the state is refused.
        var short = good
        short[3] -= 1
        #expect(throws: (any Error).self) { try PushPullFrame.decode(short) }
    }
}
