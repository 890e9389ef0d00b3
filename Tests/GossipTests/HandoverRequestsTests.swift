// Whose targeted handover requests a board hears: alive members other than itself, whose requests count.
import Testing
@testable import Gossip

private func member(_ name: String, _ state: GossipMember.State = .alive) -> GossipMember {
    GossipMember(name: name, address: GossipAddress(ipv4: 10, 0, 0, 1, port: 7964), incarnation: 1, state: state, since: .zero)
}

private func asking(_ requests: [String: String]) -> NodeMetadata {
    var metadata = NodeMetadata(version: "1", generation: 1, hash: 1, roles: [])
    metadata.handovers = requests
    return metadata
}

@Suite struct HandoverRequestsTests {
    @Test func anAliveMemberAskingThisBoardIsHeard() {
        let members: [(member: GossipMember, metadata: NodeMetadata?, mayActOn: Bool)] = [
            (member("n1"), asking(["web": "n2", "mail": "n3"]), true),
            (member("n4"), asking(["db": "n2"]), true),
            (member("n5"), nil, true),
        ]
        #expect(HandoverRequests.asked(of: "n2", by: members) == ["web", "db"])
        #expect(HandoverRequests.asked(of: "n3", by: members) == ["mail"])
        #expect(HandoverRequests.asked(of: "n6", by: members).isEmpty)
    }

    @Test func aSuspectDeadOrLeftMemberItselfOrAnUnsignedRequestIsNot() {
        for state in [GossipMember.State.suspect, .dead, .left] {
            #expect(HandoverRequests.asked(of: "n2", by: [(member("n1", state), asking(["web": "n2"]), true)]).isEmpty, "\(state)")
        }
        #expect(HandoverRequests.asked(of: "n2", by: [(member("n2"), asking(["web": "n2"]), true)]).isEmpty, "its own metadata")
        #expect(HandoverRequests.asked(of: "n2", by: [(member("n1"), asking(["web": "n2"]), false)]).isEmpty, "not sealed by n1's key")
    }
}
