// The status headline: healthy or the first thing to look at, in the priority order of StatusHeadline.Finding,
// one bounded line; and the reasons given to every unknown.
import Testing
@testable import HomecloudSchema

@Suite struct StatusHeadlineTests {
    /// Three boards, all well: n1 (this one) holds front, 2 units converged, a probe passing.
    static var healthy: StatusReport {
        StatusReport(
            node: "n1", cluster: "hc", version: "0.1.0", desired: DesiredSummary(generation: 7, file: "/etc/homecloud/desired.yaml"),
            members: [MemberStatus(name: "n1", address: "10.0.0.1:7964", state: "alive", vips: ["front"]),
                      MemberStatus(name: "n2", address: "10.0.0.2:7964", state: "alive", convergence: "converged", probes: 1, failingProbes: []),
                      MemberStatus(name: "n3", address: "10.0.0.3:7964", state: "alive")],
            vips: [VIPStatus(name: "front", address: "10.0.0.250/24", state: "master", holder: "n1")],
            units: [UnitStatus(name: "smbd.service", desired: "running", active: "active", state: "converged"),
                    UnitStatus(name: "k3s.service", desired: "running", active: "active", state: "converged")],
            convergence: "converged",
            probes: [ProbeStatus(name: "web", state: "healthy", last: "pass", latencyMs: 3, passes: 5, failures: 0, since: 1)])
    }

    @Test func aHealthyClusterSaysSoWithItsCounts() {
        #expect(StatusHeadline.line(for: Self.healthy) == "healthy: 3 of 3 members alive, VIP front on n1, 2 units converged, 1 probe passes")
        #expect(StatusHeadline.issues(in: Self.healthy).isEmpty)
    }

    @Test func aVIPHeldElsewhereIsNamedByItsMember() {
        var report = Self.healthy
        // VRRP names the master by the address it heard; gossip's member list names the board.
        report.vips = [VIPStatus(name: "front", address: "10.0.0.250/24", state: "backup", holder: "10.0.0.2")]
        report.members[0].vips = []
        #expect(StatusHeadline.line(for: report).hasPrefix("healthy: 3 of 3 members alive, VIP front on n2,"))
        // A member that says it holds it wins, even before VRRP heard it.
        report.vips[0].holder = nil
        report.members[2].vips = ["front"]
        #expect(StatusHeadline.line(for: report).hasPrefix("healthy: 3 of 3 members alive, VIP front on n3,"))
    }

    @Test func aDegradedUnitIsNamedWithItsReasonAndTheCommand() {
        var report = Self.healthy
        report.units[1] = UnitStatus(name: "k3s.service", desired: "running", active: "failed", state: "degraded", reason: "failed 5 times")
        #expect(StatusHeadline.line(for: report) == "attention: unit k3s.service degraded on this board (failed 5 times) — hcctl units")
    }

    /// Each finding alone, and with every finding of lower priority present, gives the same headline: the order is
    /// parts down, refused document, no document, degraded units, VIP without holder, dead members, failing probes,
    /// doubtful members, converging.
    @Test func theMostUrgentFindingWins() {
        let all = Self.everythingWrong
        let issues = StatusHeadline.issues(in: all)
        #expect(issues.map(\.finding) == issues.map(\.finding).sorted())
        #expect(Set(issues.map(\.finding)) == Set(StatusHeadline.Finding.allCases).subtracting([.noDocument]))
        #expect(StatusHeadline.line(for: all) == "attention: reconciler: reconciler off: no system bus (and 1 more part) — hcctl status")

        var report = all
        report.problems = []
        #expect(StatusHeadline.line(for: report) == "attention: desired-state document refused (generation: not a number); generation 7 stays in force — hcctl status")
        report.desired.rejected = []
        #expect(StatusHeadline.line(for: report) == "attention: generation 9 from gossip from n3 refused (signature); generation 7 stays in force — hcctl status")
        report.desired.refused = nil
        #expect(StatusHeadline.line(for: report) == "attention: unit k3s.service and 1 more degraded on this board (failed 5 times) — hcctl units")
        report.units.removeAll { $0.state == "degraded" }
        #expect(StatusHeadline.line(for: report) == "attention: units degraded on n2 — hcctl members")
        report.members[1].convergence = "converging"
        #expect(StatusHeadline.line(for: report) == "attention: VIP back (10.0.0.251/24) has no holder (no master heard yet) — hcctl vips")
        report.vips.removeAll { $0.name == "back" }
        #expect(StatusHeadline.line(for: report) == "attention: member n4 dead — hcctl members")
        report.members.removeAll { $0.state == "dead" }
        #expect(StatusHeadline.line(for: report) == "attention: probe web failing on this board (connect: refused) — hcctl probes")
        report.probes = []
        #expect(StatusHeadline.line(for: report) == "attention: probe dns failing on n2 — hcctl members")
        report.members[1].failingProbes = []
        #expect(StatusHeadline.line(for: report) == "attention: metadata of member n2 refused (a forged signature) — hcctl members")
        report.members[1].identity = "verified"
        #expect(StatusHeadline.line(for: report) == "attention: member n3 suspected down — hcctl members")
        report.members[2].state = "alive"
        #expect(StatusHeadline.line(for: report) == "converging: unit smbd.service on the way to running (starting) — hcctl units")
        report.units = []
        #expect(StatusHeadline.line(for: report) == "converging: units converging on n2 — hcctl members")
    }

    static var everythingWrong: StatusReport {
        var report = Self.healthy
        report.problems = [PartProblem(part: "reconciler", reason: "reconciler off: no system bus"), PartProblem(part: "state_dir", reason: "read-only")]
        report.desired.rejected = [Diagnostic(file: "d.yaml", mark: nil, path: "generation", message: "not a number")]
        report.desired.refused = [DocumentRefusal(reason: "signature", generation: 9, source: "gossip from n3", messages: []),
                                  DocumentRefusal(reason: "invalid", generation: 6, source: "apply", messages: [])]
        report.units = [UnitStatus(name: "k3s.service", desired: "running", active: "failed", state: "degraded", reason: "failed 5 times"),
                        UnitStatus(name: "nfs.service", desired: "running", active: "failed", state: "degraded"),
                        UnitStatus(name: "smbd.service", desired: "running", active: "activating", state: "converging", reason: "starting")]
        report.convergence = "degraded"
        report.members[1].convergence = "degraded"
        report.members[1].failingProbes = ["dns"]
        report.members[1].identity = "refused (a forged signature)"
        report.members[2].state = "suspect"
        report.members.append(MemberStatus(name: "n4", address: "10.0.0.4:7964", state: "dead"))
        report.vips.append(VIPStatus(name: "back", address: "10.0.0.251/24", state: "backup", holder: nil, reason: "no master heard yet"))
        report.probes = [ProbeStatus(name: "web", state: "failing", last: "connect: refused", latencyMs: nil, passes: 0, failures: 3, since: 1)]
        return report
    }

    @Test func noDocumentIsWaitingNotAlarm() {
        let report = StatusReport(node: "n1", cluster: nil, version: "0.1.0", desired: DesiredSummary(generation: nil, file: "/etc/homecloud/desired.yaml"),
                                  members: [MemberStatus(name: "n1", address: "10.0.0.1:7964", state: "alive")])
        #expect(StatusHeadline.line(for: report) == "waiting: no desired-state document yet (/etc/homecloud/desired.yaml) — hcctl apply FILE")
    }

    @Test func anOldRefusalIsNotNews() {
        var report = Self.healthy
        report.desired.refused = [DocumentRefusal(reason: "policy", generation: 6, source: "apply", messages: [])]
        #expect(StatusHeadline.line(for: report).hasPrefix("healthy: "))
    }

    @Test func aLongOrMultilineReasonStaysOneBoundedLineAndKeepsItsCommand() {
        var report = Self.healthy
        report.problems = [PartProblem(part: "vrrp", reason: "no CAP_NET_ADMIN:\n" + String(repeating: "very long reason ", count: 40))]
        let line = StatusHeadline.line(for: report)
        #expect(line.count == StatusHeadline.maxLength)
        #expect(!line.contains("\n"))
        #expect(line.hasSuffix("… — hcctl status"))
        #expect(line.hasPrefix("attention: vrrp: no CAP_NET_ADMIN: very long"))
    }

    @Test func everyUnknownGetsAReason() {
        var report = Self.healthy
        report.units = [UnitStatus(name: "smbd.service", desired: "running", active: "unknown"),
                        UnitStatus(name: "k3s.service", desired: "running", active: "failed", state: "degraded", reason: "failed 5 times")]
        report.vips = [VIPStatus(name: "front", address: "10.0.0.250/24", state: "init", holder: nil),
                       VIPStatus(name: "back", address: "10.0.0.251/24", state: "backup", holder: nil)]
        var explained = report
        explained.explainUnknowns()
        #expect(explained.units.map(\.reason) == ["not read from systemd yet", "failed 5 times"])
        #expect(explained.vips.map(\.reason) == ["VRRP has not started it yet", "no master heard yet"])

        // With the reconciler or VRRP off, the reason says so.
        report.problems = [PartProblem(part: "reconciler", reason: "reconciler off: no bus"), PartProblem(part: "vrrp", reason: "VRRP off: no CAP_NET_ADMIN")]
        report.explainUnknowns()
        #expect(report.units[0].reason == "reconciler off (see DEGRADED): systemd is not asked")
        #expect(report.vips.map(\.reason) == ["VRRP off: no CAP_NET_ADMIN", "VRRP off: no CAP_NET_ADMIN"])
    }

    @Test func theHeadlineTravelsInStatusJSON() throws {
        var report = Self.healthy
        report.headline = StatusHeadline.line(for: report)
        let read = try StatusReport(json: JSONValue.parse(Array(report.json.serialized.utf8)))
        #expect(read.headline == report.headline)
    }
}
