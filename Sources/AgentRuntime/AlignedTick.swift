// The agent's periodic housekeeping in Swift tasks (status line, state_dir and drain retries) wakes on one grid:
// ticks of the same period fire together, one wake-up of Dispatch's timer thread and its worker instead of one each.

enum AlignedTick {
    /// Every tick counts its periods from here (the first use, early in the agent's start).
    private static let origin = ContinuousClock.now

    /// The next multiple of `period` after now, counted from `origin`.
    static func next(after now: ContinuousClock.Instant, every period: Duration) -> ContinuousClock.Instant {
        let elapsed = origin.duration(to: now)
        let periods = max(0, Int((elapsed / period).rounded(.down))) + 1
        return origin + period * periods
    }

    /// Sleeps until the next tick of `period` (throws when the task is cancelled, as Task.sleep).
    static func sleep(every period: Duration) async throws {
        try await Task.sleep(until: next(after: .now, every: period), clock: .continuous)
    }
}
