// The cores' one time type as the shells read it: a Duration on the monotonic clock since one origin for the
// whole process, so a time one core hands out (gossip's last heard) means the same to another (the reconciler).
// Cores only compare and subtract these; simulations start theirs at zero.

public enum MonotonicTime {
    /// Fixed at first use: every reading in the process counts from it.
    static let origin = ContinuousClock.now

    /// A core's time for an instant of the shell's clock.
    public static func time(_ instant: ContinuousClock.Instant) -> Duration { origin.duration(to: instant) }

    /// The instant a core's time names, to sleep or schedule until it.
    public static func instant(_ time: Duration) -> ContinuousClock.Instant { origin + time }
}

extension Duration {
    /// The monotonic clock now, as a core's `now:` takes it (MonotonicTime).
    public static var now: Duration { MonotonicTime.time(.now) }
}
