// `placement: one` across a split: only a side with a strict majority of the role runs it, suspects keep it,
// the dead lose it, and a new runner waits for the old one to stop (issue 13, item 6).
import HomecloudSchema
import Reconciler
import Testing

@Suite struct SingletonPlacementTests {
    let t0 = ContinuousClock.now
    func at(_ seconds: Double) -> ContinuousClock.Instant { t0 + .milliseconds(Int64(seconds * 1000)) }
    let five = ["a", "b", "c", "d", "e"]
    let delay = ReconcileCore.defaultTakeoverDelay

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

    /// A node's planner with every unit read as stopped, and the view `members` given at time 0.
    func board(_ node: String, members: [String: MemberState]) -> ReconcileCore {
        var core = ReconcileCore(node: node, seed: 1)
        _ = core.onDocument(document(), now: at(0))
        for name in ["db.service", "pair.service", "solo.service"] {
            _ = core.onUnit(ObservedUnit(name: name, activeState: "inactive", unitFileState: "enabled", result: "success"), now: at(0))
        }
        _ = core.onMembers(members, now: at(0))
        return core
    }

    func running(_ core: inout ReconcileCore, _ unit: String, now: ContinuousClock.Instant) {
        _ = core.onJobDone(unit: unit, result: .done, now: now)
        _ = core.onUnit(ObservedUnit(name: unit, activeState: "active", unitFileState: "enabled", result: "success"), now: now)
    }

    func starts(_ actions: [ReconcileCore.Action], _ unit: String) -> Bool { actions.contains(.start(unit)) }

    // MARK: the rule alone

    @Test func aStrictMajorityOfTheRoleAliveIsNeeded() {
        // 3 of 5 alive: the majority side.
        #expect(SingletonPlacement.hasMajority(roleNodes: five, node: "a", members: ["a": .alive, "b": .alive, "c": .alive, "d": .dead, "e": .dead]))
        // 2 of 5 alive, the others suspect: the minority stops on suspicion, before it sees them dead.
        #expect(!SingletonPlacement.hasMajority(roleNodes: five, node: "a", members: ["a": .alive, "b": .alive, "c": .suspect, "d": .suspect, "e": .suspect]))
        // Nodes gossip does not know count as not alive; this node always counts itself.
        #expect(!SingletonPlacement.hasMajority(roleNodes: five, node: "a", members: [:]))
        #expect(SingletonPlacement.aliveCount(roleNodes: five, node: "a", members: ["b": .alive, "c": .left, "stranger": .alive]) == 2)
        // Even halves have no majority: 2 of 4.
        #expect(!SingletonPlacement.hasMajority(roleNodes: ["a", "b", "c", "d"], node: "a", members: ["b": .alive]))
    }

    @Test func aSuspectKeepsItsUnitUntilDeclaredDead() {
        let holder = UnitPlacement.chosenNode(for: "db.service", among: five)!
        let suspected = everyone(.alive, but: [holder: .suspect])
        let other = five.first { $0 != holder }!
        #expect(SingletonPlacement.runner(of: "db.service", roleNodes: five, node: other, members: suspected) == holder)
        let dead = everyone(.alive, but: [holder: .dead])
        let next = SingletonPlacement.runner(of: "db.service", roleNodes: five, node: other, members: dead)
        #expect(next != nil && next != holder)
        #expect(next == UnitPlacement.chosenNode(for: "db.service", among: five.filter { $0 != holder }))
    }

    @Test func aRoleOfOneAlwaysRunsARoleOfTwoNeedsBoth() {
        // Gossip knows nobody else: still its own majority, and nobody else could run it, so no wait.
        var solo = ReconcileCore(node: "a", seed: 1)
        _ = solo.onDocument(document(), now: at(0))
        _ = solo.onUnit(ObservedUnit(name: "solo.service", activeState: "inactive", unitFileState: "enabled", result: "success"), now: at(0))
        #expect(starts(solo.onMembers([:], now: at(0)), "solo.service"))
        let pairRunner = UnitPlacement.chosenNode(for: "pair.service", among: ["a", "b"])!
        var pair = board(pairRunner, members: everyone(.alive))
        #expect(starts(pair.onTimer(now: at(0) + delay), "pair.service"))
        running(&pair, "pair.service", now: at(0) + delay)
        // The other node of the pair dies (or is cut off): 1 of 2 is no majority, the unit stops.
        let partner = pairRunner == "a" ? "b" : "a"
        #expect(pair.onMembers(everyone(.alive, but: [partner: .dead]), now: at(20)).contains(.stop("pair.service")))
        let reason = pair.report(now: at(20)).units.first { $0.name == "pair.service" }?.reason ?? ""
        #expect(reason.contains("no majority of role pair: 1 of its 2 nodes alive"), "\(reason)")
    }

    // MARK: a split, 2 | 3, in the planner

    @Test func theMinorityStopsOnSuspicionTheMajorityStartsOnlyAfterDeathAndTheDelay() {
        // The holder ends up in the two-board minority with one other node.
        let holder = UnitPlacement.chosenNode(for: "db.service", among: five)!
        let partner = five.first { $0 != holder }!
        let far = five.filter { $0 != holder && $0 != partner }
        let successor = UnitPlacement.chosenNode(for: "db.service", among: far)!

        var minority = board(holder, members: everyone(.alive))
        #expect(!starts(minority.onTimer(now: at(1)), "db.service"))  // not before the delay, even at start
        #expect(starts(minority.onTimer(now: at(0) + delay), "db.service"))
        running(&minority, "db.service", now: at(13))
        var majority = board(successor, members: everyone(.alive))
        _ = majority.onTimer(now: at(13))
        #expect(majority.report(now: at(13)).units.first { $0.name == "db.service" }?.desired == "stopped")

        // Split at t = 20. The minority suspects the far boards one by one: it keeps the unit while it still
        // sees 3 of 5 alive, and stops it the moment it does not.
        var view = everyone(.alive)
        view[far[0]] = .suspect
        #expect(minority.onMembers(view, now: at(21)).isEmpty)
        view[far[1]] = .suspect
        #expect(minority.onMembers(view, now: at(22)).isEmpty)
        view[far[2]] = .suspect
        #expect(minority.onMembers(view, now: at(23)) == [.stop("db.service")])

        // The majority suspects the holder: the unit does not move.
        var far3 = everyone(.alive, but: [holder: .suspect, partner: .suspect])
        #expect(!starts(majority.onMembers(far3, now: at(21)), "db.service"))
        #expect(majority.report(now: at(21)).units.first { $0.name == "db.service" }?.desired == "stopped")
        // Dead: the successor is now the runner, and starts only after the delay (the timer says when).
        far3[holder] = .dead
        far3[partner] = .dead
        let actions = majority.onMembers(far3, now: at(22))
        #expect(!starts(actions, "db.service"))
        #expect(actions.contains(.wakeUp(at: at(22) + delay)))
        let report = majority.report(now: at(22)).units.first { $0.name == "db.service" }
        #expect(report?.desired == "running" && report?.reason?.contains("takes over in") == true, "\(String(describing: report))")
        #expect(!starts(majority.onTimer(now: at(22) + delay - .milliseconds(1)), "db.service"))
        #expect(starts(majority.onTimer(now: at(22) + delay), "db.service"))

        // In the minority, the partner never starts it (no majority), even once it sees the far side dead.
        var other = board(partner, members: everyone(.alive))
        let cutOff = everyone(.dead, but: [holder: .alive, partner: .alive])
        #expect(!starts(other.onMembers(cutOff, now: at(30)) + other.onTimer(now: at(60)), "db.service"))
        #expect(!starts(minority.onMembers(cutOff, now: at(30)) + minority.onTimer(now: at(60)), "db.service"))
    }

    @Test func afterTheHealTheInterimRunnerStopsAtOnceAndTheWinnerWaits() {
        let holder = UnitPlacement.chosenNode(for: "db.service", among: five)!
        let partner = five.first { $0 != holder }!
        let far = five.filter { $0 != holder && $0 != partner }
        let successor = UnitPlacement.chosenNode(for: "db.service", among: far)!
        // During the split: the successor runs it, the old holder does not.
        let majorityView = everyone(.alive, but: [holder: .dead, partner: .dead])
        var interim = board(successor, members: majorityView)
        #expect(starts(interim.onTimer(now: at(0) + delay), "db.service"))
        running(&interim, "db.service", now: at(13))
        var returning = board(holder, members: everyone(.dead, but: [holder: .alive, partner: .alive]))

        // Heal: each side sees the other alive again, in either order.
        #expect(interim.onMembers(everyone(.alive), now: at(30)) == [.stop("db.service")])
        let actions = returning.onMembers(everyone(.alive), now: at(30))
        #expect(!starts(actions, "db.service") && actions.contains(.wakeUp(at: at(30) + delay)))
        #expect(starts(returning.onTimer(now: at(30) + delay), "db.service"))
    }

    @Test func losingTheRunnerRoleDuringTheDelayStartsTheWaitAgain() {
        let holder = UnitPlacement.chosenNode(for: "db.service", among: five)!
        var core = board(holder, members: everyone(.alive))
        // The view dips below a majority for a moment, then comes back: the wait starts over.
        _ = core.onMembers(everyone(.suspect, but: [holder: .alive]), now: at(5))
        _ = core.onMembers(everyone(.alive), now: at(6))
        #expect(!starts(core.onTimer(now: at(0) + delay), "db.service"))
        #expect(starts(core.onTimer(now: at(6) + delay), "db.service"))
    }

    @Test func aUnitAlreadyRunningOnTheRunnerIsKept() {
        // An agent restarted on the runner finds the unit up: no stop, no wait.
        let holder = UnitPlacement.chosenNode(for: "db.service", among: five)!
        var core = ReconcileCore(node: holder, seed: 1)
        _ = core.onDocument(document(), now: at(0))
        _ = core.onUnit(ObservedUnit(name: "db.service", activeState: "active", unitFileState: "enabled", result: "success"), now: at(0))
        let actions = core.onMembers(everyone(.alive), now: at(1))
        #expect(!actions.contains(.stop("db.service")) && !starts(actions, "db.service"))
        #expect(core.report(now: at(1)).units.first { $0.name == "db.service" }?.state == .converged)
    }

    @Test func withoutGossipsViewAOneUnitWaits() {
        var core = ReconcileCore(node: "a", seed: 1)
        _ = core.onDocument(document(), now: at(0))
        let actions = core.onUnit(ObservedUnit(name: "db.service", activeState: "inactive", unitFileState: "enabled", result: "success"), now: at(0))
            + core.onTimer(now: at(100))
        #expect(!starts(actions, "db.service"))
    }
}
