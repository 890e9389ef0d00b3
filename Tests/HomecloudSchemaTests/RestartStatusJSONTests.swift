// A restart under way in hcctl status (issue 16 item 2): the `restart` key is added beside the others, absent
// when no restart runs (the goldens stand), reads back, and says which board now and how many are done.
import Testing
@testable import HomecloudSchema

@Suite struct RestartStatusJSONTests {
    typealias F = ControlProtocolFixtures

    @Test func noRestartNoKey() {
        #expect(F.emptyStatus.restart == nil)
        #expect(!F.emptyStatus.json.pretty.contains("\"restart\""))
    }

    @Test func aRollCoordinatedHerePrintsAndReadsBack() throws {
        var status = F.emptyStatus
        status.restart = .coordinating(id: "n1-abc", target: "server", units: ["k3s.service"], rolling: true, boards: ["n2"], done: 1, total: 3)
        let text = status.json.pretty
        #expect(text.contains(Self.coordinating))
        #expect(try StatusReport(json: JSONValue.parse(Array(text.utf8))) == status)
        #expect(status.restart?.line == "rolling restart of server (k3s.service) coordinated here: now on n2, 1 of 3 done (restart n1-abc)")
        status.restart = .coordinating(id: "n1-abc", target: "k3s.service", units: ["k3s.service"], rolling: false, boards: [], done: 3, total: 3)
        #expect(status.restart?.line == "restart of k3s.service coordinated here: no board asked now, 3 of 3 done (restart n1-abc)")
    }

    @Test func theBoardBeingRestartedSaysWhoAskedAndItsStep() throws {
        var status = F.emptyStatus
        status.restart = .restarting(id: "n1-abc", by: "n1", units: ["k3s.service"], handingOver: true)
        #expect(try StatusReport(json: JSONValue.parse(Array(status.json.pretty.utf8))) == status)
        #expect(status.restart?.line == "k3s.service asked by n1: handing VIPs over (restart n1-abc)")
        #expect(!status.json.pretty.contains("\"total\""), "a coordinator's keys only on the coordinator")
    }

    @Test func everyMemberReadsBack() throws {
        var full = RestartStatus.coordinating(id: "i", target: "t", units: ["u"], rolling: false, boards: ["b"], done: 0, total: 1)
        full.by = "n1"
        full.step = "restarting units"
        guard case .object(let members) = full.json else { Issue.record("not an object"); return }
        #expect(members.count == 10)
        #expect(try RestartStatus(json: full.json) == full)
    }

    static let coordinating = #"""
  "restart" : {
    "boards" : [
      "n2"
    ],
    "done" : 1,
    "id" : "n1-abc",
    "role" : "coordinating",
    "rolling" : true,
    "target" : "server",
    "total" : 3,
    "units" : [
      "k3s.service"
    ]
  },
"""#
}
