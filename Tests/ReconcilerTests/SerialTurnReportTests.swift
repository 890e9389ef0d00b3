// hcctl status and units show a unit whose restart waits for its serial turn: the boards it waits for, and
// converging (its new file is written, not yet in force) until its turn; nothing once the turn has come.
import Testing
import HomecloudSchema
@testable import ReconcilerCore

@Suite struct SerialTurnReportTests {
    static func units(_ states: [(String, ReconcileCore.Convergence, String?)]) -> (state: ReconcileCore.Convergence, units: [ReconcileCore.UnitReport]) {
        let units = states.map { ReconcileCore.UnitReport(name: $0.0, desired: "running", active: "active", state: $0.1, reason: $0.2) }
        return (units.contains { $0.state != .converged } ? .converging : .converged, units)
    }

    @Test func aWaitingUnitSaysWhomItWaitsForUntilItsTurn() {
        var s2 = SerialRestartsTests.board("s2")
        s2.onWritten(role: "k3s-server", units: ["k3s.service"])
        #expect(s2.onStep(alive: ["s1", "s2", "s3"], done: ["s1": 1, "s3": 1]).isEmpty)
        #expect(s2.turnWaits == ["k3s.service": SerialRestarts.TurnWait(role: "k3s-server", after: ["s1"])])

        let report = ReconcileCore.withSerialTurns(Self.units([("k3s.service", .converged, nil), ("other.service", .converged, nil)]), s2.turnWaits)
        #expect(report.state == .converging)
        #expect(report.units[0].state == .converging)
        #expect(report.units[0].waitingForTurn == ["s1"])
        #expect(report.units[0].reason == "serial restart waits for its turn: after s1 (role k3s-server, one board at a time)")
        #expect(report.units[1] == ReconcileCore.UnitReport(name: "other.service", desired: "running", active: "active", state: .converged))

        // s1 finished: s2's turn, nothing waits any more and the report is as the reconciler made it.
        #expect(s2.onStep(alive: ["s1", "s2", "s3"], done: ["s1": 2, "s3": 1]) == [.restart(["k3s.service"])])
        #expect(s2.turnWaits.isEmpty)
        let plain = Self.units([("k3s.service", .converged, nil)])
        #expect(ReconcileCore.withSerialTurns(plain, s2.turnWaits) == plain)
    }

    @Test func anotherReasonStaysAndADegradedUnitStaysDegraded() {
        let waits = ["k3s.service": SerialRestarts.TurnWait(role: "k3s-server", after: ["s1", "s2"])]
        let report = ReconcileCore.withSerialTurns(Self.units([("k3s.service", .degraded, "failed 5 times in a row")]), waits)
        #expect(report.state == .degraded)
        #expect(report.units[0].reason == "failed 5 times in a row")
        #expect(report.units[0].waitingForTurn == ["s1", "s2"])
    }
}
