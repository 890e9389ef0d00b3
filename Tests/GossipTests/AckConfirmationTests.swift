// An ack carries the acking node's incarnation (AckPayload), and the prober counts its copy of that node's
// metadata as current (SWIMCore.confirmed) only when it holds that very incarnation alive; a forwarded ack
// carries the target's payload, and a member's own push-pull confirms it too.
import HomecloudSchema
import Testing
@testable import GossipCore

@Suite struct AckConfirmationTests {
    static let a = GossipAddress(ipv4: 10, 0, 0, 1, port: 7964)
    static let b = GossipAddress(ipv4: 10, 0, 0, 2, port: 7964)

    @Test func thePayloadRoundTripsAndAnythingElseSaysNothing() throws {
        for value: UInt64 in [0, 1, 255, 256, 0x0123_4567_89AB_CDEF, .max] {
            #expect(AckPayload.incarnation(AckPayload.encode(incarnation: value)) == value)
        }
        #expect(AckPayload.encode(incarnation: 0x0102).count == 9)
        #expect(AckPayload.incarnation([]) == nil, "an older agent's empty ack")
        #expect(AckPayload.incarnation([2, 0, 0, 0, 0, 0, 0, 0, 1]) == nil, "another tag")
        #expect(AckPayload.incarnation([1, 0, 0]) == nil, "cut short")
        let packet = GossipCodec.encodePacket([.ack(seq: 4, payload: AckPayload.encode(incarnation: 9))])
        #expect(try GossipCodec.decodePacket(packet) == [.ack(seq: 4, payload: AckPayload.encode(incarnation: 9))])
    }

    /// a knows b alive at `incarnation` and probes it.
    func prober(knowing incarnation: UInt64) -> (SWIMCore, UInt32, Duration) {
        var node = SWIMCore(name: "a", address: Self.a, random: SplitMix64(seed: 3))
        _ = node.onPushPull(GossipPushPullState(from: "c", members: [
            .init(name: "b", address: Self.b, incarnation: incarnation, state: .alive, metadata: [1]),
        ]), now: .zero)
        var now = Duration.zero
        while now < .seconds(5) {
            for action in node.onTick(now: now) {
                guard case let .send(bytes, to) = action, to == Self.b,
                      case let .ping(seq, "b", _, _)? = try? GossipCodec.decodePacket(bytes).first else { continue }
                return (node, seq, now)
            }
            now += .milliseconds(10)
        }
        Issue.record("a never probed b")
        return (node, 0, now)
    }

    @Test func anAckSayingTheIncarnationWeHoldConfirmsOurCopyAndNoOtherDoes() {
        var (node, seq, sentAt) = prober(knowing: 4)
        #expect(node.confirmed["b"] == nil)
        _ = node.onDatagram(GossipCodec.encodePacket([.ack(seq: seq, payload: AckPayload.encode(incarnation: 4))]), from: Self.b,
                            now: sentAt + .milliseconds(5))
        #expect(node.confirmed["b"] == sentAt + .milliseconds(5))

        for said: [UInt8] in [AckPayload.encode(incarnation: 5), AckPayload.encode(incarnation: 3), []] {
            var (other, seq, sentAt) = prober(knowing: 4)
            _ = other.onDatagram(GossipCodec.encodePacket([.ack(seq: seq, payload: said)]), from: Self.b, now: sentAt + .milliseconds(5))
            #expect(other.confirmed["b"] == nil, "ack payload \(said)")
            #expect(other.lastHeard["b"] == sentAt + .milliseconds(5), "heard all the same")
        }
    }

    @Test func aSuspectIsNotConfirmedAndAPushPullFromTheMemberItselfIs() {
        var (node, seq, sentAt) = prober(knowing: 4)
        _ = node.onDatagram(GossipCodec.encodePacket([.suspect(incarnation: 4, name: "b", from: "c")]), from: Self.b, now: sentAt)
        _ = node.onDatagram(GossipCodec.encodePacket([.ack(seq: seq, payload: AckPayload.encode(incarnation: 4))]), from: Self.b,
                            now: sentAt + .milliseconds(5))
        #expect(node.confirmed["b"] == nil, "held suspect, its metadata may be older than its incarnation")

        var fresh = SWIMCore(name: "a", address: Self.a, random: SplitMix64(seed: 3))
        _ = fresh.onPushPull(GossipPushPullState(from: "c", members: [
            .init(name: "b", address: Self.b, incarnation: 2, state: .alive, metadata: []),
        ]), now: .seconds(1))
        #expect(fresh.confirmed["b"] == nil, "relayed news")
        _ = fresh.onPushPull(GossipPushPullState(from: "b", members: [
            .init(name: "b", address: Self.b, incarnation: 3, state: .alive, metadata: [7]),
        ]), now: .seconds(2))
        #expect(fresh.confirmed["b"] == .seconds(2))
    }

    @Test func aHelperForwardsTheTargetsPayload() {
        var helper = SWIMCore(name: "c", address: GossipAddress(ipv4: 10, 0, 0, 3, port: 7964), random: SplitMix64(seed: 1))
        let request = GossipCodec.encodePacket([.indirectPingRequest(seq: 77, target: "b", targetAddress: Self.b, requester: "a",
                                                                     requesterAddress: Self.a)])
        var relaySeq: UInt32?
        for case let .send(bytes, _) in helper.onDatagram(request, from: Self.a, now: .seconds(1)) {
            if case let .ping(seq, _, _, _)? = try? GossipCodec.decodePacket(bytes).first { relaySeq = seq }
        }
        guard let relaySeq else { Issue.record("no relayed ping"); return }
        let payload = AckPayload.encode(incarnation: 6)
        var forwarded: [GossipMessage] = []
        for case let .send(bytes, _) in helper.onDatagram(GossipCodec.encodePacket([.ack(seq: relaySeq, payload: payload)]), from: Self.b,
                                                          now: .seconds(1) + .milliseconds(10)) {
            forwarded += (try? GossipCodec.decodePacket(bytes)) ?? []
        }
        #expect(forwarded.first == .ack(seq: 77, payload: payload))
    }
}
