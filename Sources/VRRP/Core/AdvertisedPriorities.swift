// The priority a board advertises for each VIP, one rule for this board and for the others: the document's, moved
// by the weights of the board's failing tracked probes, clamped to 1-254, then its sync group's lowest. Pure.
import HomecloudSchema

/// This board's routers advertise what `of(node:...)` gives with its own probes' adjustments; a planned step-down
/// (TargetedHandover) aims one below the best other board's, computed by the same rule from the failing probes
/// that board gossips ("pf"), so it steps down to the board that actually preempts, not to one whose failing
/// probes lowered it below the guess.
public enum AdvertisedPriorities {
    /// What is known of another board's probes.
    public enum ProbeState: Sendable, Equatable {
        /// The probes it names failing (its gossiped summary).
        case failing(Set<String>)
        /// Not said (an older agent, no metadata yet) or cut short to fit the metadata ("?"): the board is taken
        /// at the document's priority, as before its probes were counted.
        case unknown

        /// From a board's gossiped probe summary (nil: it said nothing).
        public init(_ summary: ProbeSummary?) {
            guard let summary, !summary.failing.contains("?") else {
                self = .unknown
                return
            }
            self = .failing(Set(summary.failing))
        }
    }

    /// One router's advertised priority before its group: the document's plus the adjustment, within 1-254 (255
    /// is the address owner's, 0 means leaving; VRRPInstance clamps to the same range).
    public static func base(configured: Int, adjustment: Int) -> Int {
        max(1, min(254, configured + adjustment))
    }

    /// The weights of a VIP's tracked probes that another board names failing, summed (VirtualIP.trackedAdjustment).
    public static func adjustment(tracking track: [String], weights: [String: Int], failing: Set<String>) -> Int {
        VirtualIP.trackedAdjustment(tracking: track, weight: { weights[$0] }, failing: failing.contains)
    }

    /// VIP → the weights of its failing tracked probes on a board in `state` (unknown: none).
    public static func adjustments(vips: [VirtualIP], probes: [Probe], state: ProbeState) -> [String: Int] {
        guard case .failing(let failing) = state, !failing.isEmpty else { return [:] }
        var weights: [String: Int] = [:]
        for probe in probes { weights[probe.name] = probe.weight }
        var result: [String: Int] = [:]
        for vip in vips where !vip.track.isEmpty {
            let moved = adjustment(tracking: vip.track, weights: weights, failing: failing)
            if moved != 0 { result[vip.name] = moved }
        }
        return result
    }

    /// VIP → the priority `node` advertises for each of `vips` when no handover concerns it: each VIP's `base`,
    /// then a grouped VIP its group's lowest (SyncGroups), so the group's elections agree.
    public static func of(node: String, vips: [VirtualIP], groups: SyncGroups, adjustments: [String: Int]) -> [String: Int] {
        var own: [String: Int] = [:]
        for vip in vips { own[vip.name] = base(configured: vip.priority.of(node), adjustment: adjustments[vip.name] ?? 0) }
        return groups.priorities(own)
    }

    /// VIP → the highest priority any of `others` advertises, for the VIPs that preempt (only a preempting board
    /// takes a VIP from a lower master): where a planned step-down aims. `probes` gives each board's probe state
    /// (absent: unknown).
    public static func best(among others: some Sequence<String>, vips: [VirtualIP], probes documentProbes: [Probe],
                            groups: SyncGroups, states: [String: ProbeState]) -> [String: Int] {
        let preempting = vips.filter(\.preempt)
        guard !preempting.isEmpty else { return [:] }
        var best: [String: Int] = [:]
        for other in others {
            let moved = adjustments(vips: vips, probes: documentProbes, state: states[other] ?? .unknown)
            let theirs = of(node: other, vips: vips, groups: groups, adjustments: moved)
            for vip in preempting {
                guard let priority = theirs[vip.name] else { continue }
                best[vip.name] = max(best[vip.name] ?? 0, priority)
            }
        }
        return best
    }
}
