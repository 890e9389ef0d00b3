// Gossip's members as the reconciler takes them: typed states (never display strings) and when each was last
// heard from, published on every membership change and, for the lease of `placement: one`, once a second.
import Gossip
import Reconciler

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
    init(_ members: [GossipMember], lastHeard: [String: Duration], origin: ContinuousClock.Instant) {
        var states: [String: MemberState] = [:]
        for member in members { states[member.name] = MemberState(member.state) }
        self.init(states: states, lastHeard: lastHeard.mapValues { origin + $0 })
    }
}

/// Publishes the view from the gossip loop: at once when members changed, else at most once a second (a
/// fresher "heard from" only matters to a lease of several seconds; an older one errs towards stopping).
final class MemberViewPublisher {
    private var lastPublished: Duration?

    func publish(_ core: SWIMCore, origin: ContinuousClock.Instant, now: Duration, membersChanged: Bool, to state: AgentState) async {
        // Alone at start, the join's answer is usually milliseconds away: a view of this node alone would stop
        // the `one` units a restarted agent runs. A board that stays alone gets its view after 5 s.
        if !membersChanged, let last = lastPublished, now - last < .seconds(1) { return }
        if core.activeMemberCount < 2 && now < .seconds(5) { return }
        lastPublished = now
        await state.publishMemberView(MemberView(core.members, lastHeard: core.lastHeard, origin: origin))
    }
}
