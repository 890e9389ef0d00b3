// When to try joining the configured and cached peers again, and how often: the backoff schedule. Pure.

/// While one of the seeds (configured and cached peers) is not an active member, it is joined again: 2 s after
/// the start, then twice as long each time (up to 30 s), and back to 2 s once every seed is there. It covers a
/// peer that started after this node, a partition longer than the core remembers the other side, a house where
/// every board rebooted at once. A leave ends it.
public struct RejoinBackoff: Sendable {
    public static let firstInterval = Duration.seconds(2)
    public static let longestInterval = Duration.seconds(30)

    public enum Action: Sendable, Equatable {
        /// Join these seeds (SWIMCore.join: a push-pull with each).
        case join([GossipAddress])
    }

    public let seeds: [GossipAddress]
    /// The wait before the next check after this one.
    public private(set) var interval = firstInterval
    private var nextCheck: Duration?
    private var leaving = false

    public init(seeds: [GossipAddress]) {
        self.seeds = seeds
    }

    /// When the shell must call `onTimer` next; nil before the start and after a leave.
    public var nextDeadline: Duration? { leaving ? nil : nextCheck }

    /// The start: every seed is joined at once, and checked again after the first interval.
    public mutating func onStart(now: Duration) -> [Action] {
        nextCheck = now + interval
        return [.join(seeds)]
    }

    /// At a timer (any of the shell's): when a check is due, the seeds missing from `members` (not alive or
    /// suspect there) are joined and the wait doubles; none missing, it is back to the first interval.
    /// `members` is asked only when a check is due.
    public mutating func onTimer(now: Duration, members: () -> [GossipMember]) -> [Action] {
        guard !leaving, let due = nextCheck, now >= due else { return [] }
        let present = Set(members().lazy.filter(\.isActive).map(\.address))
        let missing = seeds.filter { !present.contains($0) }
        var actions: [Action] = []
        if missing.isEmpty {
            interval = Self.firstInterval
        } else {
            actions.append(.join(missing))
            interval = min(interval * 2, Self.longestInterval)
        }
        nextCheck = now + interval
        return actions
    }

    /// This node leaves the cluster: no more joins.
    public mutating func onLeave() {
        leaving = true
    }
}
