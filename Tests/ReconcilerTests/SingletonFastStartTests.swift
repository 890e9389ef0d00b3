// The fast start of a `placement: one` unit (SingletonFastStart.swift): only the home node, only with fresh proof
// from every other node of the role that it neither runs the unit nor waits to; and the claims a planner makes.
import HomecloudSchema
import HomecloudYAML
import ReconcilerCore
import Testing

@Suite struct SingletonFastStartTests {
    let three = ["a", "b", "c"]
    let timing = SingletonTiming.forCluster(of: 3)  // lease 6 s, takeover 8 s, freshness 3 s
    let unit = "db.service"
    let now = Duration.seconds(100)

    func document(generation: UInt64 = 1) -> DesiredState {
        let text = """
            generation: \(generation)
            cluster: c
            nodes: { a: [db], b: [db], c: [db] }
            roles:
              db: { units: [ { name: db.service, state: running, placement: one } ] }

            """
        return try! DesiredStateParser.parse(text, file: "d").get()
    }

    var home: String { UnitPlacement.chosenNode(for: unit, among: three)! }
    var others: [String] { three.filter { $0 != home } }

    /// Everyone alive, heard 1 s ago, proven current 1 s ago, claiming nothing under generation 1.
    func quietView() -> MemberView {
        var view = MemberView(states: ["a": .alive, "b": .alive, "c": .alive],
                              lastHeard: ["a": now - .seconds(1), "b": now - .seconds(1), "c": now - .seconds(1)])
        for node in three {
            view.confirmed[node] = now - .seconds(1)
            view.singletonClaims[node] = SingletonClaims(generation: 1, units: [])
        }
        return view
    }

    func fast(_ node: String, _ view: MemberView, generation: UInt64 = 1) -> Bool {
        SingletonFastStart.mayStartAtOnce(unit: unit, roleNodes: three, node: node, generation: generation, view: view, timing: timing, now: now)
    }

    @Test func onlyTheHomeNodeStartsFastAndOnlyWithFreshQuietClaimsFromEveryOther() {
        #expect(SingletonFastStart.freshness(timing) == .seconds(3))
        #expect(SingletonFastStart.freshness(.forCluster(of: 5)) == .seconds(5))
        #expect(fast(home, quietView()))
        for node in others { #expect(!fast(node, quietView()), "\(node) is not the home node") }

        let other = others[0]
        var view = quietView()
        view.singletonClaims[other] = SingletonClaims(generation: 1, units: [unit])
        #expect(!fast(home, view), "another board claims it")
        view = quietView()
        view.singletonClaims[other] = SingletonClaims(generation: 1, units: ["other.service"])
        #expect(fast(home, view), "a claim on another unit does not matter")
        view = quietView()
        view.singletonClaims[other] = nil
        #expect(!fast(home, view), "a board that says nothing may run it")
        view = quietView()
        view.singletonClaims[other] = SingletonClaims(generation: 2, units: [])
        #expect(!fast(home, view), "a board on another document")
        #expect(!fast(home, quietView(), generation: 2))
        view = quietView()
        view.confirmed[other] = now - .seconds(3) - .milliseconds(1)
        #expect(!fast(home, view), "a proof older than the freshness")
        view.confirmed[other] = now - .seconds(3)
        #expect(fast(home, view))
        view.confirmed[other] = nil
        #expect(!fast(home, view), "no proof at all")
        view = quietView()
        view.confirmed[other] = now + .seconds(1)
        #expect(!fast(home, view), "a proof from the future is none")
        view = quietView()
        view.states[other] = .suspect
        #expect(!fast(home, view), "a suspect")
        view = quietView()
        view.lastHeard[other] = now - timing.lease
        #expect(!fast(home, view), "not heard from within the lease")
        view = quietView()
        view.states[other] = nil
        #expect(!fast(home, view), "a node gossip does not know")
        view = quietView()
        view.drained = [other]
        #expect(!fast(home, view), "a drained node: the runner may differ between views")
        view.drained = [home]
        #expect(!fast(home, view), "the home node drained")
        // The home node's own entries are not needed.
        view = quietView()
        view.confirmed[home] = nil
        view.singletonClaims[home] = nil
        #expect(fast(home, view))
        // A role of one node never waits anyway: no fast path is needed.
        #expect(!SingletonFastStart.mayStartAtOnce(unit: unit, roleNodes: [home], node: home, generation: 1, view: quietView(),
                                                    timing: timing, now: now))
    }

    func board(_ node: String, active: Bool = false) -> ReconcileCore {
        var core = ReconcileCore(node: node, singletonTiming: timing, seed: 1)
        _ = core.onDocument(document(), now: now - .seconds(1))
        _ = core.onUnit(ObservedUnit(name: unit, activeState: active ? "active" : "inactive", unitFileState: "enabled", result: "success"),
                        now: now - .seconds(1))
        return core
    }

    func starts(_ actions: [ReconcileCore.Action]) -> Bool { actions.contains(.start(unit)) }

    /// Answers fence arms at once, as the board's systemd would; returns every action.
    func settle(_ core: inout ReconcileCore, _ actions: [ReconcileCore.Action], now: Duration) -> [ReconcileCore.Action] {
        var all = actions
        var pending = actions
        while !pending.isEmpty {
            if case .armFence(let name, _) = pending.removeFirst() {
                let more = core.onFenceArmed(unit: name, now: now)
                all += more
                pending += more
            }
        }
        return all
    }

    @Test func theHomeNodeStartsAtOnceWithTheProofAndWaitsTheDelayWithout() {
        var core = board(home)
        #expect(starts(settle(&core, core.onMembers(quietView(), now: now), now: now)), "started at once")
        #expect(core.singletonClaims == SingletonClaims(generation: 1, units: [unit]), "the runner claims it")

        var slow = board(home)
        var view = quietView()
        view.singletonClaims[others[0]] = SingletonClaims(generation: 1, units: [unit])
        let actions = settle(&slow, slow.onMembers(view, now: now), now: now)
        #expect(!starts(actions))
        #expect(actions.contains { if case .wakeUp(let at) = $0 { at <= now + timing.takeoverDelay } else { false } })
        #expect(slow.report(now: now).units.first?.reason?.hasPrefix("takes over in") == true)
        // The other board's claim goes (it stopped its copy): the home node starts before its delay is over.
        #expect(starts(settle(&slow, slow.onMembers(quietView(), now: now + .seconds(1)), now: now + .seconds(1))))
    }

    @Test func aBoardClaimsWhatItRunsWaitsForOrHasAJobForAndSaysNothingBeforeItHasReadItsUnits() {
        var unread = ReconcileCore(node: others[0], singletonTiming: timing, seed: 1)
        #expect(unread.singletonClaims == nil, "no document")
        _ = unread.onDocument(document(), now: now)
        #expect(unread.singletonClaims == nil, "the unit not read yet")

        // Not the runner, the unit down: quiet.
        var quiet = board(others[0])
        _ = quiet.onMembers(quietView(), now: now)
        #expect(quiet.singletonClaims == SingletonClaims(generation: 1, units: []))
        // Not the runner, the unit up (before its stop is done): claimed.
        var running = board(others[0], active: true)
        let stop = running.onMembers(quietView(), now: now)
        #expect(stop.contains(.stop(unit)))
        #expect(running.singletonClaims?.units == [unit])
        _ = running.onJobDone(unit: unit, result: .done, now: now + .seconds(1))
        #expect(running.singletonClaims?.units == [unit], "until the stopped state is read")
        _ = running.onUnit(ObservedUnit(name: unit, activeState: "inactive", unitFileState: "enabled", result: "success"), now: now + .seconds(1))
        #expect(running.singletonClaims?.units == [], "read down: quiet")
        // The runner in its own view (the home node dead there), waiting out the delay: claimed before any start.
        var waiting = board(others[0])
        var view = quietView()
        view.states[home] = .dead
        let actions = waiting.onMembers(view, now: now)
        #expect(!starts(actions))
        if UnitPlacement.chosenNode(for: unit, among: others) == others[0] {
            #expect(waiting.singletonClaims?.units == [unit])
        } else {
            #expect(waiting.singletonClaims?.units == [])
        }
        // Before gossip's view, a unit found running is claimed (it is neither started nor stopped).
        var fresh = ReconcileCore(node: others[1], singletonTiming: timing, seed: 1)
        _ = fresh.onDocument(document(generation: 7), now: now)
        _ = fresh.onUnit(ObservedUnit(name: unit, activeState: "activating", unitFileState: "enabled", result: "success"), now: now)
        #expect(fresh.singletonClaims == SingletonClaims(generation: 7, units: [unit]))
    }
}
