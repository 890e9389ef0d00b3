// The transmit-limited queue: how often an update is sent, in which order, what replaces what, and fitting
// the bytes left in a datagram.
import Testing
@testable import GossipCore

@Suite struct BroadcastQueueTests {
    static let address = GossipAddress(ipv4: 10, 0, 0, 1, port: 7964)

    func alive(_ name: String, _ incarnation: UInt64 = 0, metadata: Int = 0) -> GossipMessage {
        .alive(incarnation: incarnation, name: name, address: Self.address, metadata: Array(repeating: 1, count: metadata))
    }

    func decoded(_ framed: [[UInt8]]) throws -> [GossipMessage] {
        try GossipCodec.decodePacket(GossipCodec.packetHeader + framed.flatMap { $0 })
    }

    @Test func theLimitIsRetransmitMultTimesTheCeilingOfLog10() {
        #expect(BroadcastQueue.transmitLimit(retransmitMult: 4, memberCount: 1) == 4)
        #expect(BroadcastQueue.transmitLimit(retransmitMult: 4, memberCount: 9) == 4)
        #expect(BroadcastQueue.transmitLimit(retransmitMult: 4, memberCount: 10) == 8)
        #expect(BroadcastQueue.transmitLimit(retransmitMult: 4, memberCount: 99) == 8)
        #expect(BroadcastQueue.transmitLimit(retransmitMult: 4, memberCount: 1000) == 16)
    }

    @Test func eachUpdateIsSentExactlyItsLimitThenDropped() throws {
        var queue = BroadcastQueue(retransmitMult: 4)
        queue.enqueue(alive("a"))
        for round in 1...4 {
            #expect(try decoded(queue.take(budget: 1000, memberCount: 5)) == [alive("a")], "round \(round)")
        }
        #expect(queue.isEmpty)
        #expect(queue.take(budget: 1000, memberCount: 5).isEmpty)
    }

    @Test func leastSentThenNewestGoFirst() throws {
        var queue = BroadcastQueue(retransmitMult: 4)
        queue.enqueue(alive("old"))
        _ = queue.take(budget: 1000, memberCount: 5)
        queue.enqueue(alive("a"))
        queue.enqueue(alive("b"))
        #expect(try decoded(queue.take(budget: 1000, memberCount: 5)) == [alive("b"), alive("a"), alive("old")])
        // A budget for one: the newest of the least sent.
        queue.enqueue(alive("c"))
        let one = GossipCodec.encodeFramed(alive("c")).count
        #expect(try decoded(queue.take(budget: one, memberCount: 5)) == [alive("c")])
    }

    @Test func aNewerUpdateAboutAMemberReplacesTheOlder() throws {
        var queue = BroadcastQueue(retransmitMult: 4)
        queue.enqueue(alive("a", 1))
        _ = queue.take(budget: 1000, memberCount: 5)
        queue.enqueue(.suspect(incarnation: 1, name: "a", from: "b"))
        queue.enqueue(.dead(incarnation: 1, name: "a", from: "c"))
        #expect(queue.count == 1)
        #expect(try decoded(queue.take(budget: 1000, memberCount: 5)) == [.dead(incarnation: 1, name: "a", from: "c")])
        queue.enqueue(.ping(seq: 1, target: "a", source: "b", sourceAddress: Self.address))
        #expect(queue.count == 1, "probe messages are not queued")
    }

    @Test func updatesFillTheBudgetAndTheRestWaits() throws {
        var queue = BroadcastQueue(retransmitMult: 4)
        for index in 0..<20 { queue.enqueue(alive("member-\(index)", metadata: 200)) }
        queue.enqueue(alive("small"))
        let budget = GossipCodec.maxDatagramBytes - GossipCodec.headerBytes
        let first = queue.take(budget: budget, memberCount: 21)
        #expect(first.reduce(0) { $0 + $1.count } <= budget)
        #expect(first.count == 6, "the small one first, then five of the large ones")
        #expect(try decoded(first).first == alive("small"))
        // A large update that does not fit leaves room for a smaller one behind it.
        var mixed = BroadcastQueue(retransmitMult: 4)
        mixed.enqueue(alive("tiny"))
        mixed.enqueue(alive("huge", metadata: 512))
        let tinySize = GossipCodec.encodeFramed(alive("tiny")).count
        #expect(try decoded(mixed.take(budget: tinySize + 10, memberCount: 3)) == [alive("tiny")])
    }
}
