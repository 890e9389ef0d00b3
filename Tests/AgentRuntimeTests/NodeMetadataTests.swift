// What a board gossips about itself: version, generation, content hash and roles, within 512 bytes.
import Gossip
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
