// The drained flag in gossip metadata: on the wire only when set (an older agent's metadata reads as before),
// and the drained members every board counts for placement.
import HomecloudSchema
import Testing
@testable import GossipCore

@Suite struct DrainedMembersTests {
    func member(_ name: String, _ state: GossipMember.State = .alive) -> GossipMember {
        GossipMember(name: name, address: GossipAddress(ipv4: 10, 0, 0, 1, port: 7964), incarnation: 1, state: state, since: .zero)
    }

    @Test func theFlagRoundTripsAndIsAbsentWhenNotDrained() {
        var metadata = NodeMetadata(version: "0.1.0", generation: 3, hash: 0xAB, roles: ["db"])
        #expect(!String(decoding: metadata.bytes, as: UTF8.self).contains("dr"), "not drained: the bytes are an older agent's")
        metadata.drained = true
        #expect(String(decoding: metadata.bytes, as: UTF8.self).hasSuffix(#","dr":true}"#))
        #expect(NodeMetadata(metadata.bytes) == metadata)
    }

    @Test func anOlderAgentsMetadataIsNotDrainedAndJunkIsIgnored() {
        let old = Array(#"{"v":"0.0.9","g":2,"h":"ff","r":[]}"#.utf8)
        #expect(NodeMetadata(old)?.drained == false)
        let odd = Array(#"{"v":"0.2.0","g":2,"h":"ff","r":[],"dr":"yes"}"#.utf8)
        #expect(NodeMetadata(odd)?.drained == false, "only true drains")
    }

    @Test func theFlagSurvivesTrimmingToTheLimit() {
        var crowded = NodeMetadata(version: "0.1.0", generation: 1, hash: 1, roles: (0..<100).map { "role-number-\($0)" })
        crowded.drained = true
        #expect(crowded.bytes.count <= GossipMember.maxMetadataBytes)
        #expect(NodeMetadata(crowded.bytes)?.drained == true)
    }

    @Test func drainedMembersAreThoseWhoseMetadataSaysSo() {
        var drained = NodeMetadata(version: "0.1.0", generation: 1, hash: 1, roles: [])
        drained.drained = true
        let plain = NodeMetadata(version: "0.1.0", generation: 1, hash: 1, roles: [])
        let members: [(member: GossipMember, metadata: NodeMetadata?)] = [
            (member("a"), drained), (member("b"), plain), (member("c"), nil), (member("d", .suspect), drained),
        ]
        #expect(DrainedMembers.names(in: members) == ["a", "d"])
    }
}
