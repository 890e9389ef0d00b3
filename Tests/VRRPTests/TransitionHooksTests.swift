// The transition hooks' rule alone: which transitions run which hook, once each, in order per VIP, under policy.
import HomecloudSchema
import Testing
@testable import VRRP

private func vip(_ name: String, notify: VIPNotify?) -> VirtualIP {
    var vip = VirtualIP(name: name, address: IPPrefix("10.0.0.250/24")!, interface: "eth0", vrid: 51)
    vip.notify = notify
    return vip
}

private let hooks = VIPNotify(master: ["/usr/local/bin/hook", "-m"], backup: ["/usr/local/bin/hook"], fault: ["/usr/local/bin/hook"],
                              timeout: .seconds(3))

private func moved(_ vip: String, _ from: String, _ to: String) -> VIPTransition {
    VIPTransition(vip: vip, from: from, to: to, reason: "test")
}

private func started(_ actions: [TransitionHooks.Action]) -> [TransitionHooks.Run] {
    actions.compactMap { if case .start(let run) = $0 { run } else { nil } }
}

@Suite struct TransitionHooksTests {
    @Test func startingAsBackupRunsTheBackupHookOnceWithNameStateAndEnvironment() {
        var rule = TransitionHooks(node: "n1", policy: nil, policyFile: "agent.yaml")
        _ = rule.onDocument([vip("web", notify: hooks)])
        let runs = started(rule.onTransition(moved("web", "init", "backup")))
        #expect(runs.count == 1)
        #expect(runs.first?.argv == ["/usr/local/bin/hook", "web", "backup"])
        #expect(runs.first?.environment == ["HC_VIP=web", "HC_STATE=backup", "HC_PREVIOUS=init", "HC_REASON=test", "HC_NODE=n1"])
        #expect(runs.first?.timeout == .seconds(3))
    }

    @Test func aTransitionIntoTheSameStateAgainRunsNothing() {
        var rule = TransitionHooks(node: "n1", policy: nil, policyFile: "agent.yaml")
        _ = rule.onDocument([vip("web", notify: hooks)])
        let first = started(rule.onTransition(moved("web", "backup", "master")))
        #expect(first.map(\.argv) == [["/usr/local/bin/hook", "-m", "web", "master"]])
        #expect(rule.onTransition(moved("web", "backup", "master")).isEmpty, "the same transition reported twice runs once")
        #expect(rule.onTransition(moved("web", "master", "master")).isEmpty, "no change is no transition")
    }

    @Test func initAndStoppedRunNothingAndAVIPWithoutHooksRunsNothing() {
        var rule = TransitionHooks(node: "n1", policy: nil, policyFile: "agent.yaml")
        _ = rule.onDocument([vip("web", notify: hooks), vip("db", notify: nil)])
        #expect(rule.onTransition(moved("web", "stopped", "init")).isEmpty)
        #expect(rule.onTransition(moved("db", "init", "master")).isEmpty)
        let runs = started(rule.onTransition(moved("web", "init", "master")))
        #expect(runs.count == 1)
        _ = rule.onFinished(id: runs[0].id, vip: "web")
        #expect(rule.onTransition(moved("web", "master", "stopped")).isEmpty)
        // Stopped and started again (a changed document): a new transition into master.
        #expect(started(rule.onTransition(moved("web", "stopped", "master"))).count == 1)
    }

    @Test func aCommandThePolicyDoesNotAllowIsRefusedAndNeverStarted() {
        let policy = LocalPolicy(exec: [LocalPolicy.ExecRule(words: ["/usr/local/bin/hook", "-m"], moreArguments: true)])
        var rule = TransitionHooks(node: "n1", policy: policy, policyFile: "/etc/homecloud/agent.yaml")
        _ = rule.onDocument([vip("web", notify: hooks)])
        let actions = rule.onTransition(moved("web", "init", "backup"))
        #expect(actions == [.refuse(vip: "web", state: "backup", argv: ["/usr/local/bin/hook", "web", "backup"],
                                    why: "\"/usr/local/bin/hook web backup\" is not allowed by policy.exec in /etc/homecloud/agent.yaml")])
        #expect(rule.runningCount == 0)
        #expect(started(rule.onTransition(moved("web", "backup", "master"))).count == 1, "the allowed one runs")
    }

    @Test func hooksOfOneVIPRunOneAtATimeInOrderAndTheWaitingAreBounded() {
        var rule = TransitionHooks(node: "n1", policy: nil, policyFile: "agent.yaml")
        _ = rule.onDocument([vip("web", notify: hooks), vip("db", notify: hooks)])
        let first = started(rule.onTransition(moved("web", "init", "backup")))
        #expect(first.count == 1)
        #expect(rule.onTransition(moved("web", "backup", "master")).isEmpty, "waits for the backup hook")
        #expect(started(rule.onTransition(moved("db", "init", "backup"))).count == 1, "another VIP does not wait")
        #expect(rule.onFinished(id: 999, vip: "web").isEmpty, "an unknown run changes nothing")
        let next = started(rule.onFinished(id: first[0].id, vip: "web"))
        #expect(next.map(\.state) == ["master"])
        #expect(rule.onFinished(id: first[0].id, vip: "web").isEmpty, "a run ends once")
        // A flapping VIP: at most maxWaiting wait, the oldest dropped.
        var dropped = 0
        var state = "master"
        for _ in 0 ..< (TransitionHooks.maxWaiting + 2) {
            let to = state == "master" ? "backup" : "master"
            for action in rule.onTransition(moved("web", state, to)) { if case .drop = action { dropped += 1 } }
            state = to
        }
        #expect(dropped == 2)
    }

    @Test func aVIPGoneFromTheDocumentIsForgotten() {
        var rule = TransitionHooks(node: "n1", policy: nil, policyFile: "agent.yaml")
        _ = rule.onDocument([vip("web", notify: hooks)])
        let run = started(rule.onTransition(moved("web", "init", "backup")))
        _ = rule.onTransition(moved("web", "backup", "master"))
        let actions = rule.onDocument([])
        #expect(actions.count == 1, "the waiting master run is dropped")
        _ = rule.onFinished(id: run[0].id, vip: "web")
        _ = rule.onDocument([vip("web", notify: hooks)])
        #expect(started(rule.onTransition(moved("web", "init", "backup"))).count == 1, "back in the document: starting as backup again")
    }
}
