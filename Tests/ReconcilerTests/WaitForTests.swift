// wait_for (bring-up order) in the planner: a unit starts only once its probes pass on a live board of the
// role, its secrets are here and its files exist; a running unit is never stopped for them.
import HomecloudSchema
import HomecloudYAML
import ReconcilerCore
import Testing

@Suite struct WaitForTests {
    func at(_ seconds: Double) -> Duration { .milliseconds(Int64(seconds * 1000)) }

    /// n1 and n2 are `first` (the probe `api` is meant to pass there), n3 is `joiner`.
    func document(_ waitFor: String) -> DesiredState {
        let text = """
            generation: 1
            cluster: c
            nodes: { n1: [first], n2: [first], n3: [joiner] }
            probes:
              api: { tcp: "127.0.0.1:6443" }
            roles:
              first: { units: [ { name: server.service } ] }
              joiner: { units: [ { name: agent.service, wait_for: \(waitFor) } ] }
            secrets:
              k3s-token: { from: n1, file: /var/lib/rancher/k3s/server/node-token }

            """
        return try! DesiredStateParser.parse(text, file: "d").get()
    }

    func view(_ states: [String: MemberState], passing: Set<String> = [], probes: [String: ProbeSummary] = [:]) -> MemberView {
        var summaries = probes
        for board in states.keys where summaries[board] == nil {
            summaries[board] = ProbeSummary(count: 1, failing: passing.contains(board) ? [] : ["api"])
        }
        return MemberView(states: states, probes: summaries)
    }

    func starts(_ actions: [ReconcileCore.Action]) -> Bool { actions.contains(.start("agent.service")) }

    /// A joiner that has read its document and its unit, stopped.
    func joiner(_ waitFor: String = "[{ probe: api, role: first }]") -> (ReconcileCore, [ReconcileCore.Action]) {
        var core = ReconcileCore(node: "n3", seed: 1)
        var actions = core.onDocument(document(waitFor), now: at(0))
        actions += core.onUnit(ObservedUnit(name: "agent.service", activeState: "inactive"), now: at(0))
        return (core, actions)
    }

    func agentReport(_ core: ReconcileCore, _ t: Double) -> ReconcileCore.UnitReport? {
        core.report(now: at(t)).units.first { $0.name == "agent.service" }
    }

    @Test func waitsUntilTheProbePassesOnABoardOfTheRole() {
        var (core, actions) = joiner()
        #expect(!starts(actions))  // no gossip view yet: waits
        #expect(!starts(core.onMembers(view(["n1": .alive, "n2": .alive, "n3": .alive]), now: at(1))))
        let report = agentReport(core, 1)
        #expect(report?.state == .converging)
        #expect(report?.reason == "waiting: probe api on role first")
        #expect(report?.waitingFor == ["probe api on role first"])
        #expect(core.report(now: at(1)).state == .converging)  // not degraded
        // n2's probe passes: started at once, on that news.
        #expect(starts(core.onMembers(view(["n1": .alive, "n2": .alive, "n3": .alive], passing: ["n2"]), now: at(2))))
    }

    @Test func aPassingProbeOnABoardOfAnotherRoleDoesNotCount() {
        var (core, _) = joiner()
        // n3 itself (joiner) passes the probe: it is not of role first.
        #expect(!starts(core.onMembers(view(["n1": .alive, "n2": .alive, "n3": .alive], passing: ["n3"]), now: at(1))))
        // Without a role, any board counts: this one too.
        var (any, _) = joiner("[{ probe: api }]")
        #expect(!starts(any.onMembers(view(["n1": .alive, "n3": .alive]), now: at(1))))
        #expect(agentReport(any, 1)?.reason == "waiting: probe api on any board")
        #expect(starts(any.onMembers(view(["n1": .alive, "n3": .alive], passing: ["n3"]), now: at(2))))
    }

    @Test func aDeadOrSuspectBoardDoesNotCount() {
        var (core, _) = joiner()
        // n1's last metadata says its probe passes, but gossip says it is dead (or only suspected alive).
        #expect(!starts(core.onMembers(view(["n1": .dead, "n2": .alive, "n3": .alive], passing: ["n1"]), now: at(1))))
        #expect(!starts(core.onMembers(view(["n1": .suspect, "n2": .alive, "n3": .alive], passing: ["n1"]), now: at(2))))
        // A board gossip does not know at all.
        #expect(!starts(core.onMembers(view(["n3": .alive], probes: ["n1": ProbeSummary(count: 1, failing: [])]), now: at(3))))
        #expect(starts(core.onMembers(view(["n1": .alive, "n2": .alive, "n3": .alive], passing: ["n1"]), now: at(4))))
    }

    @Test func aProbeWithoutAVerdictOrCutFromTheMetadataIsNotHealthy() {
        var (core, _) = joiner()
        let all: [String: MemberState] = ["n1": .alive, "n2": .alive, "n3": .alive]
        // In its grace (unknown), names cut to fit ("?"), or a board whose probes have not run.
        #expect(!starts(core.onMembers(view(all, probes: ["n1": ProbeSummary(count: 1, failing: [], unknown: ["api"])]), now: at(1))))
        #expect(!starts(core.onMembers(view(all, probes: ["n1": ProbeSummary(count: 1, failing: [], unknown: ["?"])]), now: at(2))))
        #expect(!starts(core.onMembers(view(all, probes: ["n1": ProbeSummary(count: 1, failing: ["?"])]), now: at(3))))
        #expect(!starts(core.onMembers(view(all, probes: ["n1": ProbeSummary(count: 0, failing: [])]), now: at(4))))
        #expect(starts(core.onMembers(view(all, probes: ["n1": ProbeSummary(count: 1, failing: [], unknown: ["other"])]), now: at(5))))
    }

    @Test func aRunningUnitIsNotStoppedWhenItsConditionFails() {
        var (core, _) = joiner()
        _ = core.onMembers(view(["n1": .alive, "n3": .alive], passing: ["n1"]), now: at(1))
        _ = core.onJobDone(unit: "agent.service", result: .done, now: at(1))
        _ = core.onUnit(ObservedUnit(name: "agent.service", activeState: "active"), now: at(1))
        // The probe fails, then n1 dies: the unit stays, converged, no longer waiting.
        let failing = core.onMembers(view(["n1": .alive, "n3": .alive]), now: at(2))
        let dead = core.onMembers(view(["n1": .dead, "n3": .alive], passing: ["n1"]), now: at(3))
        #expect(!(failing + dead).contains(.stop("agent.service")))
        #expect(agentReport(core, 3)?.state == .converged)
        #expect(agentReport(core, 3)?.waitingFor == [])
        // It crashes: restarting it is starting it, so it waits again.
        let crashed = core.onUnit(ObservedUnit(name: "agent.service", activeState: "failed", result: "exit-code"), now: at(4))
        #expect(!starts(crashed))
        #expect(agentReport(core, 4)?.reason == "waiting: probe api on role first")
    }

    @Test func aFileConditionWaitsForTheFile() {
        var (core, actions) = joiner("[{ file: /run/k3s/token }]")
        #expect(!starts(actions))
        #expect(core.awaitedFiles(now: at(0)) == ["/run/k3s/token"])
        #expect(agentReport(core, 0)?.reason == "waiting: file /run/k3s/token")
        #expect(!starts(core.onFiles(present: [], now: at(1))))
        #expect(starts(core.onFiles(present: ["/run/k3s/token"], now: at(2))))
        _ = core.onJobDone(unit: "agent.service", result: .done, now: at(2))
        _ = core.onUnit(ObservedUnit(name: "agent.service", activeState: "active"), now: at(2))
        // Up: nothing to look at any more (the shell stops its timer), and the file going does not stop it.
        #expect(core.awaitedFiles(now: at(3)).isEmpty)
        #expect(!core.onFiles(present: [], now: at(3)).contains(.stop("agent.service")))
    }

    @Test func aSecretConditionWaitsForTheSecret() {
        var (core, actions) = joiner("[{ secret: k3s-token }]")
        #expect(!starts(actions))
        #expect(agentReport(core, 0)?.reason == "waiting: secret k3s-token")
        #expect(!starts(core.onSecrets(["other"], now: at(1))))
        #expect(starts(core.onSecrets(["other", "k3s-token"], now: at(2))))
    }

    @Test func everyConditionMustHoldAndTheReportNamesThoseThatDoNot() {
        var (core, _) = joiner("[{ probe: api, role: first }, { secret: k3s-token }, { file: /etc/ready }]")
        #expect(!starts(core.onSecrets(["k3s-token"], now: at(1))))
        #expect(agentReport(core, 1)?.waitingFor == ["probe api on role first", "file /etc/ready"])
        #expect(!starts(core.onMembers(view(["n1": .alive, "n3": .alive], passing: ["n1"]), now: at(2))))
        #expect(agentReport(core, 2)?.reason == "waiting: file /etc/ready")
        #expect(starts(core.onFiles(present: ["/etc/ready"], now: at(3))))
    }

    @Test func aUnitWithoutWaitForStartsAtOnce() {
        var core = ReconcileCore(node: "n1", seed: 1)
        _ = core.onDocument(document("[]"), now: at(0))
        #expect(core.onUnit(ObservedUnit(name: "server.service", activeState: "inactive"), now: at(0)).contains(.start("server.service")))
        #expect(core.awaitedFiles(now: at(0)).isEmpty)
    }
}
