// What a board gossips about itself: version, generation, content hash and roles, within 512 bytes.
import Gossip
import HomecloudSchema
import Reconciler
import Testing
@testable import AgentRuntime

@Suite struct NodeMetadataTests {
    @Test func roundTripsAndStaysWithinTheLimit() {
        let metadata = NodeMetadata(version: "0.1.0", generation: 42, hash: 0xDEAD_BEEF_0123_4567, roles: ["k3s-server", "dnas"])
        #expect(NodeMetadata(metadata.bytes) == metadata)
        let crowded = NodeMetadata(version: "0.1.0", generation: 1, hash: 1, roles: (0..<100).map { "role-number-\($0)" })
        #expect(crowded.bytes.count <= GossipMember.maxMetadataBytes)
        #expect(NodeMetadata(crowded.bytes)?.generation == 1, "roles are dropped before the generation is")
    }

    @Test func foreignOrEmptyMetadataIsNil() {
        #expect(NodeMetadata([]) == nil)
        #expect(NodeMetadata(Array("not json".utf8)) == nil)
        #expect(NodeMetadata(Array(#"{"v":"1","g":1}"#.utf8)) == nil)
    }
}

@Suite struct GossipViewTests {
    @Test func gossipStatesReachThePlannerTyped() throws {
        let address = GossipAddress(ipv4: 10, 0, 0, 1, port: 7946)
        let members = [GossipMember.State.alive, .suspect, .dead, .left].enumerated().map { index, state in
            GossipMember(name: "n\(index)", address: address, incarnation: 0, state: state, since: .zero)
        }
        let origin = ContinuousClock.now
        let view = MemberView(members, lastHeard: ["n1": .seconds(3)], origin: origin)
        #expect(view.states == ["n0": .alive, "n1": .suspect, "n2": .dead, "n3": .left])
        #expect(view.lastHeard == ["n1": origin + .seconds(3)])
    }

    @Test func probeHealthAndHeldVIPsRideTheMetadata() {
        var metadata = NodeMetadata(version: "0.1.0", generation: 3, hash: 9, roles: ["web"])
        #expect(NodeMetadata(metadata.bytes)?.probes == nil)  // not said yet
        metadata.probes = ProbeSummary(count: 3, failing: ["k3s-api"])
        metadata.vips = ["front"]
        #expect(NodeMetadata(metadata.bytes) == metadata)
        // Too many failing names to fit: the count stays, the names give way to "?".
        metadata.roles = []
        metadata.probes = ProbeSummary(count: 200, failing: (0..<200).map { "probe-\($0)" })
        let decoded = NodeMetadata(metadata.bytes)
        #expect(metadata.bytes.count <= GossipMember.maxMetadataBytes)
        #expect(decoded?.probes == ProbeSummary(count: 200, failing: ["?"]) && decoded?.vips == ["front"])
    }

    @Test func convergenceRidesTheMetadata() {
        let metadata = NodeMetadata(version: "0.1.0", generation: 3, hash: 9, roles: ["web"], convergence: "degraded")
        #expect(NodeMetadata(metadata.bytes)?.convergence == "degraded")
    }
}
