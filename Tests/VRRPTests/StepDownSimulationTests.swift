// Every planned step-down of the VIP master moves the VIP once (issue 16): hcctl drain, hcctl vip handover
// without --to and a graceful stop (SIGTERM), on the seeded LAN of HandoverSimulationTests (adverts delayed and
// lost by seed, time jumping from event to event). The master (150) steps down while two backups of different
// priorities (120, the best, and 110) and a third (100) could take the VIP. Every failure names its seed.
import HomecloudSchema
import Testing
@testable import VRRP

/// Serialized: its cases are long synchronous loops, and run side by side they would take both of a 2-core
/// machine's cooperative threads from the suite's timing tests (ServiceGroupTests waits on real time).
@Suite(.serialized) struct StepDownSimulationTests {
    enum Reason: String, CaseIterable { case drain, handover, stop }

    /// Twelve seeds: each runs 6 step-downs of several virtual seconds, and the whole suite shares 2 cores.
    static let seeds: [UInt64] = (1...12).map { $0 &* 0x9E37_79B9_7F4A_7C15 }
    /// n0 150 (the master), n1 110, n2 120 (the best other board), n3 100.
    static let priorities = [150, 110, 120, 100]
    static let best = 2

    static func settled(seed: UInt64, loss: Double, delay: ClosedRange<UInt64>, overlap: Duration) -> HandoverLAN {
        var lan = HandoverLAN(priorities: priorities, seed: seed, advertLoss: loss, advertDelay: delay, allowedOverlap: overlap)
        lan.checkInvariants()
        lan.run(until: .seconds(5))
        // A lossy LAN may be between a false takeover and its step-down right now: wait for one master.
        while lan.masters != [0] && lan.now < .seconds(15) { lan.step() }
        return lan
    }

    /// n0 steps down for `reason`; its rule is told the best other live board's priority (nil: none known, so
    /// priority 0 at once, as every step-down but a drain did before).
    static func stepDown(_ lan: inout HandoverLAN, _ reason: Reason, best: Int?, preemptDelay: Duration = .zero) {
        let vip = HandoverLAN.vip
        let facts = [vip: TargetedHandover.Router(state: lan.boards[0].router.state, basePriority: lan.boards[0].basePriority)]
        let bests = best.map { [vip: $0] } ?? [:]
        var actions: [TargetedHandover.Action] = []
        switch reason {
        case .drain:
            actions = lan.boards[0].rule.onDrained(true, routers: facts, best: bests, preemptDelays: [vip: preemptDelay], now: lan.now)
        case .handover:
            let result = lan.boards[0].rule.onRequest(vip: vip, to: nil, node: "n0", holder: lan.boards[0].router.state,
                                                      known: [vip], best: best, now: lan.now)
            if case .success(let accepted) = result { actions = accepted } else { Issue.record("refused: \(result)") }
        case .stop:
            actions = lan.boards[0].rule.onStop(routers: facts, best: bests, now: lan.now)
        }
        lan.carryOut(actions, of: 0)
        lan.settle()
    }

    static func window(_ reason: Reason) -> Duration {
        reason == .stop ? TargetedHandover.stopStepDownWindow : TargetedHandover.stepDownWindow
    }

    @Test(arguments: seeds)
    func eachPlannedStepDownMovesTheVIPOnceToTheBestBoardWithoutAGap(seed: UInt64) {
        // (loss, delay µs, allowed overlap): adverts delayed up to a fifth of an interval, clean and lossy.
        let networks: [(Double, ClosedRange<UInt64>, Duration)] = [(0, 100...20_000, .milliseconds(25)), (0.05, 100...20_000, .seconds(1))]
        for (loss, delay, overlap) in networks {
            for reason in Reason.allCases {
                var lan = Self.settled(seed: seed, loss: loss, delay: delay, overlap: overlap)
                let context = "seed \(seed), loss \(loss), \(reason)"
                guard lan.masters == [0] else {
                    Issue.record("\(context): no single master before the step-down: \(lan.masters)")
                    continue
                }
                lan.watchGaps()
                let start = lan.now
                let before = lan.takeovers.count
                Self.stepDown(&lan, reason, best: Self.priorities[Self.best])
                #expect(lan.boards[0].router.priority == Self.priorities[Self.best] - 1 && lan.boards[0].holding,
                        "\(context): one below the best board at once, the VIP kept")
                lan.run(until: start + Self.window(reason) + .seconds(2))
                let moves = lan.takeovers[before...]
                #expect(moves.map(\.board) == [Self.best], "\(context): takeovers \(moves.map { "n\($0.board) at \($0.at - start)" })")
                // The best board preempts after its skew time (53 ms at 120) once the lowered advert reaches it (up
                // to 20 ms), or after the next one (100 ms later) when the last advert at 150, delayed more, came after it.
                if let took = moves.first?.at, loss == 0 {
                    #expect(took - start <= .milliseconds(200), "\(context): taken \(took - start) after the step-down")
                }
                #expect(lan.longestGap == .zero, "\(context): make before break, yet no one held the VIP for \(lan.longestGap)")
                #expect(lan.violations.isEmpty, "\(context): \(lan.violations)")
                #expect(lan.boards[0].rule.steppingDown.isEmpty, "\(context): the step-down ended")
                let old = lan.boards[0].router
                switch reason {
                case .drain: #expect(old.state == .backup && old.priority == TargetedHandover.drainedPriority, "\(context): \(old.state) \(old.priority)")
                case .handover: #expect(old.state == .backup && old.priority == 150, "\(context): \(old.state) \(old.priority)")
                case .stop: #expect(old.state == .stopped && !lan.boards[0].holding, "\(context): \(old.state)")
                }
                // The old master does not preempt back (a handover's priority came back to 150).
                lan.run(until: lan.now + .seconds(3))
                #expect(lan.holders == [Self.best] && lan.takeovers.count == before + 1, "\(context): \(lan.masters)")
            }
        }
    }

    /// The old way, for comparison: priority 0 starts every backup's skew timer at once, and the adverts' delays
    /// (up to 20 ms) outweigh the skew times' differences (4 ms between 120 and 110): on some seeds a lower backup
    /// takes the VIP first and the best one preempts it. Never a gap either way.
    @Test func atPriorityZeroSomeSeedsMoveTheVIPTwice() {
        var twice: [String] = []
        for seed in Self.seeds.prefix(6) {
            for reason in Reason.allCases {
                var lan = Self.settled(seed: seed, loss: 0, delay: 100...20_000, overlap: .milliseconds(25))
                guard lan.masters == [0] else { continue }
                lan.watchGaps()
                let before = lan.takeovers.count
                Self.stepDown(&lan, reason, best: nil)
                lan.run(until: lan.now + .seconds(3))
                #expect(lan.longestGap == .zero && lan.holders == [Self.best], "seed \(seed), \(reason): \(lan.holders)")
                if lan.takeovers.count - before > 1 { twice.append("\(seed) \(reason)") }
            }
        }
        #expect(!twice.isEmpty, "the simulation should see the race the step-down avoids")
        print("priority 0: two moves for \(twice.count) of \(6 * Reason.allCases.count) step-downs")
    }

    /// A best board that stopped without gossip knowing yet: the master keeps the VIP through the window, then
    /// hands over at priority 0 to whichever board the election picks (n1, the best of those left). Never a gap.
    @Test(arguments: seeds.prefix(6))
    func aBestBoardThatIsGoneFallsBackToPriorityZeroAfterTheWindow(seed: UInt64) {
        for reason in Reason.allCases {
            var lan = Self.settled(seed: seed, loss: 0, delay: 100...20_000, overlap: .milliseconds(25))
            let context = "seed \(seed), \(reason)"
            guard lan.masters == [0] else {
                Issue.record("\(context): no single master before the step-down: \(lan.masters)")
                continue
            }
            lan.kill(Self.best)
            lan.watchGaps()
            let start = lan.now
            Self.stepDown(&lan, reason, best: Self.priorities[Self.best])
            lan.run(until: start + Self.window(reason) - .milliseconds(50))
            #expect(lan.holders == [0], "\(context): n0 keeps the VIP while it waits for n2")
            lan.run(until: start + Self.window(reason) + .seconds(2))
            #expect(lan.holders == [1], "\(context): \(lan.holders)")
            #expect(lan.longestGap == .zero && lan.violations.isEmpty, "\(context): gap \(lan.longestGap), \(lan.violations)")
            if reason == .stop { #expect(lan.boards[0].router.state == .stopped, "\(context)") }
        }
    }

    /// A board that handed the VIP over does not preempt back, yet asked by name (--to) it takes the VIP back:
    /// being the chosen successor ends its deferring. Once, without a gap.
    @Test(arguments: seeds.prefix(6))
    func aBoardThatHandedOverTakesTheVIPBackWhenAskedByName(seed: UInt64) {
        var lan = Self.settled(seed: seed, loss: 0, delay: 100...20_000, overlap: .milliseconds(25))
        let context = "seed \(seed)"
        guard lan.masters == [0] else {
            Issue.record("\(context): no single master before the step-down: \(lan.masters)")
            return
        }
        Self.stepDown(&lan, .handover, best: Self.priorities[Self.best])
        lan.run(until: lan.now + .seconds(2))
        #expect(lan.holders == [Self.best], "\(context): \(lan.holders)")
        lan.watchGaps()
        let before = lan.takeovers.count
        let askedAt = lan.now
        _ = lan.requestHandover(on: Self.best, to: 0)
        lan.run(until: askedAt + .seconds(3))
        #expect(lan.holders == [0] && lan.takeovers[before...].map(\.board) == [0], "\(context): \(lan.holders)")
        #expect(lan.longestGap == .zero && lan.violations.isEmpty, "\(context): gap \(lan.longestGap), \(lan.violations)")
    }

    // MARK: the best board as it advertises itself, and one inside its preempt delay

    /// web as the document gives it: n2 is best by the document (120) but tracks nas-up (-30), failing there.
    static let document = VirtualIP(name: HandoverLAN.vip, address: IPPrefix("192.168.1.100/24")!, interface: "eth0", vrid: 51,
                                    priority: .init(default: 100, perNode: ["n0": 150, "n1": 110, "n2": 120]), track: ["nas-up"])
    static let nasUp = Probe(name: "nas-up", check: .tcp(host: "10.0.0.9", port: 445), weight: -30)

    /// What n0 computes of the others with what gossip tells it of their probes (nil: nothing, an older agent).
    static func best(knowing states: [String: AdvertisedPriorities.ProbeState]) -> Int? {
        AdvertisedPriorities.best(among: ["n1", "n2", "n3"], vips: [document], probes: [nasUp], groups: SyncGroups(), states: states)[HandoverLAN.vip]
    }

    /// n2's failing probe lowered it to 90 (its router advertises what its own rule says): the best board is n1
    /// (110). Counting the gossiped failing probe, the drain aims one below n1 and the VIP moves once, to n1, at
    /// once; the guess by the document (120) waits the whole window for a board that never preempts.
    @Test(arguments: seeds.prefix(6))
    func aStepDownPassesOverTheBestBoardByTheDocumentWhoseWeightedProbeFails(seed: UInt64) {
        let lowered = AdvertisedPriorities.of(node: "n2", vips: [Self.document], groups: SyncGroups(), adjustments: ["web": -30])["web"]!
        #expect(lowered == 90)
        let known = Self.best(knowing: ["n1": .failing([]), "n2": .failing(["nas-up"]), "n3": .failing([])])
        #expect(known == 110 && Self.best(knowing: [:]) == 120)
        for reason in Reason.allCases {
            for (label, best) in [("known", known), ("guessed", Self.best(knowing: [:]))] {
                var lan = HandoverLAN(priorities: [150, 110, lowered, 100], seed: seed, advertLoss: 0, advertDelay: 100...20_000,
                                      allowedOverlap: .milliseconds(25))
                lan.run(until: .seconds(5))
                let context = "seed \(seed), \(reason), \(label)"
                guard lan.masters == [0] else {
                    Issue.record("\(context): no single master before the step-down: \(lan.masters)")
                    continue
                }
                lan.watchGaps()
                let start = lan.now
                let before = lan.takeovers.count
                Self.stepDown(&lan, reason, best: best)
                lan.run(until: start + Self.window(reason) + .seconds(2))
                let moves = lan.takeovers[before...]
                let took = moves.first.map { $0.at - start }
                #expect(lan.longestGap == .zero && lan.violations.isEmpty, "\(context): gap \(lan.longestGap), \(lan.violations)")
                if label == "known" {
                    #expect(moves.map(\.board) == [1], "\(context): takeovers \(moves.map { "n\($0.board) at \($0.at - start)" })")
                    #expect(took.map { $0 <= .milliseconds(200) } == true, "\(context): taken \(String(describing: took)) after the step-down")
                } else {
                    // Nobody preempts 119: priority 0 after the window, then the election (n1 first, or a race).
                    #expect(took.map { $0 > Self.window(reason) } == true, "\(context): taken \(String(describing: took)) after the step-down")
                    #expect(lan.holders == [1], "\(context): \(lan.holders)")
                }
            }
        }
    }

    /// Restarts board `index`'s router now with `preemptDelay` (its agent restarted or was upgraded a moment ago).
    static func restart(_ lan: inout HandoverLAN, _ index: Int, preemptDelay: Duration) {
        var settings = lan.boards[index].router.settings
        settings.preemptDelay = preemptDelay
        lan.boards[index].router = VRRPInstance(settings: settings)
        lan.apply(lan.boards[index].router.start(linkUp: true, now: lan.now), of: index)
    }

    /// n2, the best board, restarted a second before the drain and the VIP says `preempt_delay: 20s`: it does not
    /// preempt n0's 119 until 20 s after its start. The drain's wait covers the delay, so n2 takes the VIP when its
    /// delay ends, the only move. With the plain 5 s window, priority 0 lets n2 take it before its delay (RFC 5798
    /// §6.4.2: a leaving master is not preempted) unless a lower board wins the skew race; then n2 takes it again
    /// when its delay ends: two moves, counted and printed here.
    @Test func aDrainWaitsForABestBoardInsideItsPreemptDelayAndMovesTheVIPOnce() {
        let delay = Duration.seconds(20)
        var twice: [UInt64] = []
        for seed in Self.seeds.prefix(6) {
            for covered in [true, false] {
                var lan = Self.settled(seed: seed, loss: 0, delay: 100...20_000, overlap: .milliseconds(25))
                let context = "seed \(seed), \(covered ? "covered" : "5 s window")"
                guard lan.masters == [0] else {
                    Issue.record("\(context): no single master before the drain: \(lan.masters)")
                    continue
                }
                Self.restart(&lan, Self.best, preemptDelay: delay)
                let restarted = lan.now
                lan.run(until: restarted + .seconds(1))
                lan.watchGaps()
                let start = lan.now
                let before = lan.takeovers.count
                Self.stepDown(&lan, .drain, best: Self.priorities[Self.best], preemptDelay: covered ? delay : .zero)
                lan.run(until: restarted + delay + .seconds(3))
                let moves = lan.takeovers[before...]
                #expect(lan.longestGap == .zero && lan.violations.isEmpty, "\(context): gap \(lan.longestGap), \(lan.violations)")
                #expect(lan.holders == [Self.best], "\(context): \(lan.holders)")
                if covered {
                    #expect(moves.map(\.board) == [Self.best], "\(context): takeovers \(moves.map { "n\($0.board) at \($0.at - start)" })")
                    if let took = moves.first?.at {
                        #expect(took >= restarted + delay && took <= restarted + delay + .milliseconds(300),
                                "\(context): taken \(took - restarted) after n2's start, its delay is \(delay)")
                    }
                } else if moves.count > 1 {
                    twice.append(seed)
                }
            }
        }
        print("a best board inside its preempt delay, 5 s window then priority 0: two moves on \(twice.count) of 6 seeds")
    }
}
