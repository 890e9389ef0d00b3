// Lifeguard's local health (memberlist's "awareness"): how much this node doubts its own network and timing.

/// A node whose own network drops packets, or whose CPU is starved, sees acks miss and wrongly suspects
/// healthy peers. The score rises on such evidence and falls on successful probes; probe interval and probe
/// timeout are stretched by (score + 1), so a sick node probes slower and waits longer before accusing anyone.
public struct LocalHealth: Sendable, Equatable {
    /// Scores run 0...maxMultiplier − 1, so timings are stretched at most maxMultiplier times.
    public let maxMultiplier: Int
    public private(set) var score = 0

    public init(maxMultiplier: Int) {
        self.maxMultiplier = max(1, maxMultiplier)
    }

    public enum Event: Sendable, Equatable {
        /// A direct ping was acked in time: the network works both ways.
        case probeSucceeded
        /// A probe failed and none of the helpers could be asked (too few members): blame ourselves a little.
        case probeFailed
        /// A probe failed and some helpers never sent the nack they owe: the silence was probably ours.
        case nacksMissing(Int)
        /// Someone suspected us while we were fine: our acks are not getting out.
        case refutedSuspicion
    }

    public mutating func record(_ event: Event) {
        switch event {
        case .probeSucceeded: apply(-1)
        case .probeFailed: apply(1)
        case .nacksMissing(let count): apply(count)
        case .refutedSuspicion: apply(1)
        }
    }

    public mutating func apply(_ delta: Int) {
        score = min(maxMultiplier - 1, max(0, score + delta))
    }

    /// `duration` × (score + 1).
    public func scale(_ duration: Duration) -> Duration { duration * (score + 1) }
}
