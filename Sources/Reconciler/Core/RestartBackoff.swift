// When to try a failing unit again: exponential backoff with jitter, then give up and call it degraded.
import HomecloudSchema

public struct RestartBackoff: Sendable, Equatable {
    public var base: Duration
    public var maximum: Duration
    /// Starts that may fail in a row before the unit is left alone as degraded.
    public var attempts: Int
    /// A unit up for this long has recovered: its failure count starts again from zero.
    public var stableAfter: Duration

    public init(base: Duration = .seconds(1), maximum: Duration = .seconds(60), attempts: Int = 5,
                stableAfter: Duration = .seconds(30)) {
        self.base = base
        self.maximum = maximum
        self.attempts = attempts
        self.stableAfter = stableAfter
    }

    /// The wait after the `failures`-th failure in a row: base·2^(failures-1), capped, then between half and
    /// all of it ("equal jitter"), so boards whose units fail together do not retry in step.
    public func delay(afterFailures failures: Int, using random: inout SplitMix64) -> Duration {
        var delay = base
        for _ in 1..<max(failures, 1) where delay < maximum { delay = delay * 2 }
        delay = min(delay, maximum)
        let half = delay / 2
        let jitterMillis = Int64.random(in: 0...max(Int64(half.components.seconds * 1000 + half.components.attoseconds / 1_000_000_000_000_000), 0), using: &random)
        return half + .milliseconds(jitterMillis)
    }
}
