// `wait_for: file`: the shell's look at the files units wait for, on a short timer only while some unit waits.
import HomecloudSchema
import ReconcilerCore
#if canImport(Glibc)
import Glibc
#endif

extension ReconcileDriver {
    /// How often awaited files are looked at: a unit waiting for a file starts within this of its appearing.
    static let awaitedFilesInterval = Duration.milliseconds(500)

    /// Which awaited files exist now, told to the planner when that changed (its steps come back).
    func lookAtAwaitedFiles() -> [ReconcileCore.Action] {
        let present = Set(core.awaitedFiles(now: .now).filter { access($0, F_OK) == 0 })
        guard present != core.presentFiles else { return [] }
        return core.onFiles(present: present, now: .now)
    }

    /// Starts the timer when a unit waits for a file, stops it when none does: no wake-ups otherwise.
    func followAwaitedFiles() {
        let waiting = !core.awaitedFiles(now: .now).isEmpty
        if waiting, awaitedFilesTimer == nil {
            let sink = self.sink, interval = Self.awaitedFilesInterval
            awaitedFilesTimer = Task {
                var open = true
                while open && !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    if Task.isCancelled { return }
                    open = awaitedFilesYield(sink)
                }
            }
        } else if !waiting, let timer = awaitedFilesTimer {
            timer.cancel()
            awaitedFilesTimer = nil
        }
    }
}

/// Asks the reconciler's loop to look at the awaited files again; false once the loop has ended.
private func awaitedFilesYield(_ sink: AsyncStream<ReconcilerService.Input>.Continuation) -> Bool {
    if case .terminated = sink.yield(.awaitedFilesTimer) { return false }
    return true
}
