// hcctl events' one decision: which changes between successive channel values are events, and how they read.
import HomecloudSchema
import Testing

private func member(_ name: String, _ state: String) -> MemberStatus { MemberStatus(name: name, address: "10.0.0.1", state: state) }

@Suite struct ClusterEventDiffTests {
    @Test func membersAlreadyThereAreNoNewsAndEachChangeIsOneEvent() {
        var diff = ClusterEventDiff(node: "n1")
        #expect(diff.onMembers([member("n1", "alive"), member("n2", "alive")], time: 1).isEmpty)
        let joined = diff.onMembers([member("n1", "alive"), member("n2", "alive"), member("n3", "alive")], time: 2)
        #expect(joined.map(\.kind) == [.memberJoined])
        #expect(joined.first == ClusterEvent(seq: 1, time: 2, node: "n1", kind: .memberJoined, subject: "n3", state: "alive"))
        #expect(diff.onMembers([member("n1", "alive"), member("n2", "alive"), member("n3", "alive")], time: 3).isEmpty, "no change")
        #expect(diff.onMembers([member("n1", "alive"), member("n2", "suspect"), member("n3", "alive")], time: 4).map(\.kind) == [.memberSuspect])
        let dead = diff.onMembers([member("n1", "alive"), member("n2", "dead"), member("n3", "left")], time: 5)
        #expect(dead.map(\.kind) == [.memberDead, .memberLeft])
        #expect(dead[0].summary == "member-dead n2 suspect -> dead")
        #expect(dead.map(\.seq) == [3, 4])
        #expect(diff.onMembers([member("n1", "alive"), member("n2", "alive"), member("n3", "alive")], time: 6).map(\.kind) == [.memberAlive, .memberJoined])
    }

    @Test func aVIPsStateChangeIsATransitionAndAHolderChangeAloneIsAHolderEvent() {
        var diff = ClusterEventDiff(node: "n2")
        let start = diff.onVIPs([VIPStatus(name: "web", address: "10.0.0.250/24", state: "backup", holder: "10.0.0.1", reason: "started")], time: 1)
        #expect(start.map(\.kind) == [.vipTransition])
        #expect(start[0].summary == "vip-transition web backup holder 10.0.0.1: started")
        let holder = diff.onVIPs([VIPStatus(name: "web", address: "10.0.0.250/24", state: "backup", holder: "10.0.0.3", reason: "started")], time: 2)
        #expect(holder.map(\.kind) == [.vipHolder])
        let master = diff.onVIPs([VIPStatus(name: "web", address: "10.0.0.250/24", state: "master", holder: "n2", reason: "master down")], time: 3)
        #expect(master == [ClusterEvent(seq: 3, time: 3, node: "n2", kind: .vipTransition, subject: "web", state: "master", previous: "backup",
                                        holder: "n2", reason: "master down")])
        #expect(diff.onVIPs([VIPStatus(name: "web", address: "10.0.0.250/24", state: "master", holder: "n2", priority: 90)], time: 4).isEmpty,
                "a priority change is not an event")
    }

    @Test func unitsAndProbesReportEnteringAndLeavingTrouble() {
        var diff = ClusterEventDiff(node: "n1")
        let units = [UnitStatus(name: "smbd.service", desired: "running", active: "failed", state: "degraded", reason: "start failed")]
        #expect(diff.onUnits(units, time: 1).map(\.kind) == [.unitDegraded])
        #expect(diff.onUnits(units, time: 2).isEmpty)
        #expect(diff.onUnits([UnitStatus(name: "smbd.service", desired: "running", active: "active", state: "converged")], time: 3).map(\.summary)
                == ["unit-recovered smbd.service degraded -> converged"])
        #expect(diff.onProbes(ProbeSummary(count: 2, failing: ["http"]), time: 4).map(\.kind) == [.probeFailing])
        #expect(diff.onProbes(ProbeSummary(count: 2, failing: ["http"]), time: 5).isEmpty)
        #expect(diff.onProbes(ProbeSummary(count: 2, failing: []), time: 6).map(\.kind) == [.probeHealthy])
    }

    @Test func documentsAreEventsAndEventsReadBackFromJSON() throws {
        var diff = ClusterEventDiff(node: "n1")
        let accepted = diff.onDocumentAccepted(generation: 7, time: 1000)
        #expect(accepted.summary == "document-accepted desired generation 7")
        let refused = diff.onDocumentRefused(DocumentRefusal(reason: "policy", generation: 8, source: "desired.yaml",
                                                             messages: [Diagnostic(file: "desired.yaml", mark: nil, path: "units", message: "no")]), time: 2000)
        #expect(refused.kind == .documentRefused && refused.state == "policy" && refused.generation == 8)
        let json = refused.json.serialized
        #expect(try ClusterEvent(json: JSONValue.parse(Array(json.utf8))) == refused)
        #expect(!json.contains("\n"), "one event, one line")
    }
}
