// hcctl drain of the VIP holder moves the VIP once (issue 16): three routers on a simulated LAN in virtual time
// where one board handles its timers late (a loaded board), counting moves as the pinging client sees them (each
// gratuitous ARP from another board than the last) and as the holders do (a change of the one board that holds it).
import HomecloudSchema
import Testing
@testable import VRRPCore

@Suite struct DrainSingleMoveTests {
    /// n1 (150), n2 (120), n3 (100), adverts every 100 ms, delivered at once; 1 ms steps.
    struct LAN: HandoverRulesLAN {
        var routers: [VRRPInstance]
        var rules = Array(repeating: TargetedHandover(), count: 3)
        let base = [150, 120, 100]
        var up = [true, true, true]
        /// How late each board handles a due timer (its thread was busy): skew times differ by a few ms only.
        var late: [Duration] = [.zero, .zero, .zero]
        var held = [false, false, false]
        var now = Duration.zero
        var lastAnnouncer: Int?
        var clientMoves = 0
        var lastSoleHolder: Int?
        var holderMoves = 0
        var unheldSteps = 0
        let addresses = (1...3).map { IPAddress("10.0.0.\($0)")! }

        init() {
            routers = (0..<3).map { i in
                VRRPInstance(settings: .init(vrid: 51, addresses: [IPAddress("10.0.0.250")!], advertInterval: .milliseconds(100),
                                             priority: [150, 120, 100][i], primaryAddress: IPAddress("10.0.0.\(i + 1)")!))
            }
            for i in 0..<3 { deliver(routers[i].start(linkUp: true, now: now), from: i) }
        }

        var holders: [Int] { (0..<3).filter { up[$0] && held[$0] } }

        mutating func deliver(_ actions: [VRRPInstance.Action], from i: Int) {
            for action in actions {
                switch action {
                case .addAddresses: held[i] = true
                case .removeAddresses: held[i] = false
                case .announce:
                    if lastAnnouncer != nil && lastAnnouncer != i { clientMoves += 1 }
                    lastAnnouncer = i
                case .sendAdvertisement(let advertisement):
                    for j in 0..<3 where j != i && up[j] {
                        deliver(routers[j].onAdvertisement(advertisement, from: addresses[i], now: now), from: j)
                        step(j)
                    }
                default: break
                }
            }
        }

        mutating func drain(_ i: Int, best: [String: Int]) {
            let facts = ["front": TargetedHandover.Router(state: routers[i].state, basePriority: base[i])]
            for action in rules[i].onDrained(true, routers: facts, best: best, now: now) { carryOut(action, on: i) }
            step(i)
        }

        mutating func run(for duration: Duration) {
            let end = now + duration
            while now < end {
                now += .milliseconds(1)
                for i in 0..<3 where up[i] {
                    guard let due = routers[i].nextDeadline, due + late[i] <= now else { continue }
                    deliver(routers[i].onTimer(now: now), from: i)
                    step(i)
                }
                let holding = holders
                if holding.isEmpty { unheldSteps += 1 }
                if holding.count == 1, lastSoleHolder != holding[0] {
                    if lastSoleHolder != nil { holderMoves += 1 }
                    lastSoleHolder = holding[0]
                }
            }
        }

        mutating func resetCounts() {
            clientMoves = 0
            holderMoves = 0
            unheldSteps = 0
        }
    }

    /// The fault this fixes, as it was: priority 0 starts n2's skew timer (53 ms) and n3's (61 ms) at once; n2,
    /// 10 ms late, loses to n3, then preempts it. The VIP moves twice.
    @Test func priorityZeroLetsALowerBackupWinWhenTheBestOneIsLate() {
        var lan = LAN()
        lan.run(for: .seconds(1))
        #expect(lan.holders == [0])
        lan.late[1] = .milliseconds(10)
        lan.resetCounts()
        lan.drain(0, best: [:])
        lan.run(for: .seconds(2))
        #expect(lan.holders == [1])
        #expect(lan.clientMoves == 2 && lan.holderMoves == 2, "n1 → n3 → n2")
        #expect(lan.unheldSteps == 0)
    }

    /// Stepping down to the best live board: n1 advertises 119, below n2 alone, and keeps the VIP until n2 preempts.
    /// However late n2 is (up to most of the window), n3 never takes it: one move, never unheld.
    @Test(arguments: [0, 5, 10, 40, 150])
    func theDrainedHolderStepsDownToTheBestBoardOnly(lateMs: Int) {
        var lan = LAN()
        lan.run(for: .seconds(1))
        lan.late[1] = .milliseconds(lateMs)
        lan.resetCounts()
        lan.drain(0, best: ["front": 120])
        #expect(lan.routers[0].priority == 119, "one below n2, at once")
        lan.run(for: .seconds(3))
        #expect(lan.holders == [1])
        #expect(lan.clientMoves == 1 && lan.holderMoves == 1)
        #expect(lan.unheldSteps == 0)
        #expect(lan.routers[0].state == .backup && lan.routers[0].priority == TargetedHandover.drainedPriority)
        #expect(lan.rules[0].steppingDown.isEmpty && lan.rules[0].isQuiet)
    }

    /// A best board that never comes (gone without gossip knowing yet): after the window, priority 0 and any board.
    @Test func aBestBoardThatDoesNotComeFallsBackToPriorityZeroAfterTheWindow() {
        var lan = LAN()
        lan.run(for: .seconds(1))
        lan.up[1] = false
        lan.resetCounts()
        lan.drain(0, best: ["front": 120])
        lan.run(for: TargetedHandover.stepDownWindow - .milliseconds(100))
        #expect(lan.holders == [0], "n1 keeps it while it waits for n2")
        lan.run(for: .seconds(1))
        #expect(lan.holders == [2])
        #expect(lan.clientMoves == 1 && lan.unheldSteps == 0)
        #expect(lan.routers[0].priority == TargetedHandover.drainedPriority)
    }

    @Test func undrainedWhileSteppingDownKeepsTheVIPAndItsPriority() {
        var rule = TargetedHandover()
        let master = TargetedHandover.Router(state: .master, basePriority: 150)
        #expect(rule.onDrained(true, routers: ["web": master], best: ["web": 120], now: .zero) == [])
        #expect(rule.onStep(routers: ["web": master], now: .milliseconds(1)) == [.setPriority(vip: "web", priority: 119)])
        #expect(rule.onDrained(false, routers: ["web": master]) == [.resumePreempting(vip: "web")])
        #expect(rule.steppingDown.isEmpty)
        #expect(rule.onStep(routers: ["web": master], now: .milliseconds(2)) == [.setPriority(vip: "web", priority: 150)])
    }

    @Test func aBestBoardAtPriorityOneOrNoneKnownHandsOverAtPriorityZero() {
        var rule = TargetedHandover()
        let master = TargetedHandover.Router(state: .master, basePriority: 150)
        #expect(rule.onDrained(true, routers: ["a": master, "b": master], best: ["a": 1]) == [.handOver(vip: "a"), .handOver(vip: "b")])
        #expect(rule.steppingDown.isEmpty)
    }
}
