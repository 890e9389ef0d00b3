// When a board joins its configured and cached peers again: the backoff schedule and its reset.
import Testing
@testable import Gossip

private let a = GossipAddress(ipv4: 10, 0, 0, 1, port: 7964)
private let b = GossipAddress(ipv4: 10, 0, 0, 2, port: 7964)

private func alive(_ address: GossipAddress, _ state: GossipMember.State = .alive) -> GossipMember {
    GossipMember(name: "\(address)", address: address, incarnation: 1, state: state, since: .zero)
}

private func tick(_ backoff: inout RejoinBackoff, at now: Duration, _ members: [GossipMember] = []) -> [RejoinBackoff.Action] {
    backoff.onTimer(now: now, members: { members })
}

@Suite struct RejoinBackoffTests {
    @Test func everySeedIsJoinedAtTheStartAndCheckedTwoSecondsLater() {
        var backoff = RejoinBackoff(seeds: [a, b])
        #expect(backoff.nextDeadline == nil, "nothing before the start")
        let start = backoff.onStart(now: .seconds(1))
        #expect(start == [.join([a, b])])
        #expect(backoff.nextDeadline == .seconds(3))
    }

    @Test func missingSeedsAreJoinedAgainEverDoublingUpToThirtySeconds() {
        var backoff = RejoinBackoff(seeds: [a, b])
        _ = backoff.onStart(now: .zero)
        var attempts: [Duration] = []
        var now = Duration.zero
        while now < .seconds(200) {
            now += .milliseconds(10)
            if !tick(&backoff, at: now, [alive(a)]).isEmpty { attempts.append(now) }
        }
        let gaps = zip(attempts.dropFirst(), attempts).map { $0 - $1 }
        #expect(attempts.first == .seconds(2))
        #expect(Array(gaps.prefix(6)) == [.seconds(4), .seconds(8), .seconds(16), .seconds(30), .seconds(30), .seconds(30)])
    }

    @Test func onlyTheMissingAreJoinedAndASuspectCountsAsThere() {
        var backoff = RejoinBackoff(seeds: [a, b])
        _ = backoff.onStart(now: .zero)
        let actions = tick(&backoff, at: .seconds(2), [alive(a, .suspect), alive(b, .dead)])
        #expect(actions == [.join([b])])
    }

    @Test func onceEverySeedIsThereTheWaitIsTwoSecondsAgain() {
        var backoff = RejoinBackoff(seeds: [a])
        _ = backoff.onStart(now: .zero)
        _ = tick(&backoff, at: .seconds(2))
        _ = tick(&backoff, at: .seconds(6))
        #expect(backoff.interval == .seconds(8))
        let allThere = tick(&backoff, at: .seconds(14), [alive(a)])
        #expect(allThere == [])
        #expect(backoff.interval == .seconds(2) && backoff.nextDeadline == .seconds(16))
        let missingAgain = tick(&backoff, at: .seconds(16))
        #expect(missingAgain == [.join([a])], "missing again: joined at the next check")
    }

    @Test func theMembersAreReadOnlyWhenACheckIsDue() {
        var backoff = RejoinBackoff(seeds: [a])
        _ = backoff.onStart(now: .zero)
        var asked = 0
        _ = backoff.onTimer(now: .seconds(1), members: { asked += 1; return [] })
        #expect(asked == 0)
        _ = backoff.onTimer(now: .seconds(2), members: { asked += 1; return [] })
        #expect(asked == 1)
    }

    @Test func aLeaveEndsIt() {
        var backoff = RejoinBackoff(seeds: [a])
        _ = backoff.onStart(now: .zero)
        backoff.onLeave()
        #expect(backoff.nextDeadline == nil)
        let late = tick(&backoff, at: .seconds(60))
        #expect(late == [])
    }

    @Test func noSeedsNoJoins() {
        var backoff = RejoinBackoff(seeds: [])
        let start = backoff.onStart(now: .zero)
        #expect(start == [.join([])], "the core joins no one")
        let check = tick(&backoff, at: .seconds(2))
        #expect(check == [])
        #expect(backoff.interval == .seconds(2))
    }
}
