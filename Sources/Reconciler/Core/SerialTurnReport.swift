// What the status says of a unit whose restart waits for its serial turn (a `serial: true` file was written, the
// boards of its role before this one have not finished theirs): whom it waits for, and converging until then.

extension ReconcileCore {
    /// `report` with the serial waits added (SerialRestarts.turnWaits). The unit's new file is written but not in
    /// force until its restart, so a converged unit becomes converging, with the boards it waits for as its reason (a
    /// unit with a reason already, failing or waiting to start, keeps that one and lists them too).
    public static func withSerialTurns(_ report: (state: Convergence, units: [UnitReport]),
                                       _ turnWaits: [String: SerialRestarts.TurnWait]) -> (state: Convergence, units: [UnitReport]) {
        guard !turnWaits.isEmpty else { return report }
        var units = report.units
        for index in units.indices {
            guard let wait = turnWaits[units[index].name], !wait.after.isEmpty else { continue }
            units[index].waitingForTurn = wait.after
            if units[index].state == .converged { units[index].state = .converging }
            if units[index].reason == nil {
                units[index].reason = "serial restart waits for its turn: after \(wait.after.joined(separator: ", ")) (role \(wait.role), one board at a time)"
            }
        }
        let overall: Convergence = units.contains { $0.state == .degraded } ? .degraded
            : units.contains { $0.state == .converging } ? .converging : .converged
        return (overall, units)
    }
}
