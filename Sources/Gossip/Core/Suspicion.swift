// Lifeguard's suspicion timer for one suspect member: long at first, shorter with every independent accuser.

/// A suspicion starts at `maxTimeout`, so a member that is only slow, or whose accuser is the one with a bad
/// network, has time to hear of it and refute. Each further distinct accuser is evidence that the member really
/// is down, and brings the deadline closer, down to `minTimeout` once `expectedConfirmations` have spoken:
/// timeout = max(min, max − (max − min) × log(c + 1) / log(k + 1)).
public struct Suspicion: Sendable, Equatable {
    public let start: Duration
    public let minTimeout: Duration
    public let maxTimeout: Duration
    /// k: how many accusers besides the first make the evidence complete. 0: use `minTimeout` at once (a
    /// cluster too small for anyone else to confirm).
    public let expectedConfirmations: Int
    /// Everyone who accused the member, the first one included.
    public private(set) var accusers: Set<String>

    public init(accuser: String, start: Duration, minTimeout: Duration, maxTimeout: Duration, expectedConfirmations: Int) {
        self.start = start
        self.minTimeout = minTimeout
        self.maxTimeout = max(minTimeout, maxTimeout)
        self.expectedConfirmations = max(0, expectedConfirmations)
        accusers = [accuser]
    }

    /// Timeouts for a cluster of `memberCount`: min = suspicionMult × max(1, log10 N) × gossip interval, max =
    /// suspicionMaxTimeoutMult × min. A suspect refutes by gossip: it hears of the suspicion and its answer
    /// spreads in rounds of the gossip interval, about log N of them to reach everyone; below 10 members the
    /// floor of 1 keeps small clusters from condemning too fast.
    public static func timeouts(memberCount: Int, gossipInterval: Duration, suspicionMult: Int,
                                suspicionMaxTimeoutMult: Int) -> (min: Duration, max: Duration) {
        let scale = max(1, GossipMath.log10(Double(max(1, memberCount))))
        let minimum = gossipInterval * (Double(suspicionMult) * scale)
        return (minimum, minimum * suspicionMaxTimeoutMult)
    }

    /// Confirmations so far: distinct accusers after the first.
    public var confirmations: Int { accusers.count - 1 }

    /// Records an accuser; true when it is a new one and the evidence was not yet complete (the caller then
    /// passes the suspicion on). Past `expectedConfirmations` the timeout is at its minimum: more accusers
    /// would add nothing but gossip, as many rounds as there are members in a large cluster.
    public mutating func confirm(by accuser: String) -> Bool {
        guard confirmations < expectedConfirmations else { return false }
        return accusers.insert(accuser).inserted
    }

    public var timeout: Duration {
        guard expectedConfirmations > 0 else { return minTimeout }
        let fraction = GossipMath.naturalLog(Double(confirmations + 1)) / GossipMath.naturalLog(Double(expectedConfirmations + 1))
        let shrunk = maxTimeout - (maxTimeout - minTimeout) * min(1, fraction)
        return max(minTimeout, shrunk)
    }

    /// When the member is declared dead unless it refutes first.
    public var deadline: Duration { start + timeout }
}
