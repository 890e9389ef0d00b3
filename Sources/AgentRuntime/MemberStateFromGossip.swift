// Gossip's member states as the reconciler's typed MemberState (placement never parses display strings).
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

    /// Every member gossip knows, by name.
    static func byName(_ members: [GossipMember]) -> [String: MemberState] {
        var states: [String: MemberState] = [:]
        for member in members { states[member.name] = MemberState(member.state) }
        return states
    }
}

extension AgentState {
    /// Gossip's members, typed for the reconciler.
    func publishMemberStates(of members: [GossipMember]) { publishMemberStates(MemberState.byName(members)) }
}
