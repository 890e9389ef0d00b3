// A drained board (hcctl drain) runs no `placement: one` unit while another live board of the role can: every
// board reads the same drained set from gossip, so they agree on the runner; the majority still counts it.
import HomecloudSchema
import HomecloudYAML
import ReconcilerCore
import Testing

@Suite struct DrainPlacementTests {
    let five = ["a", "b", "c", "d", "e"]
    let lease = SingletonTiming.forCluster(of: 5).lease

    func view(_ drained: Set<String>, dead: Set<String> = [], heard: Duration = .zero) -> MemberView {
        var states: [String: MemberState] = [:]
        for name in five { states[name] = dead.contains(name) ? .dead : .alive }
        return MemberView(states: states, lastHeard: states.filter { $0.value == .alive }.mapValues { _ in heard }, drained: drained)
    }

    func runner(_ unit: String, seenBy node: String, _ view: MemberView) -> String? {
        SingletonPlacement.runner(of: unit, roleNodes: five, node: node, view: view, lease: lease, now: .seconds(1))
    }

    @Test func aDrainedRunnerLosesItsUnitAndEveryBoardAgreesOnTheNext() throws {
        let before = try #require(runner("db.service", seenBy: "a", view([])))
        let drained = view([before])
        let after = try #require(runner("db.service", seenBy: "a", drained))
        #expect(after != before)
        for node in five { #expect(runner("db.service", seenBy: node, drained) == after, "\(node) agrees") }
        // Rendezvous hashing: only the drained board's units move.
        let others = (0..<40).map { "unit-\($0).service" }.filter { runner($0, seenBy: "a", view([])) != before }
        for unit in others { #expect(runner(unit, seenBy: "a", drained) == runner(unit, seenBy: "a", view([]))) }
    }

    @Test func noUnitComesBackWhileDrainedAndUndrainBringsItBack() throws {
        let units = (0..<40).map { "unit-\($0).service" }
        for unit in units { #expect(runner(unit, seenBy: "c", view(["c"])) != "c") }
        let theirs = units.filter { runner($0, seenBy: "c", view([])) == "c" }
        #expect(!theirs.isEmpty)
        for unit in theirs { #expect(runner(unit, seenBy: "b", view([])) == "c", "undrained, c runs its units again") }
    }

    @Test func aDrainedBoardStillCountsForTheMajority() {
        // a, b drained and alive, d and e dead: c alone in service sees 3 of 5 alive, so it runs the unit.
        let split = view(["a", "b"], dead: ["d", "e"])
        #expect(SingletonPlacement.hasMajority(roleNodes: five, node: "c", view: split, lease: lease, now: .seconds(1)))
        #expect(runner("db.service", seenBy: "c", split) == "c")
        #expect(runner("db.service", seenBy: "a", split) == "c")
    }

    @Test func whenEveryLiveBoardIsDrainedTheUnitStillRunsOnOne() {
        let allDrained = view(Set(five))
        let chosen = runner("db.service", seenBy: "a", allDrained)
        #expect(chosen != nil && chosen == runner("db.service", seenBy: "a", view([])))
        // Only drained boards left alive (c dead, the others drained): one of them runs it, the same for all.
        let lastLive = view(["a", "b", "d", "e"], dead: ["c"])
        let last = runner("db.service", seenBy: "a", lastLive)
        #expect(["a", "b", "d", "e"].contains(last ?? "none"))
        for node in ["b", "d", "e"] { #expect(runner("db.service", seenBy: node, lastLive) == last) }
    }

    @Test func theReconcilerStopsTheUnitOnTheDrainedBoardAtOnce() throws {
        let text = """
            generation: 1
            cluster: c
            nodes: { a: [db], b: [db], c: [db], d: [db], e: [db] }
            roles:
              db: { units: [ { name: db.service, state: running, placement: one } ] }

            """
        let document = try DesiredStateParser.parse(text, file: "d").get()
        let owner = try #require(runner("db.service", seenBy: "a", view([])))
        var core = ReconcileCore(node: owner, seed: 1)
        _ = core.onDocument(document, now: .zero)
        _ = core.onUnit(ObservedUnit(name: "db.service", activeState: "active", unitFileState: "enabled", result: "success"), now: .zero)
        _ = core.onMembers(view([]), now: .zero)
        let actions = core.onMembers(view([owner], heard: .seconds(1)), now: .seconds(1))
        #expect(actions.contains(.stop("db.service")))
    }
}
