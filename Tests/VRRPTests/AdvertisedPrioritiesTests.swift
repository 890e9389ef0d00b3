// The priority a board advertises, as this board computes it for itself and for the others a step-down aims at
// (AdvertisedPriorities), and a drain's wait covering the best board's preempt delay.
import HomecloudSchema
import Testing
@testable import VRRPCore

@Suite struct AdvertisedPrioritiesTests {
    /// web: n0 150, n1 110, n2 120, n3 100 by the document, tracking nas-up (-30) and disk (-5).
    static func web(preempt: Bool = true, group: String? = nil) -> VirtualIP {
        var vip = VirtualIP(name: "web", address: IPPrefix("192.168.1.100/24")!, interface: "eth0", vrid: 51,
                            priority: .init(default: 100, perNode: ["n0": 150, "n1": 110, "n2": 120]),
                            track: ["nas-up", "disk", "no-such-probe"], preempt: preempt)
        vip.group = group
        return vip
    }
    static let probes = [Probe(name: "nas-up", check: .tcp(host: "10.0.0.9", port: 445), weight: -30),
                         Probe(name: "disk", check: .file(path: "/srv/ok", maxAge: nil), weight: -5),
                         Probe(name: "untracked", check: .unit("k3s.service"), weight: -100)]
    static let others = ["n1", "n2", "n3"]

    @Test func theBaseIsTheDocumentsPriorityMovedByTheWeightsWithinOneTo254() {
        #expect(AdvertisedPriorities.base(configured: 150, adjustment: -20) == 130)
        #expect(AdvertisedPriorities.base(configured: 10, adjustment: -50) == 1)
        #expect(AdvertisedPriorities.base(configured: 250, adjustment: 50) == 254)
        #expect(TargetedHandover.basePriority(configured: 120, adjustment: -30) == AdvertisedPriorities.base(configured: 120, adjustment: -30))
    }

    @Test func onlyTrackedProbesThatFailCountAndANameThatIsNoProbeCountsNothing() {
        let weights = ["nas-up": -30, "disk": -5, "untracked": -100]
        #expect(AdvertisedPriorities.adjustment(tracking: ["nas-up", "disk"], weights: weights, failing: ["nas-up", "untracked"]) == -30)
        #expect(AdvertisedPriorities.adjustment(tracking: ["nas-up", "disk", "gone"], weights: weights, failing: ["nas-up", "disk", "gone"]) == -35)
        #expect(AdvertisedPriorities.adjustment(tracking: [], weights: weights, failing: ["nas-up"]) == 0)
    }

    @Test func aBoardsProbeStateIsUnknownWithoutASummaryOrWithACutList() {
        #expect(AdvertisedPriorities.ProbeState(nil) == .unknown)
        #expect(AdvertisedPriorities.ProbeState(ProbeSummary(count: 3, failing: ["?"])) == .unknown)
        #expect(AdvertisedPriorities.ProbeState(ProbeSummary(count: 3, failing: ["nas-up"], unknown: ["disk"])) == .failing(["nas-up"]),
                "a probe in its grace is not failing: it moves no priority there either")
        #expect(AdvertisedPriorities.ProbeState(ProbeSummary(count: 0, failing: [])) == .failing([]))
    }

    @Test func theBestBoardByTheDocumentWithAFailingWeightedProbeIsPassedOver() {
        let states: [String: AdvertisedPriorities.ProbeState] = ["n1": .failing([]), "n2": .failing(["nas-up"]), "n3": .failing([])]
        let best = AdvertisedPriorities.best(among: Self.others, vips: [Self.web()], probes: Self.probes, groups: SyncGroups(), states: states)
        #expect(best == ["web": 110], "n2 advertises 120 - 30 = 90, so n1 (110) is the one that preempts")
        // Both failing: 120 - 35 = 85 on n2; n1 failing nas-up too: 80, so n3 (100) is best.
        let worse: [String: AdvertisedPriorities.ProbeState] = ["n1": .failing(["nas-up"]), "n2": .failing(["nas-up", "disk"]), "n3": .failing([])]
        #expect(AdvertisedPriorities.best(among: Self.others, vips: [Self.web()], probes: Self.probes, groups: SyncGroups(), states: worse) == ["web": 100])
    }

    @Test func aBoardWhoseProbesAreNotKnownCountsAtTheDocumentsPriorityAsBefore() {
        let best = AdvertisedPriorities.best(among: Self.others, vips: [Self.web()], probes: Self.probes, groups: SyncGroups(),
                                             states: ["n1": .failing([])])
        #expect(best == ["web": 120], "n2 said nothing of its probes (an older agent): 120, the guess of old")
        let cut = AdvertisedPriorities.best(among: Self.others, vips: [Self.web()], probes: Self.probes, groups: SyncGroups(),
                                            states: ["n2": AdvertisedPriorities.ProbeState(ProbeSummary(count: 9, failing: ["?"]))])
        #expect(cut == ["web": 120])
    }

    @Test func aGroupedVIPCountsTheGroupsLowestOnThatBoardAndAVIPThatDoesNotPreemptIsLeftOut() {
        var db = VirtualIP(name: "db", address: IPPrefix("192.168.1.101/24")!, interface: "eth0", vrid: 52,
                           priority: .init(default: 100, perNode: ["n1": 105, "n2": 130]))
        db.group = "g"
        let vips = [Self.web(group: "g"), db]
        let groups = SyncGroups(document: vips)
        let states: [String: AdvertisedPriorities.ProbeState] = ["n1": .failing([]), "n2": .failing(["nas-up"]), "n3": .failing([])]
        // n2: web 90, db 130 → both 90; n1: web 110, db 105 → both 105; n3: 100.
        #expect(AdvertisedPriorities.best(among: Self.others, vips: vips, probes: Self.probes, groups: groups, states: states)
                == ["web": 105, "db": 105])
        #expect(AdvertisedPriorities.best(among: Self.others, vips: [Self.web(preempt: false)], probes: Self.probes, groups: SyncGroups(),
                                          states: states).isEmpty)
    }

    @Test func thisBoardsOwnPriorityAndTheOthersComeFromOneRule() {
        // What n2 advertises for itself (its probe runner's adjustments) is what n0 computes for n2 from its gossip.
        let own = AdvertisedPriorities.of(node: "n2", vips: [Self.web()], groups: SyncGroups(), adjustments: ["web": -30])
        let seen = AdvertisedPriorities.best(among: ["n2"], vips: [Self.web()], probes: Self.probes, groups: SyncGroups(),
                                             states: ["n2": .failing(["nas-up", "untracked"])])
        #expect(own == ["web": 90] && seen == own)
    }

    @Test func aDrainWaitsOutTheBestBoardsPreemptDelayUpToAMinute() {
        #expect(TargetedHandover.drainWindow(preemptDelay: .zero) == TargetedHandover.stepDownWindow)
        #expect(TargetedHandover.drainWindow(preemptDelay: .seconds(30)) == TargetedHandover.stepDownWindow + .seconds(30))
        #expect(TargetedHandover.drainWindow(preemptDelay: .seconds(3600)) == TargetedHandover.stepDownWindow + TargetedHandover.longestPreemptDelayCovered)
        var rule = TargetedHandover()
        let master = TargetedHandover.Router(state: .master, basePriority: 150)
        _ = rule.onDrained(true, routers: ["web": master, "db": master], best: ["web": 120, "db": 120],
                           preemptDelays: ["web": .seconds(30)], now: .seconds(2))
        #expect(rule.steppingDown["web"]?.until == .seconds(37) && rule.steppingDown["db"]?.until == .seconds(7))
        let early = rule.onStep(routers: ["web": master, "db": master], now: .seconds(8))
        #expect(early.first == .handOver(vip: "db") && !early.contains(.handOver(vip: "web")) && early.contains(.setPriority(vip: "web", priority: 119)),
                "db's best board did not come in 5 s: priority 0; web still waits for its board's preempt delay: \(early)")
        #expect(rule.onStep(routers: ["web": master, "db": master], now: .seconds(37) + .milliseconds(1)).first == .handOver(vip: "web"))
        // A stop does not wait longer than its budget allows, whatever the delay.
        var stopping = TargetedHandover()
        _ = stopping.onDrained(true, routers: ["web": master], best: ["web": 120], preemptDelays: ["web": .seconds(30)], now: .zero)
        _ = stopping.onStop(routers: ["web": master], best: ["web": 120], now: .seconds(1))
        #expect(stopping.steppingDown["web"]?.until == .seconds(1) + TargetedHandover.stopStepDownWindow)
    }
}
