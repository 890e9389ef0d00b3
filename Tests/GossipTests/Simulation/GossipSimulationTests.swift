// Whole clusters on virtual time: joins converge, crashes are seen dead by every survivor within a bound, a
// lossy board is never declared dead, partitions heal, restarts and leaves are understood. Every failure
// message starts with the seed, which replays the run exactly.
//
// Figures with the default settings (1 s probes; 10 ms steps, 0.2-8 ms latency, 1 % loss in the crash runs):
//   join through one seed, joins spread over 0.5 s, 10 seeds: everyone agrees 0.39 / 0.39 / 0.40 s (min /
//     median / max) after the first join at N = 5, 0.47 / 0.48 / 0.67 s at N = 10
//   crash, 20 seeds, seen dead by every survivor: N = 5 after 0.92 / 1.61 / 3.65 s, N = 10 after 0.90 / 1.74
//     / 3.88 s
//   20 % loss on one board for 600 s: 0 false deaths in the 6 runs below
//   crash at N = 1000, started converged: every survivor knows after 3.1 s (3 probe intervals)
import HomecloudSchema
import Testing
@testable import GossipCore

@Suite struct GossipSimulationTests {
    static let seeds: [UInt64] = (1...20).map { $0 &* 0x9E37_79B9_7F4A_7C15 }

    /// The invariants every scenario ends with, besides its own.
    func expectSound(_ cluster: SimulatedCluster, falseDeathsAllowed: Bool = false, _ what: String) {
        let seed = cluster.seed
        #expect(cluster.invariantViolations.isEmpty, "seed \(seed), \(what): \(cluster.invariantViolations.prefix(3))")
        #expect(cluster.oversizedDatagrams == 0, "seed \(seed), \(what): datagrams over \(GossipCodec.maxDatagramBytes) bytes")
        if !falseDeathsAllowed {
            #expect(cluster.falseDeaths.isEmpty,
                    "seed \(seed), \(what): false deaths \(cluster.falseDeaths.prefix(3).map { "\($0.at) by node-\($0.observer): \($0.member)" })")
        }
    }

    @Test(arguments: [5, 10])
    func joinsConverge(size: Int) {
        var times: [Duration] = []
        for seed in Self.seeds.prefix(10) {
            var cluster = SimulatedCluster(size: size, seed: seed)
            cluster.joinAll(spread: .milliseconds(500))
            let took = cluster.runUntilConverged(within: .seconds(10), every: .milliseconds(10))
            #expect(took != nil, "seed \(seed): \(size) nodes did not converge: \(cluster.disagreements())")
            times.append(cluster.now)
            cluster.run(for: .seconds(5))
            #expect(cluster.converged(), "seed \(seed): \(cluster.disagreements())")
            expectSound(cluster, "join of \(size)")
        }
        print("join of \(size): everyone agrees \(summary(times)) after the first join")
    }

    @Test(arguments: [5, 10])
    func aCrashIsSeenDeadByEverySurvivorWithinTheBound(size: Int) {
        var all: [Duration] = []
        var medians: [Duration] = []
        for seed in Self.seeds {
            var cluster = SimulatedCluster(size: size, seed: seed)
            cluster.network.baseLoss = 0.01
            cluster.joinAll()
            #expect(cluster.runUntilConverged(within: .seconds(10)) != nil, "seed \(seed): \(cluster.disagreements())")
            cluster.run(for: .seconds(2))
            let victim = 1 + Int(seed % UInt64(size - 1))
            let crashedAt = cluster.now
            cluster.crash(victim)
            cluster.run(for: .seconds(8))
            let seen = cluster.firstSeen(SimulatedCluster.name(victim), .dead, since: crashedAt)
            let survivors = cluster.running
            #expect(seen.count == survivors.count, "seed \(seed): only \(seen.keys.sorted()) of \(survivors) saw the crash")
            let delays = seen.values.map { $0 - crashedAt }.sorted()
            // The worst case is chance: no survivor's round-robin reached the crashed board for a few intervals.
            if let last = delays.last {
                #expect(last <= .seconds(5), "seed \(seed): a survivor took \(last) to see node-\(victim) dead")
            }
            all += delays
            if !delays.isEmpty { medians.append(delays[delays.count / 2]) }
            #expect(cluster.converged(), "seed \(seed): \(cluster.disagreements())")
            expectSound(cluster, "crash at N=\(size)")
        }
        let sortedMedians = medians.sorted()
        #expect(sortedMedians[sortedMedians.count / 2] <= .seconds(2), "median of medians \(sortedMedians)")
        print("crash at N=\(size): seen dead after \(summary(all)) over \(Self.seeds.count) seeds")
    }

    @Test(arguments: [5, 10], Self.seeds.prefix(3))
    func aLossyBoardIsNeverDeclaredDead(size: Int, seed: UInt64) {
        var cluster = SimulatedCluster(size: size, seed: seed)
        cluster.joinAll()
        #expect(cluster.runUntilConverged(within: .seconds(10)) != nil, "seed \(seed): \(cluster.disagreements())")
        cluster.network.nodeLoss[3] = 0.2
        cluster.run(for: .seconds(600))
        #expect(cluster.converged(), "seed \(seed): \(cluster.disagreements())")
        expectSound(cluster, "20 % loss on node-3 of \(size)")
        let suspicions = cluster.changes.filter { $0.member.state == .suspect }.count
        print("20 % loss on one of \(size) for 600 s, seed \(seed): \(cluster.falseDeaths.count) false deaths, \(suspicions) suspicions seen")
    }

    @Test(arguments: Self.seeds.prefix(5))
    func aHealedPartitionConverges(seed: UInt64) {
        var cluster = SimulatedCluster(size: 6, seed: seed)
        cluster.joinAll()
        #expect(cluster.runUntilConverged(within: .seconds(10)) != nil, "seed \(seed): \(cluster.disagreements())")
        cluster.partition([[0, 1, 2], [3, 4, 5]])
        // Each side's probes and helpers fail, so Lifeguard's local health stretches every timer on both sides.
        cluster.run(for: .seconds(20))
        #expect(cluster.nodes[0].core.member(named: "node-4")?.state == .dead, "seed \(seed): the other side is dead")
        #expect(cluster.nodes[4].core.member(named: "node-0")?.state == .dead, "seed \(seed): the other side is dead")
        cluster.heal()
        let took = cluster.runUntilConverged(within: .seconds(15))
        #expect(took != nil, "seed \(seed): not converged 15 s after the heal: \(cluster.disagreements())")
        // Each side declared the other dead while cut off: those deaths are expected here.
        expectSound(cluster, falseDeathsAllowed: true, "partition")
    }

    @Test(arguments: Self.seeds.prefix(5))
    func aRestartUnderTheSameNameAtANewAddressIsAccepted(seed: UInt64) {
        var cluster = SimulatedCluster(size: 5, seed: seed)
        cluster.joinAll()
        #expect(cluster.runUntilConverged(within: .seconds(10)) != nil, "seed \(seed): \(cluster.disagreements())")
        // Back before anyone noticed it was gone, and back after it was declared dead.
        for (life, downtime) in [(1, Duration.milliseconds(100)), (2, .seconds(6))] {
            cluster.crash(2)
            cluster.run(for: downtime)
            cluster.restart(2, life: life, through: 0)
            let took = cluster.runUntilConverged(within: .seconds(10))
            #expect(took != nil, "seed \(seed), life \(life): \(cluster.disagreements())")
            #expect(cluster.nodes[2].core.incarnation > 0, "seed \(seed): the new life refuted its old one")
        }
        expectSound(cluster, "restart")
    }

    @Test(arguments: Self.seeds.prefix(5))
    func aGracefulLeaveIsLeftNotDead(seed: UInt64) {
        var cluster = SimulatedCluster(size: 6, seed: seed)
        cluster.network.baseLoss = 0.05
        cluster.joinAll()
        #expect(cluster.runUntilConverged(within: .seconds(10)) != nil, "seed \(seed): \(cluster.disagreements())")
        let leftAt = cluster.now
        cluster.leave(4)
        cluster.run(for: .seconds(10))
        for observer in cluster.running {
            let seen = cluster.nodes[observer].core.member(named: "node-4")
            #expect(seen?.state == .left, "seed \(seed): node-\(observer) sees \(seen.map(String.init(describing:)) ?? "nothing")")
        }
        #expect(cluster.firstSeen("node-4", .dead, since: leftAt).isEmpty, "seed \(seed): someone declared the leaver dead")
        #expect(cluster.converged(), "seed \(seed): \(cluster.disagreements())")
        expectSound(cluster, "leave")
    }

    @Test func duplicatesSlowLinksAndLossStillConverge() {
        for seed in Self.seeds.prefix(5) {
            var cluster = SimulatedCluster(size: 10, seed: seed)
            cluster.network.duplicateRate = 0.1
            cluster.network.baseLoss = 0.05
            cluster.network.latency = .milliseconds(1)...(.milliseconds(30))
            cluster.network.linkLoss[.init(from: 1, to: 2)] = 0.5
            cluster.pushPullDelay = .milliseconds(200)
            cluster.joinAll()
            #expect(cluster.runUntilConverged(within: .seconds(15)) != nil, "seed \(seed): \(cluster.disagreements())")
            cluster.run(for: .seconds(60))
            #expect(cluster.converged(), "seed \(seed): \(cluster.disagreements())")
            expectSound(cluster, "duplicates and delays")
        }
    }

    @Test func aSeedReplaysExactly() {
        func run(_ seed: UInt64) -> (changes: [String], datagrams: Int) {
            var cluster = SimulatedCluster(size: 7, seed: seed)
            cluster.network.baseLoss = 0.1
            cluster.network.duplicateRate = 0.05
            cluster.joinAll()
            cluster.run(for: .seconds(3))
            cluster.crash(5)
            cluster.run(for: .seconds(5))
            return (cluster.changes.map { "\($0.at) \($0.observer) \($0.member)" }, cluster.datagramsSent)
        }
        let seed = Self.seeds[7]
        let first = run(seed)
        let second = run(seed)
        #expect(first.changes == second.changes, "seed \(seed)")
        #expect(first.datagrams == second.datagrams, "seed \(seed)")
        #expect(run(seed + 1).changes != first.changes, "another seed, another run")
    }

    /// A large cluster, started converged (gossiping 1000 joins would dominate the run): how long until every
    /// survivor sees one crash. About 4 s of a debug build.
    @Test func aCrashInALargeCluster() {
        let seed: UInt64 = 42
        let size = 1000
        var settings = GossipSettings()
        // The run is shorter than one interval anyway; this keeps 1000 full-state exchanges out of it.
        settings.pushPullInterval = .seconds(600)
        var cluster = SimulatedCluster(size: size, seed: seed, settings: settings)
        cluster.recordAliveChanges = false
        cluster.checkInvariantsEveryStep = false
        cluster.adoptFullMembership()
        cluster.run(for: .seconds(1))
        let crashedAt = cluster.now
        cluster.crash(7)
        var everyone: Duration?
        while everyone == nil && cluster.now - crashedAt < .seconds(30) {
            cluster.run(for: .milliseconds(100))
            if cluster.firstSeen("node-7", .dead, since: crashedAt).count == size - 1 { everyone = cluster.now - crashedAt }
        }
        let seen = cluster.firstSeen("node-7", .dead, since: crashedAt).values.map { $0 - crashedAt }.sorted()
        #expect(everyone != nil, "seed \(seed): \(seen.count) of \(size - 1) saw the crash in 30 s")
        // min suspicion = 3 × log10(1000) × 200 ms (the gossip interval) = 1.8 s, plus finding and spreading it.
        #expect((everyone ?? .seconds(30)) <= .seconds(6), "seed \(seed)")
        expectSound(cluster, "N=\(size)")
        let rounds = Int(((everyone ?? .zero) / settings.probeInterval).rounded())
        print("crash at N=\(size): every survivor knew after \(everyone.map(String.init(describing:)) ?? "never") (\(rounds) probe intervals); \(summary(seen)); \(cluster.datagramsSent) datagrams")
    }
}

/// "min …, median …, max …" of some durations, in milliseconds.
func summary(_ values: [Duration]) -> String {
    let sorted = values.sorted()
    guard let first = sorted.first, let last = sorted.last else { return "nothing" }
    func ms(_ value: Duration) -> String { "\(Int((value / .milliseconds(1)).rounded())) ms" }
    return "min \(ms(first)), median \(ms(sorted[sorted.count / 2])), max \(ms(last))"
}
