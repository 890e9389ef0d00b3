// Membership updates waiting to ride along in datagrams, each sent a limited number of times.

/// Infection-style dissemination: every update is piggybacked on `retransmitMult × ceil(log10(N + 1))`
/// outgoing datagrams, enough for an epidemic to reach all N members with high probability, and then dropped.
/// The least-sent and then newest updates go first, so fresh news (a suspicion, a refutation) overtakes a
/// backlog. Only the latest update about a member is kept: an older one is stale by definition.
public struct BroadcastQueue: Sendable {
    struct Entry: Sendable {
        var framed: [UInt8]
        var transmits: Int
        /// Larger is newer.
        var order: UInt64
    }

    public let retransmitMult: Int
    private var entries: [String: Entry] = [:]
    private var nextOrder: UInt64 = 0

    public init(retransmitMult: Int) {
        self.retransmitMult = max(1, retransmitMult)
    }

    public var count: Int { entries.count }
    /// How many updates were ever queued: a change in it tells the core there is news to send.
    public var enqueuedTotal: UInt64 { nextOrder }
    public var isEmpty: Bool { entries.isEmpty }

    /// How many datagrams carry each update in a cluster of `memberCount`.
    public static func transmitLimit(retransmitMult: Int, memberCount: Int) -> Int {
        retransmitMult * max(1, GossipMath.ceilLog10(memberCount + 1))
    }

    /// Queues an update about a member, replacing any older one about the same member. Probe messages, which
    /// are about no member, are not queued.
    public mutating func enqueue(_ message: GossipMessage) {
        guard let subject = message.subject else { return }
        entries[subject] = Entry(framed: GossipCodec.encodeFramed(message), transmits: 0, order: nextOrder)
        nextOrder += 1
    }

    /// The update queued about `name`, if any (for tests and status).
    public func pending(about name: String) -> [UInt8]? { entries[name]?.framed }

    /// Framed updates totalling at most `budget` bytes, counting one transmission for each.
    public mutating func take(budget: Int, memberCount: Int) -> [[UInt8]] {
        guard !entries.isEmpty, budget > 0 else { return [] }
        let limit = Self.transmitLimit(retransmitMult: retransmitMult, memberCount: memberCount)
        let ordered = entries.sorted { a, b in
            a.value.transmits != b.value.transmits ? a.value.transmits < b.value.transmits : a.value.order > b.value.order
        }
        var remaining = budget
        var chosen: [[UInt8]] = []
        for (subject, entry) in ordered {
            // The smallest update (left, 1-byte name) is 14 bytes: below that nothing more can fit.
            if remaining < 14 { break }
            guard entry.framed.count <= remaining else { continue }
            chosen.append(entry.framed)
            remaining -= entry.framed.count
            if entry.transmits + 1 >= limit {
                entries[subject] = nil
            } else {
                entries[subject]?.transmits += 1
            }
        }
        return chosen
    }
}
