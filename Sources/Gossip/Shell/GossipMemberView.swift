// Gossip's members as the reconciler takes them: typed states (never display strings) and when each was last
// heard from, as GossipDriver reports them (at every membership change and, for the lease of `placement: one`,
// at most once a second).
import HomecloudSchema
import Reactor
import ReconcilerCore

extension MemberState {
    init(_ state: GossipMember.State) {
        switch state {
        case .alive: self = .alive
        case .suspect: self = .suspect
        case .dead: self = .dead
        case .left: self = .left
        }
    }
}

extension MemberView {
    /// `origin`: the instant the core's clock (a Duration since then) started.
    init(_ members: [GossipMember], lastHeard: [String: Duration], origin: ContinuousClock.Instant, drained: Set<String> = [],
         probes: [String: ProbeSummary] = [:]) {
        var states: [String: MemberState] = [:]
        for member in members { states[member.name] = MemberState(member.state) }
        self.init(states: states, lastHeard: lastHeard.mapValues { MonotonicTime.time(origin + $0) }, drained: drained, probes: probes)
    }
}
