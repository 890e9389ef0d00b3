// When a board fetches a peer's document, and which documents from push-pulls it hands on to be parsed.
import GossipCore
import Testing

/// Mutating calls, outside #expect's own closure.
private func fetch(_ policy: inout DocumentFetchPolicy, from member: String, generation: UInt64, hash: UInt64, now: Duration) -> Bool {
    policy.shouldFetch(from: member, generation: generation, hash: hash, now: now)
}

private func fail(_ packets: inout UnopenedPackets, from address: GossipAddress, now: Duration) -> Bool {
    packets.failed(from: address, now: now)
}

@Suite struct DocumentFetchPolicyTests {
    @Test func aNewerGenerationOrAWinningHashIsFetchedAtOnce() {
        var policy = DocumentFetchPolicy()
        policy.runs(generation: 3, hash: 50)
        #expect(!fetch(&policy, from: "n2", generation: 3, hash: 50, now: .zero), "the same document")
        #expect(!fetch(&policy, from: "n2", generation: 2, hash: 99, now: .zero), "an older one")
        #expect(!fetch(&policy, from: "n2", generation: 3, hash: 10, now: .zero), "a losing conflict")
        #expect(fetch(&policy, from: "n2", generation: 3, hash: 60, now: .zero), "a winning conflict")
        #expect(fetch(&policy, from: "n3", generation: 4, hash: 1, now: .zero))
    }

    @Test func aFetchUnderWayOrFailedWaitsItsTurnButASuccessDoesNot() {
        var policy = DocumentFetchPolicy()
        #expect(fetch(&policy, from: "n2", generation: 1, hash: 1, now: .zero))
        #expect(!fetch(&policy, from: "n2", generation: 2, hash: 1, now: .milliseconds(100)), "one under way")
        policy.fetchEnded(from: "n2", succeeded: false, now: .milliseconds(200))
        #expect(!fetch(&policy, from: "n2", generation: 2, hash: 1, now: .milliseconds(600)))
        #expect(fetch(&policy, from: "n2", generation: 2, hash: 1, now: .milliseconds(700)))
        policy.fetchEnded(from: "n2", succeeded: true, now: .milliseconds(800))
        #expect(fetch(&policy, from: "n2", generation: 3, hash: 1, now: .milliseconds(810)), "news right after a fetch")
    }

    @Test func onlyDocumentsThatMayBeNewerAreHandedOnToBeParsed() {
        var policy = DocumentFetchPolicy()
        policy.runs(generation: 5, hash: 70)
        #expect(!policy.shouldOffer(textHash: 70, announced: (5, 70)), "ours")
        #expect(!policy.shouldOffer(textHash: 70, announced: nil), "ours, from a peer without metadata")
        #expect(!policy.shouldOffer(textHash: 12, announced: (4, 12)), "an older one, as its sender says")
        #expect(policy.shouldOffer(textHash: 12, announced: (6, 12)))
        #expect(policy.shouldOffer(textHash: 12, announced: (6, 99)), "its sender's metadata is about another text")
        #expect(policy.shouldOffer(textHash: 12, announced: nil))
    }
}

@Suite struct UnopenedPacketsTests {
    let peer = GossipAddress(ipv4: 10, 77, 0, 3, port: 7964)

    @Test func aPeerWhosePacketsKeepFailingIsNoticedOnceThenHourly() {
        var packets = UnopenedPackets()
        #expect(!fail(&packets, from: peer, now: .zero))
        #expect(!fail(&packets, from: peer, now: .seconds(1)))
        #expect(fail(&packets, from: peer, now: .seconds(2)), "the third in a row")
        for second in 3..<100 { #expect(!fail(&packets, from: peer, now: .seconds(second))) }
        #expect(fail(&packets, from: peer, now: .seconds(3602)), "an hour later")
    }

    @Test func aPacketThatOpensClearsIt() {
        var packets = UnopenedPackets()
        _ = fail(&packets, from: peer, now: .zero)
        _ = fail(&packets, from: peer, now: .zero)
        packets.opened(from: peer)
        #expect(!fail(&packets, from: peer, now: .zero), "a damaged packet now and then is not a mismatch")
        #expect(!fail(&packets, from: peer, now: .zero))
        #expect(fail(&packets, from: peer, now: .zero))
        packets.opened(from: peer)
        for _ in 0..<2 { #expect(!fail(&packets, from: peer, now: .seconds(5))) }
        #expect(fail(&packets, from: peer, now: .seconds(5)), "a new mismatch after a good packet is news")
    }

    @Test func strangersCannotGrowItWithoutBound() {
        var packets = UnopenedPackets()
        for index in 0..<2000 {
            _ = fail(&packets, from: GossipAddress(ipv4: 10, 1, UInt8(index / 256), UInt8(index % 256), port: 7964), now: .zero)
        }
        for _ in 0..<2 { _ = fail(&packets, from: peer, now: .zero) }
        #expect(!fail(&packets, from: peer, now: .zero), "untracked once full")
    }

    @Test func aPeersStreamsFromAnyPortCountWithItsDatagrams() {
        var packets = UnopenedPackets()
        #expect(!fail(&packets, from: peer, now: .zero))
        #expect(!fail(&packets, from: GossipAddress(ipv4: 10, 77, 0, 3, port: 40001), now: .zero))
        #expect(fail(&packets, from: GossipAddress(ipv4: 10, 77, 0, 3, port: 40002), now: .zero))
    }
}

@Suite struct DocumentFetchPolicyMemberTests {
    private func member(_ name: String, _ state: GossipMember.State) -> GossipMember {
        GossipMember(name: name, address: GossipAddress(ipv4: 10, 0, 0, 2, port: 7964), incarnation: 1, state: state, since: .zero)
    }

    @Test func onlyAnAliveOtherMemberIsAskedAndItsMetadataReadOnlyThen() {
        var policy = DocumentFetchPolicy()
        policy.runs(generation: 3, hash: 50)
        var reads = 0
        func fetch(_ name: String, _ state: GossipMember.State, at now: Duration = .zero,
                   _ announced: (generation: UInt64, hash: UInt64)?) -> Bool {
            policy.shouldFetch(from: member(name, state), myself: "n1", now: now, announced: { reads += 1; return announced })
        }
        for state in [GossipMember.State.suspect, .dead, .left] {
            let asked = fetch("n2", state, (4, 1))
            #expect(!asked, "\(state)")
        }
        let itself = fetch("n1", .alive, (4, 1))
        #expect(!itself && reads == 0)
        let unknown = fetch("n2", .alive, nil)
        #expect(!unknown, "no metadata believed")
        let same = fetch("n2", .alive, (3, 50))
        #expect(!same)
        let newer = fetch("n2", .alive, (4, 1))
        #expect(newer && reads == 3)
        let again = fetch("n2", .alive, at: .milliseconds(100), (4, 1))
        #expect(!again, "one under way")
    }

    @Test func theEveryMemberCheckComesOnceASecond() {
        var policy = DocumentFetchPolicy()
        #expect(policy.nextCheck == .zero)
        let first = policy.onCheckTimer(now: .milliseconds(5))
        #expect(first && policy.nextCheck == .milliseconds(1005))
        let early = policy.onCheckTimer(now: .milliseconds(1000))
        let due = policy.onCheckTimer(now: .milliseconds(1005))
        #expect(!early && due)
    }
}
