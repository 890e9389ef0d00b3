// The step-down rule alone for a handover without --to and a graceful stop (a drain's is in DrainSingleMoveTests),
// and a stopping router that keeps its VIP until a higher one announces it.
import HomecloudSchema
import Testing
@testable import VRRP

@Suite struct StepDownRuleTests {
    let master = TargetedHandover.Router(state: .master, basePriority: 150)
    let backup = TargetedHandover.Router(state: .backup, basePriority: 100)

    @Test func anUntargetedHandoverStepsDownToTheBestBoardAndGetsItsPriorityBackAfter() {
        var rule = TargetedHandover()
        let result = rule.onRequest(vip: "web", to: nil, node: "n1", holder: .master, known: ["web"], best: 120, now: .seconds(1))
        #expect(result == .success([.deferToSuccessor(vip: "web")]), "it must not preempt back once n2 holds it")
        #expect(rule.outgoing.isEmpty && rule.steppingDown["web"]?.reason == .handover)
        #expect(rule.onStep(routers: ["web": master], now: .seconds(1)) == [.setPriority(vip: "web", priority: 119)])
        #expect(rule.onStep(routers: ["web": master], now: .seconds(2)) == [])
        // The best board preempted it: its own priority again, and quiet.
        #expect(rule.onStep(routers: ["web": TargetedHandover.Router(state: .backup, basePriority: 150)], now: .seconds(3))
                == [.setPriority(vip: "web", priority: 150)])
        #expect(rule.isQuiet)
    }

    /// The best board is above this one: one below this board's own priority, so that the best board preempts
    /// even if it handed this VIP over here earlier (its deferral ends when the holder advertises less).
    @Test func aMasterBelowTheBestBoardStepsDownToOneBelowItsOwnPriority() {
        var rule = TargetedHandover()
        _ = rule.onRequest(vip: "web", to: nil, node: "n3", holder: .master, known: ["web"], best: 120, now: .zero)
        let lower = TargetedHandover.Router(state: .master, basePriority: 100)
        #expect(rule.onStep(routers: ["web": lower], now: .zero) == [.setPriority(vip: "web", priority: 99)])
    }

    @Test func anUntargetedHandoverWithNoBestBoardOrOneAtPriorityOneIsPriorityZeroAtOnce() {
        var rule = TargetedHandover()
        #expect(rule.onRequest(vip: "web", to: nil, node: "n1", holder: .master, known: ["web"], best: nil, now: .zero) == .success([.handOver(vip: "web")]))
        #expect(rule.onRequest(vip: "web", to: nil, node: "n1", holder: .master, known: ["web"], best: 1, now: .zero) == .success([.handOver(vip: "web")]))
        #expect(rule.steppingDown.isEmpty)
    }

    @Test func anUntargetedHandoverWhoseBestBoardDoesNotComeIsPriorityZeroAfterTheWindow() {
        var rule = TargetedHandover()
        _ = rule.onRequest(vip: "web", to: nil, node: "n1", holder: .master, known: ["web"], best: 120, now: .zero)
        _ = rule.onStep(routers: ["web": master], now: .zero)
        #expect(rule.onStep(routers: ["web": master], now: TargetedHandover.stepDownWindow) == [])
        #expect(rule.onStep(routers: ["web": master], now: TargetedHandover.stepDownWindow + .milliseconds(1))
                == [.handOver(vip: "web"), .setPriority(vip: "web", priority: 150)])
        #expect(rule.steppingDown.isEmpty)
    }

    @Test func aTargetedRequestReplacesAStepDownUnderway() {
        var rule = TargetedHandover()
        _ = rule.onRequest(vip: "web", to: nil, node: "n1", holder: .master, known: ["web"], best: 120, now: .zero)
        #expect(rule.onRequest(vip: "web", to: "n3", node: "n1", holder: .master, known: ["web"], now: .zero) == .success([.deferToSuccessor(vip: "web")]))
        #expect(rule.steppingDown.isEmpty && rule.outgoing == ["web": "n3"])
    }

    @Test func undrainingLeavesAHandoverStepDownGoingOn() {
        var rule = TargetedHandover()
        _ = rule.onDrained(true, routers: ["db": backup], best: [:], now: .zero)
        _ = rule.onRequest(vip: "web", to: nil, node: "n1", holder: .master, known: ["web"], best: 120, now: .zero)
        _ = rule.onDrained(false, routers: ["web": master, "db": backup])
        #expect(rule.steppingDown["web"]?.reason == .handover)
    }

    @Test func aStopStepsAMasterDownWithinTheShorterWindowAndStopsTheRestAtOnce() {
        var rule = TargetedHandover()
        let routers = ["web": master, "nas": master, "db": backup]
        let actions = rule.onStop(routers: routers, best: ["web": 120, "db": 200], now: .seconds(10))
        #expect(actions == [.stop(vip: "db", handOver: true), .stop(vip: "nas", handOver: true), .stop(vip: "web", handOver: false)],
                "nas has no best board known: priority 0 at once; db is no master")
        #expect(rule.steppingDown["web"]?.until == .seconds(10) + TargetedHandover.stopStepDownWindow)
        #expect(rule.onStep(routers: routers, now: .seconds(10)).contains(.setPriority(vip: "web", priority: 119)))
        let late = rule.onStep(routers: routers, now: .seconds(10) + TargetedHandover.stopStepDownWindow + .milliseconds(1))
        #expect(late.first == .handOver(vip: "web"), "the best board did not come: any board may take it")
        #expect(TargetedHandover.stopStepDownWindow < VRRPService.stopBudget)
    }

    @Test func aStopDuringADrainsStepDownKeepsTheEarlierEnd() {
        var rule = TargetedHandover()
        _ = rule.onDrained(true, routers: ["web": master], best: ["web": 120], now: .seconds(4))
        _ = rule.onStop(routers: ["web": master], best: ["web": 120], now: .seconds(8))
        #expect(rule.steppingDown["web"]?.until == .seconds(9), "the drain's 5 s end at 9 s comes before the stop's 9.5 s")
        #expect(rule.steppingDown["web"]?.reason == .stop)
    }

    @Test func aStoppingMasterThatStepsDownKeepsTheVIPUntilAHigherRouterAnnouncesIt() {
        var r = router(priority: 150, advert: .milliseconds(100))
        _ = r.start(linkUp: true, now: .zero)
        _ = r.onTimer(now: r.nextDeadline!)
        #expect(r.state == .master)
        let now = Duration.seconds(1)
        #expect(r.stop(now: now, handOver: false).isEmpty, "no priority 0, the VIP stays")
        #expect(r.setPriority(119, now: now).sentPriorities == [119])
        #expect(r.onTimer(now: r.nextDeadline!).sentPriorities == [119], "it goes on advertising while it waits")
        let lower = r.onAdvertisement(advert(100, interval: 10), from: higherAddress, now: now + .milliseconds(150))
        #expect(!lower.contains(.removeAddresses) && r.state == .master, "a lower router is no successor")
        let done = r.onAdvertisement(advert(120, interval: 10), from: lowerAddress, now: now + .milliseconds(160))
        #expect(done.contains(.removeAddresses) && done.sentPriorities.isEmpty && r.state == .stopped)
        #expect(done.transitions == [.stopped] && r.nextDeadline == nil)
    }
}
