// The targeted handover rule alone: who may ask, the successor's 254, the window and what ends a request.
import Testing
@testable import VRRP

private func step(_ rule: inout TargetedHandover, _ routers: [String: TargetedHandover.Router], at now: Duration) -> [TargetedHandover.Action] {
    rule.onStep(routers: routers, now: now)
}

private func ask(_ rule: inout TargetedHandover, _ vip: String, to successor: String?, holder: VRRPInstance.State?,
                 known: [String] = ["web"], at now: Duration = .zero) -> Result<[TargetedHandover.Action], TargetedHandover.Refusal> {
    rule.onRequest(vip: vip, to: successor, node: "n1", holder: holder, known: known, now: now)
}

private let master = TargetedHandover.Router(state: .master, basePriority: 150)
private let backup = TargetedHandover.Router(state: .backup, basePriority: 100)

@Suite struct TargetedHandoverTests {
    @Test func onlyTheMasterMayAskAndNotOfItself() {
        var rule = TargetedHandover()
        #expect(ask(&rule, "db", to: "n2", holder: nil, known: ["web", "mail"]) == .failure(.unknownVIP("db", known: ["mail", "web"])))
        #expect(TargetedHandover.Refusal.unknownVIP("db", known: ["mail", "web"]).description == "no VIP named db runs here (known: mail, web)")
        #expect(TargetedHandover.Refusal.unknownVIP("db", known: []).description == "no VIP named db runs here")
        #expect(ask(&rule, "web", to: "n2", holder: .backup) == .failure(.notHolder("web", state: .backup)))
        #expect(TargetedHandover.Refusal.notHolder("web", state: .backup).description == "this node does not hold web (it is backup); ask the holder")
        #expect(ask(&rule, "web", to: "n1", holder: .master) == .failure(.alreadyHeld("web")))
        #expect(TargetedHandover.Refusal.alreadyHeld("web").description == "this node already holds web")
        #expect(rule.outgoing.isEmpty, "a refused request leaves nothing behind")
    }

    @Test func anUntargetedHandoverIsTheRoutersOwnAndLeavesNoRequest() {
        var rule = TargetedHandover()
        #expect(ask(&rule, "web", to: nil, holder: .master) == .success([.handOver(vip: "web")]))
        #expect(rule.outgoing.isEmpty)
        #expect(TargetedHandover.accepted("web", to: nil) == "handing web over: it stays here until another board announces it")
        #expect(TargetedHandover.accepted("web", to: "n2") == "handing web over to n2: it stays here until n2 announces it")
    }

    @Test func aRequestIsPublishedOnceAndEndsWhenTheMasterStepsDown() {
        var rule = TargetedHandover()
        #expect(ask(&rule, "web", to: "n2", holder: .master, at: .seconds(1)) == .success([.deferToSuccessor(vip: "web")]))
        #expect(step(&rule, ["web": master], at: .seconds(1)) == [.publishRequests(["web": "n2"]), .setPriority(vip: "web", priority: 150)])
        #expect(step(&rule, ["web": master], at: .seconds(2)) == [], "published once; priorities settled")
        // The successor announced it at 254: this board stepped down (make before break is the router's).
        #expect(step(&rule, ["web": backup], at: .seconds(3)) == [.publishRequests([:])])
        #expect(rule.isQuiet)
    }

    @Test func theWindowIsTenSecondsAndThenTheMasterKeepsTheVIP() {
        var rule = TargetedHandover()
        _ = ask(&rule, "web", to: "n2", holder: .master, at: .seconds(5))
        _ = step(&rule, ["web": master], at: .seconds(5))
        #expect(step(&rule, ["web": master], at: .seconds(15)) == [], "the last instant of the window")
        #expect(step(&rule, ["web": master], at: .seconds(15) + .milliseconds(1))
                == [.successorMissed(vip: "web", successor: "n2"), .publishRequests([:])])
        #expect(rule.outgoing.isEmpty)
    }

    @Test func aRouterGoneFromTheDocumentEndsItsRequest() {
        var rule = TargetedHandover()
        _ = ask(&rule, "web", to: "n2", holder: .master)
        _ = step(&rule, ["web": master], at: .zero)
        #expect(step(&rule, [:], at: .seconds(1)) == [.publishRequests([:])])
    }

    @Test func theSuccessorRaisesItsPriorityWhileAskedAndKeepsItWhileItHoldsTheVIP() {
        var rule = TargetedHandover()
        #expect(step(&rule, ["web": backup], at: .zero) == [.setPriority(vip: "web", priority: 100)])
        rule.onRequestsOfMe(["web"])
        #expect(step(&rule, ["web": backup], at: .seconds(1)) == [.becomeSuccessor(vip: "web"), .setPriority(vip: "web", priority: 254)])
        #expect(step(&rule, ["web": master], at: .seconds(2)) == [.setPriority(vip: "web", priority: 254)])
        // The old master stepped down and withdrew its request: this board keeps 254 while it holds the VIP.
        rule.onRequestsOfMe([])
        #expect(step(&rule, ["web": master], at: .seconds(3)) == [.setPriority(vip: "web", priority: 254)])
        #expect(rule.boosted == ["web"])
        // Once it no longer holds it (its link went down), it is back to its own priority.
        #expect(step(&rule, ["web": .init(state: .fault, basePriority: 100)], at: .seconds(4)) == [.setPriority(vip: "web", priority: 100)])
        #expect(rule.boosted.isEmpty && rule.isQuiet)
    }

    /// A probe failing on the successor lowers it as on any board: the boost ends, so the old master's deferral
    /// (to the successor at 254) ends too and the best board takes the VIP.
    @Test func theSuccessorGivesUpItsBoostWhenItsOwnPriorityFalls() {
        var rule = TargetedHandover()
        rule.onRequestsOfMe(["web"])
        _ = step(&rule, ["web": backup], at: .zero)
        _ = step(&rule, ["web": master], at: .seconds(1))
        rule.onRequestsOfMe([])
        #expect(step(&rule, ["web": master], at: .seconds(2)) == [.setPriority(vip: "web", priority: 254)])
        let failing = TargetedHandover.Router(state: .master, basePriority: 60)
        #expect(step(&rule, ["web": failing], at: .seconds(3)) == [.setPriority(vip: "web", priority: 60)])
        #expect(rule.boosted.isEmpty)
    }

    /// Asked to hand over (no --to) while it holds a VIP with the successor's boost: the step-down decides.
    @Test func aBoostedHolderSteppingDownGivesUpItsBoost() {
        var rule = TargetedHandover()
        rule.onRequestsOfMe(["web"])
        _ = step(&rule, ["web": master], at: .zero)
        rule.onRequestsOfMe([])
        _ = rule.onRequest(vip: "web", to: nil, node: "n2", holder: .master, known: ["web"], best: 150, now: .seconds(1))
        #expect(step(&rule, ["web": master], at: .seconds(1)) == [.setPriority(vip: "web", priority: 149)])
        #expect(rule.boosted.isEmpty)
    }

    @Test func aRouterInFaultOrStartingIsNotRaisedForARequest() {
        for state in [VRRPInstance.State.fault, .initialize, .stopped] {
            var rule = TargetedHandover()
            rule.onRequestsOfMe(["web"])
            #expect(step(&rule, ["web": .init(state: state, basePriority: 100)], at: .zero) == [.setPriority(vip: "web", priority: 100)], "\(state)")
            #expect(rule.boosted.isEmpty)
        }
    }

    @Test func aRequestForAnotherVIPLeavesThisOneAlone() {
        var rule = TargetedHandover()
        rule.onRequestsOfMe(["mail"])
        #expect(step(&rule, ["web": backup, "mail": backup], at: .zero)
                == [.becomeSuccessor(vip: "mail"), .setPriority(vip: "mail", priority: 254), .setPriority(vip: "web", priority: 100)])
    }

    @Test func prioritiesAreSetAgainOnlyAfterWhatSetsThemChanged() {
        var rule = TargetedHandover()
        #expect(!rule.isQuiet, "a new rule has not set any priority yet")
        #expect(step(&rule, ["web": master], at: .zero) == [.setPriority(vip: "web", priority: 150)])
        #expect(rule.isQuiet)
        #expect(step(&rule, ["web": master], at: .seconds(1)) == [])
        rule.onPrioritiesChanged()
        #expect(step(&rule, ["web": .init(state: .master, basePriority: 90)], at: .seconds(2)) == [.setPriority(vip: "web", priority: 90)])
    }

    @Test func theBasePriorityIsTheDocumentsMovedByTheProbesWithinOneTo254() {
        #expect(TargetedHandover.basePriority(configured: 150, adjustment: -20) == 130)
        #expect(TargetedHandover.basePriority(configured: 10, adjustment: -50) == 1)
        #expect(TargetedHandover.basePriority(configured: 250, adjustment: 50) == 254)
    }
}
