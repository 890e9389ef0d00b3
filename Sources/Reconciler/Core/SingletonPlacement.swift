// Where a `placement: one` unit may run: only on the side of a split that sees a strict majority of its role.
//
// Why this rule, and why each side does what it does during a partition (issue 13; figures from
// Tests/GossipTests/Simulation/PartitionPlacementTests.swift and Tests/integration/partition-singleton.sh):
//
// - Majority: a `one` unit runs only where this board sees a strict majority of the role's nodes, as the
//   document lists them, alive (itself included). Two sides of a split cannot both hold a strict majority
//   of the same list, so at most one side runs the unit. A role of 1 node always has its majority (itself); a
//   role of 2 needs both, so one failure stops the unit (a known limit: give such a role a third node).
// - Alive here means gossip says alive *and* this board has heard from the node itself within the lease
//   (SWIMCore.lastHeard: its pings, its acks). Suspects do not count. SWIM's states alone are too slow on the
//   cut-off side: Lifeguard makes a board whose probes keep failing doubt its own network and probe up to 8
//   times less often, so the two boards of a 2 | 3 split saw the far boards dead after 3 s, 10.5 s, >15 s
//   (the issue), and in the simulation suspected all three only after 6 to 24 s, or not within 25 s. The
//   lease does not wait for SWIM: a board that hears from no majority stops within `lease` of the split.
//   The lease is 2 probe rounds of the cluster and a margin (each member pings every other, and is pinged by
//   it, once per round of N - 1 probe intervals of 1 s), so a healthy board does not lose it by chance.
// - Who runs it, among the nodes of that side: rendezvous hashing over the role's nodes that gossip says are
//   alive *or suspect*, so a unit moves away from a node only once gossip has declared it dead (or it left),
//   never while it is merely suspected.
// - A board that becomes the one to run the unit waits `takeoverDelay` (longer than the lease) before it
//   starts it, while a board that stops being that one stops at once. So after a split the new runner starts
//   at the earliest `takeoverDelay` after the split, when the old one has stopped at the latest `lease` after
//   it: the old side always stops first, however slow SWIM is over there. After a heal the returning runner
//   waits the same delay, by which time the interim one has seen it alive and stopped.
// - Before gossip has said anything (an agent just started), `one` units are left as they are.
// - A drained node (hcctl drain, in its gossip metadata, so every board knows) is no candidate while another
//   live node of the role is: its units move off it and none comes back. It still counts for the majority (it
//   is alive and gossiping). When every candidate is drained, they all are candidates again: a unit runs on a
//   drained board rather than nowhere, as a VIP stays on the last live board.
import HomecloudSchema

/// A member's state as gossip reports it, for placement: typed, never a display string.
public enum MemberState: Sendable, Equatable, Hashable {
    case alive, suspect, dead, left
}

/// Gossip's view as placement takes it: each member's state, and when this board last heard from it itself.
public struct MemberView: Sendable, Equatable {
    public var states: [String: MemberState]
    public var lastHeard: [String: Duration]
    /// Members whose metadata says they are drained (this board included, as its own metadata says).
    public var drained: Set<String>
    /// Members' "sr" (the generation each has finished its serial restarts for), from their metadata.
    public var serialDone: [String: UInt64] = [:]
    /// What each member's metadata says of its probes (`wait_for: probe`); a member absent has said nothing.
    public var probes: [String: ProbeSummary]
    /// When this board last had proof that its copy of each member's metadata was the member's latest (gossip's
    /// SWIMCore.confirmed), and the `one` units each member's metadata claims ("oc"; absent: said nothing).
    /// For the fast start (SingletonFastStart.swift).
    public var confirmed: [String: Duration] = [:]
    public var singletonClaims: [String: SingletonClaims] = [:]

    public init(states: [String: MemberState], lastHeard: [String: Duration] = [:], drained: Set<String> = [],
                probes: [String: ProbeSummary] = [:]) {
        self.states = states
        self.lastHeard = lastHeard
        self.drained = drained
        self.probes = probes
    }
}

/// The lease and the takeover delay, from the number of nodes in the document (every board computes the
/// same). 1 s is GossipSettings.probeInterval: a round of probes is N - 1 of them.
public struct SingletonTiming: Sendable, Equatable {
    public var lease: Duration
    public var takeoverDelay: Duration

    public init(lease: Duration, takeoverDelay: Duration) {
        self.lease = lease
        self.takeoverDelay = takeoverDelay
    }

    /// 5 boards: a 10 s lease, a 12 s takeover.
    public static func forCluster(of nodes: Int) -> SingletonTiming {
        let lease = Duration.seconds(2 * max(1, nodes - 1) + 2)
        return SingletonTiming(lease: lease, takeoverDelay: lease + .seconds(2))
    }
}

public enum SingletonPlacement {
    /// Whether this board counts `other` as alive for the majority at `now`.
    static func counts(_ other: String, node: String, view: MemberView, lease: Duration, now: Duration) -> Bool {
        if other == node { return true }
        guard view.states[other] == .alive, let heard = view.lastHeard[other] else { return false }
        return now - heard < lease
    }

    /// The role's nodes this board sees alive (itself always); a node gossip does not know counts as not alive.
    public static func aliveCount(roleNodes: [String], node: String, view: MemberView, lease: Duration,
                                  now: Duration) -> Int {
        roleNodes.filter { counts($0, node: node, view: view, lease: lease, now: now) }.count
    }

    /// Strictly more than half of the role's nodes alive (itself included, suspects and lapsed leases not).
    public static func hasMajority(roleNodes: [String], node: String, view: MemberView, lease: Duration,
                                   now: Duration) -> Bool {
        aliveCount(roleNodes: roleNodes, node: node, view: view, lease: lease, now: now) * 2 > roleNodes.count
    }

    /// When this board's majority could next lapse for lack of news (the earliest lease among those counted).
    public static func nextLapse(roleNodes: [String], node: String, view: MemberView, lease: Duration,
                                 now: Duration) -> Duration? {
        roleNodes.filter { $0 != node && counts($0, node: node, view: view, lease: lease, now: now) }
            .compactMap { view.lastHeard[$0].map { $0 + lease } }.min()
    }

    /// The nodes a `one` unit may go to: alive or suspect (a suspect keeps its unit until declared dead), and
    /// not drained unless all of them are.
    public static func candidates(roleNodes: [String], node: String, view: MemberView) -> [String] {
        let live = roleNodes.filter { $0 == node || view.states[$0] == .alive || view.states[$0] == .suspect }
        let inService = live.filter { !view.drained.contains($0) }
        return inService.isEmpty ? live : inService
    }

    /// The node that runs `unit` in this board's view, or nil when this board's side lacks the majority.
    public static func runner(of unit: String, roleNodes: [String], node: String, view: MemberView, lease: Duration,
                              now: Duration) -> String? {
        guard roleNodes.contains(node), hasMajority(roleNodes: roleNodes, node: node, view: view, lease: lease, now: now) else {
            return nil
        }
        return UnitPlacement.chosenNode(for: unit, among: candidates(roleNodes: roleNodes, node: node, view: view))
    }
}
