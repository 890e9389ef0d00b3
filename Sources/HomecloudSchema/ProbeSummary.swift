// How many probes a board runs, which fail and which have no verdict yet: what its gossip metadata says of its probes.

public struct ProbeSummary: Sendable, Equatable {
    public var count: Int
    public var failing: [String]
    /// Probes that have not passed yet since they started (still in their grace, or never checked): neither
    /// failing nor healthy. On the wire ("pu") only when not empty.
    public var unknown: [String]

    public init(count: Int, failing: [String], unknown: [String] = []) {
        self.count = count
        self.failing = failing
        self.unknown = unknown
    }

    /// Whether the board says `probe` passes: it runs probes, and names it neither failing nor unknown. A list
    /// cut short to fit the metadata ("?") leaves no probe healthy, so a board never looks healthier than it is.
    /// A board of an agent older than "pu" counts a probe in its grace as healthy (it cannot say otherwise).
    public func isHealthy(_ probe: String) -> Bool {
        guard count > 0, !failing.contains("?"), !unknown.contains("?") else { return false }
        return !failing.contains(probe) && !unknown.contains(probe)
    }
}
