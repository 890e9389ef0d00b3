// Draining a board from afar (hcctl drain NODE): the asker's side (which requests it publishes and when they
// end) and the asked board's side (which requests count). Pure: the shells carry them out.

/// The asker keeps a request in its gossip metadata until the asked board's metadata shows the state asked
/// for, or `window` has passed (the asked board is down, or does not believe the asker): then it drops it, so
/// an old request never undoes a later change made on the board itself.
public struct DrainRequests: Sendable {
    public static let window = Duration.seconds(30)

    /// Node → (drained asked, until when).
    public private(set) var pending: [String: (drained: Bool, until: Duration)] = [:]
    private var published: [String: Bool] = [:]

    public init() {}

    /// What goes into this board's metadata (node → drained).
    public var outgoing: [String: Bool] { pending.mapValues(\.drained) }

    /// hcctl drain NODE or hcctl undrain NODE on this board.
    public mutating func onRequest(node: String, drained: Bool, now: Duration) {
        pending[node] = (drained, now + Self.window)
    }

    /// Gossip's view now: each member's drained flag as its metadata says. Returns the requests to publish when
    /// they changed (nil: unchanged).
    public mutating func onStep(drainedOf: [String: Bool], now: Duration) -> [String: Bool]? {
        for (node, request) in pending where drainedOf[node] == request.drained || now > request.until {
            pending[node] = nil
        }
        let outgoing = self.outgoing
        guard outgoing != published else { return nil }
        published = outgoing
        return outgoing
    }

    /// The state other members ask of `node`: requests from alive members other than itself that it may act on
    /// (`mayActOn`: they sealed their metadata with their own node key, or nothing is checked on this board).
    /// nil when none asks, or when askers disagree (nothing is done until they agree).
    public static func asked(of node: String,
                             by members: some Sequence<(member: GossipMember, metadata: NodeMetadata?, mayActOn: Bool)>) -> DrainAsk? {
        var asks: [Bool: [String]] = [:]
        for (member, metadata, mayActOn) in members where member.state == .alive && member.name != node && mayActOn {
            if let wanted = metadata?.drainRequests[node] { asks[wanted, default: []].append(member.name) }
        }
        guard asks.count == 1, let (wanted, askers) = asks.first else { return nil }
        return DrainAsk(drained: wanted, by: askers.sorted())
    }
}

/// What other boards ask of this one: drained or back in service, and who asks.
public struct DrainAsk: Sendable, Equatable {
    public var drained: Bool
    public var by: [String]

    public init(drained: Bool, by: [String]) {
        self.drained = drained
        self.by = by
    }
}
