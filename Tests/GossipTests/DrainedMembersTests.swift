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

/// hcctl drain NODE: the asker's requests (kept until NODE shows it or the window ends) and whose count on NODE.
@Suite struct DrainRequestsTests {
    func member(_ name: String, _ state: GossipMember.State = .alive) -> GossipMember {
        GossipMember(name: name, address: GossipAddress(ipv4: 10, 0, 0, 1, port: 7964), incarnation: 1, state: state, since: .zero)
    }

    func asking(_ requests: [String: Bool]) -> NodeMetadata {
        var metadata = NodeMetadata(version: "0.1.0", generation: 1, hash: 1, roles: [])
        metadata.drainRequests = requests
        return metadata
    }

    @Test func requestsRoundTripInMetadataAndAreAbsentWhenNone() {
        let metadata = asking(["n2": true, "n3": false])
        #expect(String(decoding: metadata.bytes, as: UTF8.self).hasSuffix(#""dq":{"n2":true,"n3":false}}"#))
        #expect(NodeMetadata(metadata.bytes) == metadata)
        #expect(!String(decoding: asking([:]).bytes, as: UTF8.self).contains("dq"))
    }

    @Test func theAskerKeepsARequestUntilItShowsOrTheWindowEnds() {
        var requests = DrainRequests()
        requests.onRequest(node: "n2", drained: true, now: .seconds(1))
        #expect(requests.onStep(drainedOf: ["n2": false], now: .seconds(1)) == ["n2": true])
        #expect(requests.onStep(drainedOf: ["n2": false], now: .seconds(2)) == nil, "published once")
        #expect(requests.onStep(drainedOf: ["n2": true], now: .seconds(3)) == [:], "n2 shows drained: the request ends")
        requests.onRequest(node: "n3", drained: true, now: .seconds(10))
        _ = requests.onStep(drainedOf: [:], now: .seconds(10))
        #expect(requests.onStep(drainedOf: [:], now: .seconds(10) + DrainRequests.window) == nil)
        #expect(requests.onStep(drainedOf: [:], now: .seconds(11) + DrainRequests.window) == [:], "n3 never showed it: dropped after the window")
    }

    @Test func onlyAliveMembersItBelievesCountAndDisagreementDoesNothing() {
        let views: [(member: GossipMember, metadata: NodeMetadata?, mayActOn: Bool)] = [
            (member("n1"), asking(["n2": true]), true),
            (member("n4"), asking(["n2": false]), false),  // not signed by its own key: ignored
            (member("n5", .dead), asking(["n2": false]), true),  // not alive: ignored
            (member("n2"), asking(["n2": false]), true),  // itself: ignored
        ]
        #expect(DrainRequests.asked(of: "n2", by: views) == DrainAsk(drained: true, by: ["n1"]))
        #expect(DrainRequests.asked(of: "n3", by: views) == nil)
        let split = views + [(member("n6"), asking(["n2": false]), true)]
        #expect(DrainRequests.asked(of: "n2", by: split) == nil, "askers disagree: nothing is done")
    }
}
