// What a board gossips about itself: version, generation, content hash and roles, within 512 bytes.
import HomecloudSchema
import Testing
@testable import GossipCore

@Suite struct NodeMetadataTests {
    @Test func roundTripsAndStaysWithinTheLimit() {
        let metadata = NodeMetadata(version: "0.1.0", generation: 42, hash: 0xDEAD_BEEF_0123_4567, roles: ["k3s-server", "dnas"])
        #expect(NodeMetadata(metadata.bytes) == metadata)
        let crowded = NodeMetadata(version: "0.1.0", generation: 1, hash: 1, roles: (0..<100).map { "role-number-\($0)" })
        #expect(crowded.bytes.count <= GossipMember.maxMetadataBytes)
        #expect(NodeMetadata(crowded.bytes)?.generation == 1, "roles are dropped before the generation is")
    }

    @Test func aSmallerLimitLeavesRoomForTheNodeKeySeal() throws {
        // 73 bytes of seal (Trust's MetadataSeal.overhead) around the JSON must still fit gossip's 512.
        let limit = GossipMember.maxMetadataBytes - 73
        var crowded = NodeMetadata(version: "0.1.0", generation: 7, hash: 5, roles: (0..<30).map { "role-\($0)" })
        crowded.probes = ProbeSummary(count: 60, failing: (0..<60).map { "probe-\($0)" })
        crowded.vips = (0..<20).map { "vip-\($0)" }
        let encoded = crowded.encoded(within: limit)
        #expect(encoded.count <= limit && NodeMetadata(encoded)?.generation == 7)
        // Metadata that fits gossip alone but not with the seal gives way within the smaller limit.
        let between = try #require((1..<60).lazy.map { NodeMetadata(version: "0.1.0", generation: 7, hash: 5, roles: (0..<$0).map { "role-\($0)" }) }
            .first { $0.bytes.count > limit })
        #expect(between.bytes.count <= GossipMember.maxMetadataBytes && between.encoded(within: limit).count <= limit)
    }

    @Test func singletonClaimsRideTheMetadataWholeOrNotAtAll() {
        var metadata = NodeMetadata(version: "0.3.0", generation: 4, hash: 9, roles: ["db"])
        #expect(NodeMetadata(metadata.bytes)?.singletonClaims == nil, "said nothing")
        metadata.singletonClaims = SingletonClaims(generation: 4, units: [])
        #expect(String(decoding: metadata.bytes, as: UTF8.self).contains(#""oc":{"g":4,"u":[]}"#))
        #expect(NodeMetadata(metadata.bytes) == metadata, "an empty claim is a claim: nothing runs here")
        metadata.singletonClaims = SingletonClaims(generation: 4, units: ["z.service", "a.service"])
        #expect(NodeMetadata(metadata.bytes)?.singletonClaims?.units == ["a.service", "z.service"])
        // Anything but names in the list: said nothing (never read as fewer claims).
        let odd = Array(#"{"v":"x","g":1,"h":"1","oc":{"g":1,"u":["a.service",3]}}"#.utf8)
        #expect(NodeMetadata(odd) != nil && NodeMetadata(odd)?.singletonClaims == nil)
        // Too much to fit: the claims go whole, before the roles.
        metadata.singletonClaims = SingletonClaims(generation: 4, units: (0..<40).map { "unit-number-\($0).service" })
        let trimmed = NodeMetadata(metadata.bytes)
        #expect(metadata.bytes.count <= GossipMember.maxMetadataBytes)
        #expect(trimmed?.singletonClaims == nil && trimmed?.roles == ["db"])
    }

    @Test func foreignOrEmptyMetadataIsNil() {
        #expect(NodeMetadata([]) == nil)
        #expect(NodeMetadata(Array("not json".utf8)) == nil)
        #expect(NodeMetadata(Array(#"{"v":"1","g":1}"#.utf8)) == nil)
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

    /// "pu" (wait_for): probes without a verdict yet ride beside the failing ones, and give way to "?" the same way.
    @Test func probesWithoutAVerdictRideTheMetadata() {
        var metadata = NodeMetadata(version: "0.1.0", generation: 3, hash: 9, roles: ["web"])
        metadata.probes = ProbeSummary(count: 3, failing: ["web"], unknown: ["k3s-api"])
        #expect(NodeMetadata(metadata.bytes) == metadata)
        #expect(String(decoding: metadata.bytes, as: UTF8.self).contains(#""pu":["k3s-api"]"#))
        // None unknown: no key at all (the bytes of an agent before wait_for).
        metadata.probes = ProbeSummary(count: 3, failing: ["web"])
        #expect(!String(decoding: metadata.bytes, as: UTF8.self).contains(#""pu""#))
        metadata.roles = []
        metadata.probes = ProbeSummary(count: 400, failing: (0..<200).map { "probe-\($0)" }, unknown: (200..<400).map { "probe-\($0)" })
        let decoded = NodeMetadata(metadata.bytes)
        #expect(metadata.bytes.count <= GossipMember.maxMetadataBytes)
        #expect(decoded?.probes == ProbeSummary(count: 400, failing: ["?"], unknown: ["?"]))
        #expect(decoded?.probes?.isHealthy("probe-500") == false, "names cut short leave no probe healthy")
        #expect(ProbeSummary(count: 2, failing: ["a"], unknown: ["b"]).isHealthy("c"))
    }

    @Test func convergenceRidesTheMetadata() {
        let metadata = NodeMetadata(version: "0.1.0", generation: 3, hash: 9, roles: ["web"], convergence: "degraded")
        #expect(NodeMetadata(metadata.bytes)?.convergence == "degraded")
    }
}
