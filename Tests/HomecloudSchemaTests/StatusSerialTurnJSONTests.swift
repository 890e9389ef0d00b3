// `waitingForTurn` of a unit in hcctl status --json (and units --json): absent unless a unit's serial restart
// waits (the goldens stay as they were), pinned here when it does, and read back to the same value.
import Testing
import HomecloudSchema

@Suite struct StatusSerialTurnJSONTests {
    typealias F = ControlProtocolFixtures

    @Test func aStatusWithoutSerialWaitsHasNoKey() {
        #expect(!F.status.json.pretty.contains("waitingForTurn"))
    }

    @Test func aSerialWaitPrintsAndReadsBack() throws {
        var status = F.emptyStatus
        status.units = [UnitStatus(name: "k3s.service", desired: "running", active: "active", state: "converging",
                                   reason: "serial restart waits for its turn: after hc1-n2 (role k3s-server, one board at a time)",
                                   waitingForTurn: ["hc1-n2"])]
        #expect(status.json.pretty.contains(Self.units))
        #expect(try StatusReport(json: status.json) == status)
    }

    static let units = #"""
  "units" : [
    {
      "active" : "active",
      "desired" : "running",
      "name" : "k3s.service",
      "reason" : "serial restart waits for its turn: after hc1-n2 (role k3s-server, one board at a time)",
      "state" : "converging",
      "waitingForTurn" : [
        "hc1-n2"
      ]
    }
  ],
"""#
}
