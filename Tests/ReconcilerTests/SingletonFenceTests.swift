// The fence of a `placement: one` unit in the planner, on virtual time: armed before the start, re-armed while
// the board holds the unit, never beyond its majority's lapse, removed when the unit leaves, and after a lapse
// (the agent frozen past it) the takeover delay is waited again (SingletonFence.swift).
import HomecloudSchema
import HomecloudYAML
import ReconcilerCore
import Testing

@Suite struct SingletonFenceTests {
    let t0 = Duration.zero
    func at(_ seconds: Double) -> Duration { t0 + .milliseconds(Int64(seconds * 1000)) }
    let three = ["a", "b", "c"]
    let timing = SingletonTiming.forCluster(of: 3)  // lease 6 s, takeover 8 s
    var fence: FenceTiming { .forSingleton(timing) }
    let unit = "db.service"

    func document() -> DesiredState {
        let text = """
            generation: 1
            cluster: c
            nodes: { a: [db], b: [db], c: [db] }
            roles:
              db: { units: [ { name: db.service, state: running, placement: one } ] }

            """
        return try! DesiredStateParser.parse(text, file: "d").get()
    }

    var holder: String { UnitPlacement.chosenNode(for: unit, among: three)! }

    func allAlive(heard: Duration) -> MemberView {
        MemberView(states: ["a": .alive, "b": .alive, "c": .alive], lastHeard: ["a": heard, "b": heard, "c": heard])
    }

    func arms(_ actions: [ReconcileCore.Action]) -> Bool {
        actions.contains { if case .armFence = $0 { true } else { false } }
    }

    /// The holder's planner with the unit read as stopped and everyone alive at time 0.
    func board(_ node: String) -> ReconcileCore {
        var core = ReconcileCore(node: node, seed: 1)
        _ = core.onDocument(document(), now: at(0))
        _ = core.onUnit(ObservedUnit(name: unit, activeState: "inactive", unitFileState: "enabled", result: "success"), now: at(0))
        return core
    }

    @Test func theLeaseIsHalfThePlacementLeaseAndShorterThanTheTakeover() {
        #expect(FenceTiming.forSingleton(.forCluster(of: 5)).lease == .seconds(5))
        #expect(fence.lease == .seconds(3) && fence.rearmWithin == .milliseconds(1500))
        for size in 2...50 {
            let placement = SingletonTiming.forCluster(of: size)
            let fence = FenceTiming.forSingleton(placement)
            // A dead board's copy stops within lease + accuracy; the others wait longer than that after even an
            // instant declaration of its death.
            #expect(fence.lease + fence.accuracy + fence.margin < placement.takeoverDelay)
            #expect(fence.rearmWithin < fence.lease)
        }
        #expect(SingletonFence.timerName(for: unit).hasPrefix("hcagent-fence-") && SingletonFence.timerName(for: unit).hasSuffix(".timer"))
        #expect(SingletonFence.serviceName(for: unit) == String(SingletonFence.timerName(for: unit).dropLast(".timer".count)) + ".service")
        #expect(SingletonFence.timerName(for: "a@x.service") != SingletonFence.timerName(for: "b@x.service"))
    }

    @Test func theMajorityLapsesWhenTheLastOfTheFewestNeededOthersLapses() {
        let lease = Duration.seconds(10)
        let five = ["a", "b", "c", "d", "e"]
        let view = MemberView(states: ["a": .alive, "b": .alive, "c": .alive, "d": .alive, "e": .dead],
                              lastHeard: ["b": at(1), "c": at(3), "d": at(2)])
        // a needs 2 others of b, c, d: c (heard at 3) and d (2) keep it until 12.
        #expect(SingletonPlacement.majorityLapse(roleNodes: five, node: "a", view: view, lease: lease, now: at(4)) == at(12))
        // Only one other counted: lapsed now.
        let thin = MemberView(states: ["a": .alive, "b": .alive], lastHeard: ["b": at(3)])
        #expect(SingletonPlacement.majorityLapse(roleNodes: five, node: "a", view: thin, lease: lease, now: at(4)) == at(4))
        // A role this board holds alone never lapses.
        #expect(SingletonPlacement.majorityLapse(roleNodes: ["a"], node: "a", view: thin, lease: lease, now: at(4)) == nil)
        #expect(SingletonFence.mayArm(majorityLapse: at(12), now: at(4), timing: fence))
        #expect(!SingletonFence.mayArm(majorityLapse: at(7), now: at(4), timing: fence))
    }

    @Test func armedBeforeTheStartReArmedWhileItRunsRemovedWhenItLeaves() {
        var core = board(holder)
        // Becoming the runner arms the fence at once; the start waits for the takeover delay.
        let first = core.onMembers(allAlive(heard: at(0)), now: at(0))
        #expect(first.contains(.armFence(unit: unit, timing: fence)) && !first.contains(.start(unit)), "\(first)")
        // A second plan while the arm is under way does not ask again.
        #expect(!arms(core.onMembers(allAlive(heard: at(0.5)), now: at(0.5))))
        #expect(!core.onFenceArmed(unit: unit, now: at(0.5)).contains(.start(unit)))
        // Re-armed every half lease, on the planner's own wake-ups; then the start, behind an armed fence.
        var now = 0.5
        var rearms = 0
        var started = false
        while now < 20 {
            now += 0.25
            let actions = core.onMembers(allAlive(heard: at(now)), now: at(now))
            if arms(actions) {
                rearms += 1
                #expect(!actions.contains(.start(unit)))
                _ = core.onFenceArmed(unit: unit, now: at(now))
            }
            if actions.contains(.start(unit)) {
                #expect(now >= 8)
                started = true
                _ = core.onJobDone(unit: unit, result: .done, now: at(now))
                _ = core.onUnit(ObservedUnit(name: unit, activeState: "active", unitFileState: "enabled", result: "success"), now: at(now))
            }
        }
        #expect(started)
        // 20 s at a re-arm every 1.5 s (a due one waits for the next plan, here 0.25 s).
        #expect((11...14).contains(rearms), "\(rearms)")
        // The wake-up asked for is the next re-arm: ~1.5 s away, not a busy loop.
        let quiet = core.onTimer(now: at(now))
        let wake = quiet.compactMap { if case .wakeUp(let t) = $0 { t } else { nil } }.first
        #expect(wake.map { $0 > at(now) && $0 <= at(now) + fence.lease } == true, "\(quiet)")

        // The holder dies in the others' view... here: it is told it lost its majority; it stops, then removes the fence.
        let alone = MemberView(states: ["a": .alive, "b": .dead, "c": .dead], lastHeard: [:])
        let lost = core.onMembers(alone, now: at(now + 1))
        #expect(lost.contains(.stop(unit)) && !arms(lost), "\(lost)")
        _ = core.onJobDone(unit: unit, result: .done, now: at(now + 1.1))
        let down = core.onUnit(ObservedUnit(name: unit, activeState: "inactive", unitFileState: "enabled", result: "success"), now: at(now + 1.1))
        #expect(down.contains(.removeFence(unit: unit)), "\(down)")
        #expect(!core.onTimer(now: at(now + 5)).contains(.removeFence(unit: unit)))  // once
    }

    @Test func notArmedBeyondTheMajoritysLapse() {
        var core = board(holder)
        _ = core.onMembers(allAlive(heard: at(0)), now: at(0))
        _ = core.onFenceArmed(unit: unit, now: at(0))
        // Nobody heard from since 0: at 2.6 the majority lapses at 6 (lease 6), less than 3 s + margin ahead.
        let stale = core.onMembers(allAlive(heard: at(0)), now: at(2.6))
        #expect(!arms(stale), "\(stale)")
        // Fresh news: armed again.
        #expect(arms(core.onMembers(allAlive(heard: at(2.7)), now: at(2.7))))
    }

    @Test func aFrozenAgentThatResumesWaitsTheTakeoverAgainAndStopsItsCopy() {
        var core = board(holder)
        var now = 0.0
        while now <= 10 {
            let actions = core.onMembers(allAlive(heard: at(now)), now: at(now))
            if arms(actions) { _ = core.onFenceArmed(unit: unit, now: at(now)) }
            if actions.contains(.start(unit)) {
                _ = core.onJobDone(unit: unit, result: .done, now: at(now))
                _ = core.onUnit(ObservedUnit(name: unit, activeState: "active", unitFileState: "enabled", result: "success"), now: at(now))
            }
            now += 0.5
        }
        #expect(core.report(now: at(now)).units.first?.active == "active")
        // Frozen from 10.5 to 40: the fence elapsed meanwhile and systemd stopped the unit. On resuming, gossip's
        // fresh view (everyone alive, this board still the rendezvous winner) comes first, before the unit's stop:
        // the planner stops the copy it believes up and does not start it again before the takeover delay.
        let resumed = core.onMembers(allAlive(heard: at(40)), now: at(40))
        #expect(resumed.contains(.stop(unit)) && !resumed.contains(.start(unit)), "\(resumed)")
        if arms(resumed) { _ = core.onFenceArmed(unit: unit, now: at(40)) }
        _ = core.onJobDone(unit: unit, result: .done, now: at(40.1))
        var early: [ReconcileCore.Action] = core.onUnit(ObservedUnit(name: unit, activeState: "inactive", unitFileState: "enabled", result: "success"), now: at(40.1))
        // Or the stop arrives first: the same, no start.
        now = 40.5
        while now < 40 + 8 - 0.5 {
            let actions = core.onMembers(allAlive(heard: at(now)), now: at(now))
            if arms(actions) { _ = core.onFenceArmed(unit: unit, now: at(now)) }
            early += actions
            now += 0.5
        }
        #expect(!early.contains(.start(unit)), "\(early)")
        var later: [ReconcileCore.Action] = []
        while now < 40 + 9 {
            let actions = core.onMembers(allAlive(heard: at(now)), now: at(now))
            if arms(actions) { _ = core.onFenceArmed(unit: unit, now: at(now)) }
            later += actions
            now += 0.5
        }
        #expect(later.contains(.start(unit)), "\(later)")
    }

    @Test func theStopArrivingFirstAfterAFreezeStartsNothingEither() {
        var core = board(holder)
        var now = 0.0
        while now <= 10 {
            let actions = core.onMembers(allAlive(heard: at(now)), now: at(now))
            if arms(actions) { _ = core.onFenceArmed(unit: unit, now: at(now)) }
            if actions.contains(.start(unit)) {
                _ = core.onJobDone(unit: unit, result: .done, now: at(now))
                _ = core.onUnit(ObservedUnit(name: unit, activeState: "active", unitFileState: "enabled", result: "success"), now: at(now))
            }
            now += 0.5
        }
        let down = core.onUnit(ObservedUnit(name: unit, activeState: "inactive", unitFileState: "enabled", result: "success"), now: at(40))
            + core.onMembers(allAlive(heard: at(40)), now: at(40.2))
        #expect(!down.contains(.start(unit)), "\(down)")
    }

    @Test func aFenceThatCannotBeArmedKeepsTheUnitOffAndSaysWhy() {
        var core = board(holder)
        var now = 0.0
        var asked = 0
        var all: [ReconcileCore.Action] = []
        while now <= 20 {
            var actions = core.onMembers(allAlive(heard: at(now)), now: at(now))
            if arms(actions) {
                asked += 1
                actions += core.onFenceFailed(unit: unit, reason: "Access denied", now: at(now))
            }
            all += actions
            now += 0.5
        }
        #expect(!all.contains(.start(unit)))
        #expect((5...11).contains(asked), "\(asked)")  // tried again every 2 s, not at every plan
        let report = core.report(now: at(now)).units.first
        #expect(report?.state == .degraded && report?.reason?.contains("fence cannot be armed (Access denied)") == true, "\(String(describing: report))")
        // It works again: the fence is armed, the unit starts (the takeover delay has long passed).
        let retry = core.onTimer(now: at(now + 2))
        #expect(arms(retry))
        #expect(core.onFenceArmed(unit: unit, now: at(now + 2)).contains(.start(unit)))
    }

    @Test func aRunningUnitFoundAfterARestartIsFencedAtOnceAndOthersStale() {
        // A restarted agent finds the unit up: it arms the fence as soon as gossip says it holds the unit.
        var core = ReconcileCore(node: holder, seed: 1)
        _ = core.onDocument(document(), now: at(0))
        #expect(!arms(core.onUnit(ObservedUnit(name: unit, activeState: "active", unitFileState: "enabled", result: "success"), now: at(0))))
        let decided = core.onMembers(allAlive(heard: at(1)), now: at(1))
        #expect(arms(decided) && !decided.contains(.stop(unit)), "\(decided)")
        // A board that does not run it removes any fence an earlier agent left, once.
        let other = three.first { $0 != holder }!
        var idle = board(other)
        #expect(idle.onMembers(allAlive(heard: at(1)), now: at(1)).contains(.removeFence(unit: unit)))
        #expect(!idle.onMembers(allAlive(heard: at(2)), now: at(2)).contains(.removeFence(unit: unit)))
    }
}
