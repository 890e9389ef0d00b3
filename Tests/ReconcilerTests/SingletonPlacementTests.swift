// `placement: one` across a split: only a side with a strict majority of the role runs it, suspects keep it,
// the dead lose it, and a new runner waits for the old one to stop (issue 13, item 6).
import HomecloudSchema
import HomecloudYAML
import ReconcilerCore
import Testing

@Suite struct SingletonPlacementTests {
    let t0 = Duration.zero
    func at(_ seconds: Double) -> Duration { t0 + .milliseconds(Int64(seconds * 1000)) }
    let five = ["a", "b", "c", "d", "e"]
    let timing = SingletonTiming.forCluster(of: 5)
    var delay: Duration { timing.takeoverDelay }
    var lease: Duration { timing.lease }

    /// Role `db` on five nodes, `pair` on two (a and b), `solo` on one (a); each has a `one` unit.
    func document() -> DesiredState {
        let text = """
            generation: 1
            cluster: c
            nodes: { a: [db, pair, solo], b: [db, pair], c: [db], d: [db], e: [db] }
            roles:
              db: { units: [ { name: db.service, state: running, placement: one } ] }
              pair: { units: [ { name: pair.service, state: running, placement: one } ] }
              solo: { units: [ { name: solo.service, state: running, placement: one } ] }

            """
        return try! DesiredStateParser.parse(text, file: "d").get()
    }

    func everyone(_ state: MemberState, but overrides: [String: MemberState] = [:]) -> [String: MemberState] {
        var result: [String: MemberState] = [:]
        for name in five { result[name] = overrides[name] ?? state }
        return result
    }

    /// Gossip's view: these states, every member alive or suspect heard from at `heard`.
    func view(_ states: [String: MemberState], heard: Duration) -> MemberView {
        MemberView(states: states, lastHeard: states.filter { $0.value == .alive || $0.value == .suspect }.mapValues { _ in heard })
    }

    /// A node's planner with every unit read as stopped, and the view `members` given (and heard) at time 0.
    func board(_ node: String, members: [String: MemberState]) -> ReconcileCore {
        var core = ReconcileCore(node: node, seed: 1)
        _ = core.onDocument(document(), now: at(0))
        for name in ["db.service", "pair.service", "solo.service"] {
            _ = core.onUnit(ObservedUnit(name: name, activeState: "inactive", unitFileState: "enabled", result: "success"), now: at(0))
        }
        _ = fenced(&core, core.onMembers(view(members, heard: at(0)), now: at(0)), now: at(0))
        return core
    }

    func running(_ core: inout ReconcileCore, _ unit: String, now: Duration) {
        _ = core.onJobDone(unit: unit, result: .done, now: now)
        _ = core.onUnit(ObservedUnit(name: unit, activeState: "active", unitFileState: "enabled", result: "success"), now: now)
    }

    func starts(_ actions: [ReconcileCore.Action], _ unit: String) -> Bool { actions.contains(.start(unit)) }
    /// The plan asks to be woken by `deadline` (the takeover, or a lease lapsing before it).
    func wakes(_ actions: [ReconcileCore.Action], by deadline: Duration) -> Bool {
        actions.contains { if case .wakeUp(let at) = $0 { at <= deadline } else { false } }
    }

    /// Gossip says `states` at `t`, everyone it lists as alive or suspect heard from just now. Fence arms are
    /// answered as systemd does (SingletonFenceTests follows the fence itself).
    func news(_ core: inout ReconcileCore, _ states: [String: MemberState], at t: Duration) -> [ReconcileCore.Action] {
        let between = Self.sameNewsUntil(&core, t)
        return between.filter { if case .wakeUp = $0 { false } else { true } } + fenced(&core, core.onMembers(view(states, heard: t), now: t), now: t)
    }

    /// The agent between two looks of a test: gossip repeats its last view every second, heard afresh, and
    /// systemd takes every fence arm. Returns what the planner did meanwhile.
    static func sameNewsUntil(_ core: inout ReconcileCore, _ t: Duration) -> [ReconcileCore.Action] {
        guard let last = core.lastPlanAt, let previous = core.members else { return [] }
        var result: [ReconcileCore.Action] = []
        var tick = last + .seconds(1)
        while tick < t {
            let heard = MemberView(states: previous.states, lastHeard: previous.lastHeard.mapValues { _ in tick })
            var actions = core.onMembers(heard, now: tick)
            while let arm = actions.firstIndex(where: { if case .armFence = $0 { true } else { false } }) {
                guard case .armFence(let unit, _) = actions.remove(at: arm) else { break }
                actions += core.onFenceArmed(unit: unit, now: tick)
            }
            result += actions.filter { if case .removeFence = $0 { false } else { true } }
            tick = tick + .seconds(1)
        }
        return result
    }

    /// `actions` and what answering their fence arms brings, without the arms and removals themselves.
    func fenced(_ core: inout ReconcileCore, _ actions: [ReconcileCore.Action], now: Duration) -> [ReconcileCore.Action] {
        var result: [ReconcileCore.Action] = []
        for action in actions {
            switch action {
            case .armFence(let unit, _): result += fenced(&core, core.onFenceArmed(unit: unit, now: now), now: now)
            case .removeFence: break
            default: result.append(action)
            }
        }
        return result
    }

    // MARK: the rule alone

    @Test func aStrictMajorityOfTheRoleAliveAndHeardFromIsNeeded() {
        func majority(_ node: String, _ states: [String: MemberState], roleNodes: [String]? = nil, now: Double = 0) -> Bool {
            SingletonPlacement.hasMajority(roleNodes: roleNodes ?? five, node: node, view: view(states, heard: at(0)), lease: lease, now: at(now))
        }
        // 3 of 5 alive: the majority side.
        #expect(majority("a", ["a": .alive, "b": .alive, "c": .alive, "d": .dead, "e": .dead]))
        // 2 of 5 alive, the others suspect: suspects do not count.
        #expect(!majority("a", ["a": .alive, "b": .alive, "c": .suspect, "d": .suspect, "e": .suspect]))
        // Nodes gossip does not know count as not alive; this node always counts itself.
        #expect(!majority("a", [:]))
        #expect(SingletonPlacement.aliveCount(roleNodes: five, node: "a", view: view(["b": .alive, "c": .left, "stranger": .alive], heard: at(0)),
                                              lease: lease, now: at(0)) == 2)
        // Even halves have no majority: 2 of 4.
        #expect(!majority("a", ["b": .alive], roleNodes: ["a", "b", "c", "d"]))
        // Alive, but not heard from for the lease: across a split SWIM may not have suspected them yet.
        #expect(majority("a", everyone(.alive), now: 9.9))
        #expect(!majority("a", everyone(.alive), now: 10))
        let heardOnlyFromB = MemberView(states: everyone(.alive), lastHeard: ["b": at(8), "c": at(0), "d": at(0), "e": at(0)])
        #expect(!SingletonPlacement.hasMajority(roleNodes: five, node: "a", view: heardOnlyFromB, lease: lease, now: at(11)))
        #expect(SingletonPlacement.nextLapse(roleNodes: five, node: "a", view: heardOnlyFromB, lease: lease, now: at(5)) == at(0) + lease)
    }

    @Test func theTimingFollowsTheClusterSize() {
        #expect(SingletonTiming.forCluster(of: 5) == SingletonTiming(lease: .seconds(10), takeoverDelay: .seconds(12)))
        #expect(SingletonTiming.forCluster(of: 10).lease == .seconds(20))
        #expect(SingletonTiming.forCluster(of: 1).lease == .seconds(4))
        for size in 1...50 {
            let timing = SingletonTiming.forCluster(of: size)
            #expect(timing.takeoverDelay > timing.lease)  // the new runner starts only after the old one's lease lapsed
        }
    }

    @Test func aSuspectKeepsItsUnitUntilDeclaredDead() {
        let holder = UnitPlacement.chosenNode(for: "db.service", among: five)!
        let other = five.first { $0 != holder }!
        func runner(_ states: [String: MemberState]) -> String? {
            SingletonPlacement.runner(of: "db.service", roleNodes: five, node: other, view: view(states, heard: at(0)), lease: lease, now: at(0))
        }
        #expect(runner(everyone(.alive, but: [holder: .suspect])) == holder)
        let next = runner(everyone(.alive, but: [holder: .dead]))
        #expect(next != nil && next != holder)
        #expect(next == UnitPlacement.chosenNode(for: "db.service", among: five.filter { $0 != holder }))
    }

    @Test func aRoleOfOneAlwaysRunsARoleOfTwoNeedsBoth() {
        // Gossip knows nobody else: still its own majority, and nobody else could run it, so no wait.
        var solo = ReconcileCore(node: "a", seed: 1)
        _ = solo.onDocument(document(), now: at(0))
        _ = solo.onUnit(ObservedUnit(name: "solo.service", activeState: "inactive", unitFileState: "enabled", result: "success"), now: at(0))
        #expect(starts(solo.onMembers(MemberView(states: [:]), now: at(0)), "solo.service"))
        let pairRunner = UnitPlacement.chosenNode(for: "pair.service", among: ["a", "b"])!
        var pair = board(pairRunner, members: everyone(.alive))
        #expect(starts(news(&pair, everyone(.alive), at: at(0) + delay), "pair.service"))
        running(&pair, "pair.service", now: at(0) + delay)
        // The other node of the pair dies (or is cut off): 1 of 2 is no majority, the unit stops.
        let partner = pairRunner == "a" ? "b" : "a"
        #expect(news(&pair, everyone(.alive, but: [partner: .dead]), at: at(20)).contains(.stop("pair.service")))
        let reason = pair.report(now: at(20)).units.first { $0.name == "pair.service" }?.reason ?? ""
        #expect(reason.contains("no majority of role pair: 1 of its 2 nodes alive"), "\(reason)")
    }

    // MARK: a split, 2 | 3, in the planner

    @Test func theMinorityStopsWhenItsLeaseLapsesTheMajorityStartsOnlyAfterDeathAndTheDelay() {
        // The holder ends up in the two-board minority with one other node.
        let holder = UnitPlacement.chosenNode(for: "db.service", among: five)!
        let partner = five.first { $0 != holder }!
        let far = five.filter { $0 != holder && $0 != partner }
        let successor = UnitPlacement.chosenNode(for: "db.service", among: far)!

        var minority = board(holder, members: everyone(.alive))
        #expect(!starts(news(&minority, everyone(.alive), at: at(1)), "db.service"))  // not before the delay, even at start
        #expect(starts(news(&minority, everyone(.alive), at: at(0) + delay), "db.service"))
        running(&minority, "db.service", now: at(0) + delay)
        var majority = board(successor, members: everyone(.alive))
        _ = news(&majority, everyone(.alive), at: at(0) + delay)
        #expect(majority.report(now: at(13)).units.first { $0.name == "db.service" }?.desired == "stopped")

        // Split at t = 20, everyone last heard from at 20. The minority keeps hearing from its partner only;
        // SWIM there is slow and says nothing new. Its plan asks to be woken when the lease lapses.
        // Gossip repeats that view every second, the partner heard afresh: the fence is re-armed only while
        // it would lapse before the majority does, and the stop comes by split + lease either way.
        let split = at(20)
        _ = Self.sameNewsUntil(&minority, split)
        var lapsing: [ReconcileCore.Action] = []
        var t = split
        while t < split + lease {
            t = t + .seconds(1)
            let quiet = MemberView(states: everyone(.alive), lastHeard: [holder: split, partner: t, far[0]: split, far[1]: split, far[2]: split])
            lapsing += fenced(&minority, minority.onMembers(quiet, now: t), now: t)
        }
        #expect(lapsing.contains(.stop("db.service")) && !starts(lapsing, "db.service"), "\(lapsing)")
        let reason = minority.report(now: split + lease).units.first { $0.name == "db.service" }?.reason ?? ""
        #expect(reason.contains("no majority of role db: 2 of its 5 nodes alive"), "\(reason)")
        // A suspicion of the far boards, had it come first, stops it as well.
        var early = board(holder, members: everyone(.alive))
        _ = news(&early, everyone(.alive), at: at(0) + delay)
        running(&early, "db.service", now: at(0) + delay)
        let suspected = news(&early, everyone(.suspect, but: [holder: .alive, partner: .alive]), at: at(21))
        #expect(suspected.contains(.stop("db.service")) && !starts(suspected, "db.service"), "\(suspected)")

        // The majority suspects the holder: the unit does not move.
        var far3 = everyone(.alive, but: [holder: .suspect, partner: .suspect])
        #expect(!starts(news(&majority, far3, at: at(21)), "db.service"))
        #expect(majority.report(now: at(21)).units.first { $0.name == "db.service" }?.desired == "stopped")
        // Dead: the successor is now the runner, and starts only after the delay (the timer says when).
        far3[holder] = .dead
        far3[partner] = .dead
        let moved = news(&majority, far3, at: at(22))
        #expect(!starts(moved, "db.service"))
        #expect(wakes(moved, by: at(22) + delay))
        let report = majority.report(now: at(22)).units.first { $0.name == "db.service" }
        #expect(report?.desired == "running" && report?.reason?.contains("takes over in") == true, "\(String(describing: report))")
        #expect(!starts(news(&majority, far3, at: at(22) + delay - .milliseconds(1)), "db.service"))
        #expect(starts(news(&majority, far3, at: at(22) + delay), "db.service"))
        // Whatever SWIM says over there, the majority's start (>= split + delay) comes after the minority's
        // stop (<= split + lease).
        #expect(at(22) + delay > split + lease)

        // In the minority, the partner never starts it (no majority), even once it sees the far side dead.
        var other = board(partner, members: everyone(.alive))
        let cutOff = everyone(.dead, but: [holder: .alive, partner: .alive])
        #expect(!starts(news(&other, cutOff, at: at(30)) + news(&other, cutOff, at: at(60)), "db.service"))
    }

    @Test func afterTheHealTheInterimRunnerStopsAtOnceAndTheWinnerWaits() {
        let holder = UnitPlacement.chosenNode(for: "db.service", among: five)!
        let partner = five.first { $0 != holder }!
        let far = five.filter { $0 != holder && $0 != partner }
        let successor = UnitPlacement.chosenNode(for: "db.service", among: far)!
        // During the split: the successor runs it, the old holder does not.
        let majorityView = everyone(.alive, but: [holder: .dead, partner: .dead])
        var interim = board(successor, members: majorityView)
        #expect(starts(news(&interim, majorityView, at: at(0) + delay), "db.service"))
        running(&interim, "db.service", now: at(0) + delay)
        var returning = board(holder, members: everyone(.dead, but: [holder: .alive, partner: .alive]))

        // Heal: each side sees the other alive again, in either order.
        let healed = news(&interim, everyone(.alive), at: at(30))
        #expect(healed.contains(.stop("db.service")) && !starts(healed, "db.service"), "\(healed)")
        let actions = news(&returning, everyone(.alive), at: at(30))
        #expect(!starts(actions, "db.service") && wakes(actions, by: at(30) + delay))
        #expect(starts(news(&returning, everyone(.alive), at: at(30) + delay), "db.service"))
    }

    @Test func losingTheRunnerRoleDuringTheDelayStartsTheWaitAgain() {
        let holder = UnitPlacement.chosenNode(for: "db.service", among: five)!
        var core = board(holder, members: everyone(.alive))
        // The view dips below a majority for a moment, then comes back: the wait starts over.
        _ = news(&core, everyone(.suspect, but: [holder: .alive]), at: at(5))
        _ = news(&core, everyone(.alive), at: at(6))
        #expect(!starts(news(&core, everyone(.alive), at: at(0) + delay), "db.service"))
        #expect(starts(news(&core, everyone(.alive), at: at(6) + delay), "db.service"))
    }

    @Test func aUnitAlreadyRunningOnTheRunnerIsKept() {
        // An agent restarted on the runner finds the unit up: no stop, no wait.
        let holder = UnitPlacement.chosenNode(for: "db.service", among: five)!
        var core = ReconcileCore(node: holder, seed: 1)
        _ = core.onDocument(document(), now: at(0))
        // Before gossip has said who is alive: left alone, neither stopped nor started.
        let before = core.onUnit(ObservedUnit(name: "db.service", activeState: "active", unitFileState: "enabled", result: "success"), now: at(0))
        #expect(before.isEmpty, "\(before)")
        #expect(core.report(now: at(0)).units.first { $0.name == "db.service" }?.reason == "waits for gossip's view of role db")
        let actions = news(&core, everyone(.alive), at: at(1))
        #expect(!actions.contains(.stop("db.service")) && !starts(actions, "db.service"))
        let report = core.report(now: at(1)).units.first { $0.name == "db.service" }
        #expect(report?.state == .converged, "\(String(describing: report))")
    }

    @Test func withoutGossipsViewAOneUnitWaits() {
        var core = ReconcileCore(node: "a", seed: 1)
        _ = core.onDocument(document(), now: at(0))
        let actions = core.onUnit(ObservedUnit(name: "db.service", activeState: "inactive", unitFileState: "enabled", result: "success"), now: at(0))
            + core.onTimer(now: at(100))
        #expect(!starts(actions, "db.service"))
    }
}
