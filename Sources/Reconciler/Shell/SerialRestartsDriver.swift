// The reconciler's serial restarts: a `serial: true` file's units restart in this board's turn (SerialRestarts),
// after the boards of the role before it say "sr" in gossip; when this board's are finished, it says so too.
import HomecloudSchema
import Logging

extension ReconcileDriver {
    /// Decides whose turn it is from gossip's view; restarts this board's units in its turn; publishes "sr".
    func stepSerial() async {
        let view = core.members
        let alive = Set(view?.states.filter { $0.value == .alive }.map(\.key) ?? [node])
        let actions = serial.onStep(alive: alive, done: view?.serialDone ?? [:])
        if serial.waitingFor != serialWaitLogged {
            serialWaitLogged = serial.waitingFor
            if !serial.waitingFor.isEmpty {
                logger.info("serial restart of \(serial.waitingUnits.joined(separator: " ")) waits for \(serial.waitingFor.joined(separator: ", ")) (the boards of the role before this one)")
            }
        }
        // The status shows whom a unit's restart waits for; a files-timer step publishes nothing by itself.
        if serial.turnWaits != serialTurnsShown {
            serialTurnsShown = serial.turnWaits
            publish()
        }
        for action in actions {
            switch action {
            case .restart(let units):
                for unit in units {
                    // Try-restart leaves a stopped unit alone: then there is nothing to wait for. One on its way up or
                    // down (activating, deactivating) is restarted: its start may have read the old file.
                    guard let (path, observed) = try? await bus.readUnit(unit), observed.activeState != "inactive" && observed.activeState != "failed" else {
                        serial.onNotRunning(unit)
                        continue
                    }
                    serialPaths[path] = unit
                    logger.info("restarting \(unit) (serial: this board's turn): a file it reads was written")
                    do {
                        try await bus.tryRestartUnit(unit)
                    } catch {
                        logger.error("try-restart \(unit): \(error)")
                        serial.onNotRunning(unit)
                    }
                }
            case .publish(let generation):
                channels.serialDone.publishIfChanged(generation)
            }
        }
        // Units not running, or a failed call, may have finished this board's turn at once.
        if !actions.isEmpty && serial.isIdle {
            for case .publish(let generation) in serial.onStep(alive: alive, done: view?.serialDone ?? [:]) {
                channels.serialDone.publishIfChanged(generation)
            }
        }
    }

    /// A unit restarting in this board's turn changed (its job ended, its state moved): active again finishes it.
    func serialUnitChanged(_ unit: String) async {
        guard let (path, observed) = try? await bus.readUnit(unit) else { return }
        serialPaths[path] = unit
        serial.onUnitState(unit, active: observed.activeState == "active")
        if serial.isIdle { await stepSerial() }
    }
}
