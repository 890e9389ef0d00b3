// Pins the keys of a fully populated `status` as the agent writes it and as `hcctl status --json` prints it,
// so moving the parts that fill it cannot change what scripts read.
import Foundation
import HomecloudSchema
import Testing

@Suite struct StatusJSONGoldenTests {
    /// Every optional field set, every list non-empty.
    static let status: StatusReport = {
        var member = MemberStatus(name: "n2", address: "10.0.0.2:7946", state: "alive", incarnation: 3, since: 1_700_000_000,
                                  roles: ["dnas"], version: "0.1.0", generation: 7, convergence: "converged", probes: 2,
                                  failingProbes: ["smb"], vips: ["front"])
        member.identity = "verified"
        let diagnostic = Diagnostic(file: "desired.yaml", mark: nil, path: "roles[0]", message: "bad")
        var report = StatusReport(
            node: "n1", cluster: "hc1", version: "0.1.0",
            desired: DesiredSummary(generation: 7, file: "/etc/hcagent/desired.yaml", rejected: [diagnostic], signedBy: "admin1",
                                    trustedKeys: ["admin1"], policy: "1 unit glob",
                                    refused: [DocumentRefusal(reason: "signature", generation: 8, source: "gossip from n2", messages: [diagnostic])]),
            members: [member],
            vips: [VIPStatus(name: "front", address: "10.0.0.100/24", state: "master", holder: "n1", priority: 100,
                             since: 1_700_000_001, reason: "higher priority")],
            units: [UnitStatus(name: "smbd.service", desired: "running", active: "active", state: "converged", reason: "ok")],
            convergence: "converged",
            probes: [ProbeStatus(name: "smb", state: "healthy", last: "pass", latencyMs: 3, passes: 4, failures: 0, since: 1_700_000_002)])
        report.problems = [PartProblem(part: "vrrp", reason: "VRRP off")]
        return report
    }()

    static let agentLine = #"{"v":1,"id":1,"ok":true,"status":{"node":"n1","cluster":"hc1","version":"0.1.0","desired":{"generation":7,"file":"/etc/hcagent/desired.yaml","rejected":[{"file":"desired.yaml","path":"roles[0]","message":"bad"}],"signedBy":"admin1","trustedKeys":["admin1"],"policy":"1 unit glob","refused":[{"reason":"signature","generation":8,"source":"gossip from n2","messages":[{"file":"desired.yaml","path":"roles[0]","message":"bad"}]}]},"members":[{"name":"n2","address":"10.0.0.2:7946","state":"alive","incarnation":3,"since":1700000000,"roles":["dnas"],"version":"0.1.0","generation":7,"convergence":"converged","probes":2,"failingProbes":["smb"],"vips":["front"],"identity":"verified"}],"vips":[{"name":"front","address":"10.0.0.100/24","state":"master","holder":"n1","priority":100,"since":1700000001,"reason":"higher priority"}],"units":[{"name":"smbd.service","desired":"running","active":"active","state":"converged","reason":"ok"}],"convergence":"converged","probes":[{"name":"smb","state":"healthy","last":"pass","latencyMs":3,"passes":4,"failures":0,"since":1700000002}],"problems":[{"part":"vrrp","reason":"VRRP off"}]}}"#

    static let hcctlJSON = #"{"cluster":"hc1","convergence":"converged","desired":{"file":"\/etc\/hcagent\/desired.yaml","generation":7,"policy":"1 unit glob","refused":[{"generation":8,"messages":[{"file":"desired.yaml","message":"bad","path":"roles[0]"}],"reason":"signature","source":"gossip from n2"}],"rejected":[{"file":"desired.yaml","message":"bad","path":"roles[0]"}],"signedBy":"admin1","trustedKeys":["admin1"]},"members":[{"address":"10.0.0.2:7946","convergence":"converged","failingProbes":["smb"],"generation":7,"identity":"verified","incarnation":3,"name":"n2","probes":2,"roles":["dnas"],"since":1700000000,"state":"alive","version":"0.1.0","vips":["front"]}],"node":"n1","probes":[{"failures":0,"last":"pass","latencyMs":3,"name":"smb","passes":4,"since":1700000002,"state":"healthy"}],"problems":[{"part":"vrrp","reason":"VRRP off"}],"units":[{"active":"active","desired":"running","name":"smbd.service","reason":"ok","state":"converged"}],"version":"0.1.0","vips":[{"address":"10.0.0.100\/24","holder":"n1","name":"front","priority":100,"reason":"higher priority","since":1700000001,"state":"master"}]}"#

    @Test func agentWritesEveryKey() {
        #expect(ControlReply.success(id: 1, status: Self.status).json.serialized == Self.agentLine)
    }

    @Test func hcctlPrintsEveryKey() throws {
        let reply = try JSONDecoder().decode(ControlReply.self, from: Data(Self.agentLine.utf8))
        #expect(reply.status == Self.status)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        #expect(String(decoding: try encoder.encode(reply.status), as: UTF8.self) == Self.hcctlJSON)
    }
}
