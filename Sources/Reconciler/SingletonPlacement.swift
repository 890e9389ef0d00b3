// Where a `placement: one` unit may run: only on the side of a split that sees a strict majority of its role.
//
// Why this rule, and why each side does what it does during a partition (issue 13, measured on 5 boards
// split 2 | 3, see the README's placement paragraph):
//
// - Majority: a `one` unit runs only where this board sees a strict majority of the role's nodes, as the
//   document lists them, *alive* (itself included). Two sides of a split cannot both hold a strict majority
//   of the same list, so at most one side runs the unit. A role of 1 node always has its majority (itself); a
//   role of 2 needs both, so one failure stops the unit (a known limit: give such a role a third node).
// - Suspects do not count towards the majority. The minority learns that it is cut off only through its own
//   failed probes, and Lifeguard makes those slow: a board whose probes keep failing doubts its own network
//   and probes up to 8 times less often, so the minority sees the far boards *dead* after 3 s, 10.5 s, >15 s,
//   but *suspect* within a few seconds. Stopping on suspicion is what lets the minority stop before the
//   majority moves the unit. The price: a board that is suspected for a moment (a lossy link) can make a
//   board at the edge of its majority stop the unit until the suspicion is refuted.
// - Who runs it, among the nodes of that side: rendezvous hashing over the role's nodes that are alive *or
//   suspect*, so a unit moves away from a node only once gossip has declared it dead (or it left), never
//   while it is merely suspected: a suspect that is really alive keeps its unit, and the minority side has
//   had the suspicion timeout on top of its own detection to stop.
// - A board that becomes the one to run the unit waits `takeoverDelay` (ReconcileCore) before starting it,
//   while a board that stops being that one stops at once. Dead is not enough by itself: the majority
//   declares a far board dead faster (its network is healthy, its accusers confirm each other) than the
//   far board suspects all of the majority (its probes are the slow ones). The delay covers that difference
//   after a split and, after a heal, the moment the returning winner sees its majority again before the
//   interim runner sees it back alive. Figures: Tests/GossipTests/Simulation/PartitionPlacementTests.swift.
import HomecloudSchema

/// A member's state as gossip reports it, for placement: typed, never a display string.
public enum MemberState: Sendable, Equatable, Hashable {
    case alive, suspect, dead, left
}

public enum SingletonPlacement {
    /// The role's nodes this board sees alive (itself always); a node gossip does not know counts as not alive.
    public static func aliveCount(roleNodes: [String], node: String, members: [String: MemberState]) -> Int {
        roleNodes.filter { $0 == node || members[$0] == .alive }.count
    }

    /// Strictly more than half of the role's nodes alive (itself included, suspects not).
    public static func hasMajority(roleNodes: [String], node: String, members: [String: MemberState]) -> Bool {
        aliveCount(roleNodes: roleNodes, node: node, members: members) * 2 > roleNodes.count
    }

    /// The nodes a `one` unit may go to: alive or suspect (a suspect keeps its unit until declared dead).
    public static func candidates(roleNodes: [String], node: String, members: [String: MemberState]) -> [String] {
        roleNodes.filter { $0 == node || members[$0] == .alive || members[$0] == .suspect }
    }

    /// The node that runs `unit` in this board's view, or nil when this board's side lacks the majority.
    public static func runner(of unit: String, roleNodes: [String], node: String, members: [String: MemberState]) -> String? {
        guard roleNodes.contains(node), hasMajority(roleNodes: roleNodes, node: node, members: members) else { return nil }
        return UnitPlacement.chosenNode(for: unit, among: candidates(roleNodes: roleNodes, node: node, members: members))
    }
}
