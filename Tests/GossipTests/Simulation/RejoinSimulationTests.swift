// A board whose peers are out of reach when it starts (they boot later, a switch is down) keeps joining them on
// RejoinBackoff's schedule, and is in the cluster soon after they appear; cut off again later, it starts over
// from the first interval. Checked after every step of a seeded SimulatedCluster; failures name the seed.
import HomecloudSchema
import Testing
@testable import Gossip

/// A SimulatedCluster whose board `index` carries out a RejoinBackoff as the gossip driver does.
struct RejoiningBoard {
    var cluster: SimulatedCluster
    let index: Int
    var backoff: RejoinBackoff
    /// Every join the backoff asked for: when, and which seeds.
    var joins: [(at: Duration, seeds: [GossipAddress])] = []
    var violations: [String] = []

    init(cluster: SimulatedCluster, index: Int, seeds: [Int]) {
        self.cluster = cluster
        self.index = index
        backoff = RejoinBackoff(seeds: seeds.map { cluster.nodes[$0].address })
        carryOut(backoff.onStart(now: cluster.now))
    }

    var activeSeeds: Set<GossipAddress> {
        Set(cluster.nodes[index].core.members.filter(\.isActive).map(\.address)).intersection(backoff.seeds)
    }

    mutating func carryOut(_ actions: [RejoinBackoff.Action]) {
        for case .join(let seeds) in actions {
            joins.append((cluster.now, seeds))
            cluster.apply(cluster.nodes[index].core.join(seeds: seeds, now: cluster.now), of: index)
        }
    }

    mutating func step() {
        let due = backoff.nextDeadline
        let intervalBefore = backoff.interval
        // Read only when a check comes in this step (a member list is sorted each time it is read).
        let present = due.map { cluster.now + cluster.step >= $0 } == true ? activeSeeds : []
        cluster.advance()
        let now = cluster.now
        // The members are read only when a check is due (the closure reads the cluster, not the backoff).
        var backoff = self.backoff
        let actions = backoff.onTimer(now: now, members: { cluster.nodes[index].core.members })
        self.backoff = backoff
        // The driver's timer fires at the deadline; here at the first step at or after it.
        let checked = due.map { now >= $0 && now - $0 < cluster.step } ?? false
        if backoff.nextDeadline != due && !checked, violations.count < 5 {
            violations.append("\(now): checked off schedule (due \(String(describing: due)))")
        }
        if checked {
            let expected = actions.isEmpty ? RejoinBackoff.firstInterval : min(intervalBefore * 2, RejoinBackoff.longestInterval)
            if backoff.interval != expected || backoff.nextDeadline != now + expected, violations.count < 5 {
                violations.append("\(now): waits \(backoff.interval) after a check that joined \(actions), expected \(expected)")
            }
        }
        for case .join(let seeds) in actions {
            // Only the missing ones (as the board saw them before this step's datagrams; within a step they can
            // only have come back, not gone).
            let after = activeSeeds
            if seeds.contains(where: { present.contains($0) && after.contains($0) }) || seeds.isEmpty, violations.count < 5 {
                violations.append("\(now): joined \(seeds) though \(present) were there")
            }
        }
        carryOut(actions)
    }

    mutating func run(until end: Duration) {
        while cluster.now + cluster.step <= end { step() }
    }

    /// Runs until every board agrees; the time that took, or nil.
    mutating func runUntilConverged(within limit: Duration) -> Duration? {
        let start = cluster.now
        while cluster.now - start < limit {
            step()
            if cluster.converged() { return cluster.now - start }
        }
        return nil
    }
}

@Suite struct RejoinSimulationTests {
    static let seeds: [UInt64] = (1...20).map { $0 &* 0x9E37_79B9_7F4A_7C15 }

    // Each seed runs up to three virtual minutes at 10 ms steps: ten of them.
    @Test(arguments: seeds.prefix(10))
    func aBoardThatStartsAloneJoinsOnceItsPeersAppearAndBacksOffUntilThen(seed: UInt64) {
        var cluster = SimulatedCluster(size: 5, seed: seed)
        cluster.network.baseLoss = 0.01
        // Boards 0-3 form the cluster; board 4 starts at the same time but reaches none of them.
        cluster.partition([[0, 1, 2, 3], [4]])
        for index in 1...3 { cluster.apply(cluster.nodes[index].core.join(seeds: [cluster.nodes[0].address], now: cluster.now), of: index) }
        var board = RejoiningBoard(cluster: cluster, index: 4, seeds: [0, 1])
        let appearAt = Duration.seconds(20 + Int64(seed % 70))
        board.run(until: appearAt)
        let context = "seed \(seed), peers appear at \(appearAt)"
        let times = board.joins.map(\.at)
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
        let schedule: [Duration] = [.seconds(2), .seconds(4), .seconds(8), .seconds(16), .seconds(30), .seconds(30), .seconds(30)]
        #expect(Array(gaps) == Array(schedule.prefix(gaps.count)), "\(context): joins at \(times)")
        #expect(board.joins.allSatisfy { Set($0.seeds) == Set(board.backoff.seeds) }, "\(context): every seed missing")

        // The next join after they appear is at most the longest interval away; the cluster agrees soon after.
        board.cluster.heal()
        let nextJoin = board.backoff.nextDeadline ?? .zero
        #expect(nextJoin - appearAt <= RejoinBackoff.longestInterval, "\(context)")
        let took = board.runUntilConverged(within: RejoinBackoff.longestInterval + .seconds(10))
        #expect(took != nil, "\(context): \(board.cluster.disagreements())")
        if let took {
            #expect(board.cluster.now - nextJoin <= .seconds(5), "\(context): converged \(took) after they appeared, the join due at \(nextJoin)")
        }
        // Every seed there at the next check: back to the first interval.
        board.run(until: (board.backoff.nextDeadline ?? .zero) + board.cluster.step)
        #expect(board.backoff.interval == RejoinBackoff.firstInterval, "\(context): waits \(board.backoff.interval)")
        #expect(board.violations.isEmpty, "\(context): \(board.violations)")
        #expect(board.cluster.invariantViolations.isEmpty, "\(context): \(board.cluster.invariantViolations.prefix(3))")
    }

    @Test(arguments: seeds.prefix(10))
    func cutOffAgainItStartsOverFromTheFirstInterval(seed: UInt64) {
        var cluster = SimulatedCluster(size: 4, seed: seed)
        cluster.joinAll()
        var board = RejoiningBoard(cluster: cluster, index: 3, seeds: [0])
        #expect(board.runUntilConverged(within: .seconds(10)) != nil, "seed \(seed): \(board.cluster.disagreements())")
        board.run(until: board.cluster.now + .seconds(5))
        #expect(board.backoff.interval == RejoinBackoff.firstInterval, "seed \(seed)")
        let joinsBefore = board.joins.count
        board.cluster.partition([[0, 1, 2], [3]])
        // Until board 3 sees its seed gone (dead, after the suspicion), nothing to do.
        while board.activeSeeds.count == 1 && board.cluster.now < .seconds(120) { board.step() }
        let goneAt = board.cluster.now
        board.run(until: goneAt + .seconds(40))
        let after = board.joins.dropFirst(joinsBefore).map(\.at)
        #expect(after.first.map { $0 - goneAt <= RejoinBackoff.firstInterval } == true, "seed \(seed): seed gone at \(goneAt), joins at \(after)")
        let gaps = zip(after.dropFirst(), after).map { $0 - $1 }
        #expect(Array(gaps.prefix(3)) == [.seconds(4), .seconds(8), .seconds(16)], "seed \(seed): joins at \(after)")
        board.cluster.heal()
        #expect(board.runUntilConverged(within: .seconds(40)) != nil, "seed \(seed): \(board.cluster.disagreements())")
        #expect(board.violations.isEmpty, "seed \(seed): \(board.violations)")
        #expect(board.cluster.invariantViolations.isEmpty, "seed \(seed): \(board.cluster.invariantViolations.prefix(3))")
    }
}
