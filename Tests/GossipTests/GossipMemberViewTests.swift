// Gossip's member states reach the reconciler's placement as typed values, with when each was last heard from.
@testable import Gossip
import Reactor
import ReconcilerCore
import Testing

@Suite struct GossipViewTests {
    @Test func gossipStatesReachThePlannerTyped() throws {
        let address = GossipAddress(ipv4: 10, 0, 0, 1, port: 7946)
        let members = [GossipMember.State.alive, .suspect, .dead, .left].enumerated().map { index, state in
            GossipMember(name: "n\(index)", address: address, incarnation: 0, state: state, since: .zero)
        }
        let origin = ContinuousClock.now
        let view = MemberView(members, lastHeard: ["n1": .seconds(3)], origin: origin)
        #expect(view.states == ["n0": .alive, "n1": .suspect, "n2": .dead, "n3": .left])
        #expect(view.lastHeard == ["n1": MonotonicTime.time(origin) + .seconds(3)])
    }
}
