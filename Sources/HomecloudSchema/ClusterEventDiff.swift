// Turns the successive values of the agent's channels into events (hcctl events): the one place that decides
// what changed. Pure: the shell feeds it each new value with the wall time, and fans out what it returns.

public struct ClusterEventDiff: Sendable {
    public let node: String
    private var seq = 0
    /// nil until the first member list: the members already there when the agent started are no news.
    private var members: [String: String]?
    private var vips: [String: VIPStatus] = [:]
    private var degradedUnits: [String: String] = [:]
    private var failingProbes: Set<String> = []

    public init(node: String) { self.node = node }

    public mutating func onMembers(_ list: [MemberStatus], time: Int) -> [ClusterEvent] {
        guard let known = members else {
            members = Dictionary(list.map { ($0.name, $0.state) }, uniquingKeysWith: { first, _ in first })
            return []
        }
        var events: [ClusterEvent] = []
        var next: [String: String] = [:]
        for member in list where next[member.name] == nil {
            next[member.name] = member.state
            let previous = known[member.name]
            guard previous != member.state else { continue }
            let kind: ClusterEvent.Kind? = switch member.state {
            // New, or back after leaving: joined; back from suspect or dead: alive again.
            case "alive": previous == nil || previous == "left" ? .memberJoined : .memberAlive
            case "suspect": .memberSuspect
            case "dead": .memberDead
            case "left": .memberLeft
            default: nil
            }
            guard let kind else { continue }
            events.append(stamp(ClusterEvent(kind: kind, subject: member.name, state: member.state, previous: previous), time: time))
        }
        members = next
        return events
    }

    public mutating func onVIPs(_ list: [VIPStatus], time: Int) -> [ClusterEvent] {
        var events: [ClusterEvent] = []
        var next: [String: VIPStatus] = [:]
        for vip in list {
            next[vip.name] = vip
            let previous = vips[vip.name]
            if previous?.state != vip.state {
                events.append(stamp(ClusterEvent(kind: .vipTransition, subject: vip.name, state: vip.state, previous: previous?.state,
                                                 holder: vip.holder, reason: vip.reason), time: time))
            } else if previous?.holder != vip.holder, vip.holder != nil {
                events.append(stamp(ClusterEvent(kind: .vipHolder, subject: vip.name, state: vip.state, holder: vip.holder, reason: vip.reason), time: time))
            }
        }
        vips = next
        return events
    }

    /// Units by state (converged, converging, degraded) and why.
    public mutating func onUnits(_ list: [UnitStatus], time: Int) -> [ClusterEvent] {
        var events: [ClusterEvent] = []
        var next: [String: String] = [:]
        for unit in list where unit.state == "degraded" {
            next[unit.name] = unit.reason ?? ""
            if degradedUnits[unit.name] == nil {
                events.append(stamp(ClusterEvent(kind: .unitDegraded, subject: unit.name, state: "degraded", reason: unit.reason), time: time))
            }
        }
        for name in degradedUnits.keys.sorted() where next[name] == nil {
            let now = list.first { $0.name == name }
            events.append(stamp(ClusterEvent(kind: .unitRecovered, subject: name, state: now?.state ?? "gone", previous: "degraded"), time: time))
        }
        degradedUnits = next
        return events
    }

    public mutating func onProbes(_ summary: ProbeSummary, time: Int) -> [ClusterEvent] {
        let next = Set(summary.failing)
        var events: [ClusterEvent] = []
        for name in summary.failing where !failingProbes.contains(name) {
            events.append(stamp(ClusterEvent(kind: .probeFailing, subject: name, state: "failing"), time: time))
        }
        for name in failingProbes.sorted() where !next.contains(name) {
            events.append(stamp(ClusterEvent(kind: .probeHealthy, subject: name, state: "healthy", previous: "failing"), time: time))
        }
        failingProbes = next
        return events
    }

    /// Every accepted document is news (the keeper publishes only what it accepts).
    public mutating func onDocumentAccepted(generation: UInt64, time: Int) -> ClusterEvent {
        stamp(ClusterEvent(kind: .documentAccepted, subject: "desired", generation: generation), time: time)
    }

    public mutating func onDocumentRefused(_ refusal: DocumentRefusal, time: Int) -> ClusterEvent {
        stamp(ClusterEvent(kind: .documentRefused, subject: refusal.source, state: refusal.reason,
                           reason: refusal.messages.first.map(\.description), generation: refusal.generation), time: time)
    }

    private mutating func stamp(_ event: ClusterEvent, time: Int) -> ClusterEvent {
        seq += 1
        var event = event
        event.seq = seq
        event.time = time
        event.node = node
        return event
    }
}
