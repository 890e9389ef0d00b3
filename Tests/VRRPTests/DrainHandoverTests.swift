// A drained board's VIPs (hcctl drain): the rule alone, then three routers on a simulated LAN in virtual time
// (no packet lost, make before break: the VIP is never held by no one), priority 1 while drained, master only
// as the last live board, and undrain takes it back when preempting.
import HomecloudSchema
import Testing
@testable import VRRP

private let master = TargetedHandover.Router(state: .master, basePriority: 150)
private let backup = TargetedHandover.Router(state: .backup, basePriority: 100)

@Suite struct DrainHandoverTests {
    @Test func drainingHandsEveryHeldVIPOverAndDropsEveryPriorityToOne() {
        var rule = TargetedHandover()
        #expect(rule.onDrained(true, routers: ["web": master, "db": backup, "nas": master])
                == [.handOver(vip: "nas"), .handOver(vip: "web")])
        #expect(rule.onDrained(true, routers: ["web": master]) == [], "draining twice does nothing more")
        #expect(!rule.isQuiet)
        #expect(rule.onStep(routers: ["web": master, "db": backup], now: .zero)
                == [.setPriority(vip: "db", priority: 1), .setPriority(vip: "web", priority: 1)])
        #expect(rule.isQuiet)
        #expect(TargetedHandover.drainedReason.contains("priority 1"))
    }

    @Test func undrainingRestoresPrioritiesAndPreemption() {
        var rule = TargetedHandover()
        _ = rule.onDrained(true, routers: ["web": master])
        _ = rule.onStep(routers: ["web": backup], now: .zero)
        #expect(rule.onDrained(false, routers: ["web": backup]) == [.resumePreempting(vip: "web")])
        #expect(rule.onStep(routers: ["web": TargetedHandover.Router(state: .backup, basePriority: 150)], now: .seconds(1))
                == [.setPriority(vip: "web", priority: 150)])
    }

    @Test func aDrainedBoardIsNoOnesSuccessorAndWithdrawsItsOwnRequests() {
        var rule = TargetedHandover()
        _ = rule.onRequest(vip: "web", to: "n2", node: "n1", holder: .master, known: ["web"], now: .zero)
        #expect(rule.outgoing == ["web": "n2"])
        _ = rule.onDrained(true, routers: ["web": master])
        #expect(rule.outgoing.isEmpty)
        rule.onRequestsOfMe(["db"])
        let actions = rule.onStep(routers: ["web": master, "db": backup], now: .seconds(1))
        #expect(actions.contains(.setPriority(vip: "db", priority: 1)))
        #expect(!actions.contains(.becomeSuccessor(vip: "db")))
    }

    // MARK: three routers on one simulated LAN

    /// Routers n1 (150), n2 (120), n3 (100) on a LAN without loss, each with its own TargetedHandover.
    struct LAN: HandoverRulesLAN {
        var routers: [VRRPInstance]
        var rules: [TargetedHandover]
        var up: [Bool]
        var now = Duration.zero
        /// Held by whom at each 10 ms tick since the drain (to count ticks held by no one).
        var unheldTicks = 0
        let addresses = (1...3).map { IPAddress("10.0.0.\($0)")! }
        let vip = IPAddress("10.0.0.250")!
        let base: [Int]

        init(preempt: Bool = true) {
            base = [150, 120, 100]
            routers = (0..<3).map { i in
                VRRPInstance(settings: .init(vrid: 51, addresses: [IPAddress("10.0.0.250")!], advertInterval: .milliseconds(100),
                                             priority: [150, 120, 100][i], preempt: preempt, primaryAddress: IPAddress("10.0.0.\(i + 1)")!))
            }
            rules = Array(repeating: TargetedHandover(), count: 3)
            up = [true, true, true]
            for i in 0..<3 { deliver(routers[i].start(linkUp: true, now: now), from: i) }
        }

        var holders: [Int] { (0..<3).filter { up[$0] && held[$0] } }
        var held = [false, false, false]
        func state(_ i: Int) -> VRRPInstance.State { routers[i].state }

        mutating func deliver(_ actions: [VRRPInstance.Action], from i: Int) {
            for action in actions {
                switch action {
                case .addAddresses: held[i] = true
                case .removeAddresses: held[i] = false
                case .sendAdvertisement(let advertisement):
                    for j in 0..<3 where j != i && up[j] && up[i] {
                        deliver(routers[j].onAdvertisement(advertisement, from: addresses[i], now: now), from: j)
                    }
                default: break
                }
            }
        }

        mutating func drain(_ i: Int, _ value: Bool) {
            let facts = ["front": TargetedHandover.Router(state: routers[i].state, basePriority: base[i])]
            for action in rules[i].onDrained(value, routers: facts) { carryOut(action, on: i) }
            step(i)
        }

        mutating func run(for duration: Duration) {
            let end = now + duration
            while now < end {
                now += .milliseconds(10)
                for i in 0..<3 where up[i] {
                    deliver(routers[i].onTimer(now: now), from: i)
                    step(i)
                }
                if holders.isEmpty { unheldTicks += 1 }
            }
        }
    }

    @Test func drainingTheHolderMovesTheVIPMakeBeforeBreakAndUndrainTakesItBack() {
        var lan = LAN()
        lan.run(for: .seconds(1))
        #expect(lan.state(0) == .master && lan.holders == [0])
        lan.unheldTicks = 0
        lan.drain(0, true)
        lan.run(for: .seconds(1))
        #expect(lan.state(1) == .master && lan.holders == [1], "n2, the next priority, holds it")
        #expect(lan.state(0) == .backup && lan.routers[0].priority == 1)
        #expect(lan.unheldTicks == 0, "never held by no one")
        // The new master dies: n3 (100) takes it, not the drained n1 (1).
        lan.up[1] = false
        lan.run(for: .seconds(1))
        #expect(lan.holders == [2])
        // n3 dies too: the drained n1 is the last live board and takes it.
        lan.up[2] = false
        lan.run(for: .seconds(1))
        #expect(lan.holders == [0])
        // Back in service, with n2 and n3 back: n1 (150, preempting) holds it again.
        lan.up = [true, true, true]
        lan.held[1] = false
        lan.held[2] = false
        lan.drain(0, false)
        lan.run(for: .seconds(1))
        #expect(lan.holders == [0] && lan.routers[0].priority == 150)
    }

    @Test func undrainAfterAHandoverPreemptsBackWithoutAGap() {
        var lan = LAN()
        lan.run(for: .seconds(1))
        lan.drain(0, true)
        lan.run(for: .seconds(1))
        #expect(lan.holders == [1])
        lan.unheldTicks = 0
        lan.drain(0, false)
        lan.run(for: .seconds(1))
        #expect(lan.holders == [0])
        #expect(lan.unheldTicks == 0)
    }

    @Test func aDrainedLastBoardKeepsItsVIP() {
        var lan = LAN()
        lan.run(for: .seconds(1))
        lan.up[1] = false
        lan.up[2] = false
        lan.unheldTicks = 0
        lan.drain(0, true)
        lan.run(for: .seconds(2))
        #expect(lan.holders == [0] && lan.state(0) == .master && lan.routers[0].priority == 1)
        #expect(lan.unheldTicks == 0)
    }
}
