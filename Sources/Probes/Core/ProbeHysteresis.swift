// One probe's health with hysteresis: `fall` failures in a row make it failing, `rise` passes make it healthy.
import HomecloudSchema

/// Pure state: results go in with their time, transitions come out. A probe starts `unknown`; failures
/// within the start-up grace do not count, so a service that is still starting does not move the VIP.
public struct ProbeHysteresis: Sendable, Equatable {
    public enum Health: String, Sendable, Equatable {
        case unknown, healthy, failing
    }

    public enum Result: Sendable, Equatable {
        case pass
        /// A failure or a timeout, with what went wrong for `hcctl probes`.
        case fail(String)
    }

    public struct Transition: Sendable, Equatable {
        public var from: Health
        public var to: Health
        public var at: Duration
        public var reason: String
        public init(from: Health, to: Health, at: Duration, reason: String) {
            self.from = from
            self.to = to
            self.at = at
            self.reason = reason
        }
    }

    public let rise: Int
    public let fall: Int
    public let graceUntil: Duration
    public private(set) var health: Health = .unknown
    public private(set) var consecutivePasses = 0
    public private(set) var consecutiveFailures = 0
    public private(set) var since: Duration

    public init(rise: Int, fall: Int, grace: Duration, start: Duration) {
        precondition(rise >= 1 && fall >= 1, "rise and fall are at least 1")
        self.rise = rise
        self.fall = fall
        self.graceUntil = start + grace
        self.since = start
    }

    public init(probe: Probe, start: Duration) {
        self.init(rise: probe.rise, fall: probe.fall, grace: probe.grace, start: start)
    }

    /// Records one result; returns the transition it caused, if any.
    public mutating func onResult(_ result: Result, now: Duration) -> Transition? {
        switch result {
        case .pass:
            consecutivePasses += 1
            consecutiveFailures = 0
            // From unknown, one pass is enough: there is no failing state to leave cautiously.
            let needed = health == .unknown ? 1 : rise
            if health != .healthy && consecutivePasses >= needed {
                return move(to: .healthy, now: now, reason: "\(consecutivePasses) passes in a row")
            }
        case .fail(let why):
            if now < graceUntil && health != .healthy { return nil }
            consecutiveFailures += 1
            consecutivePasses = 0
            if health != .failing && consecutiveFailures >= fall {
                return move(to: .failing, now: now, reason: "\(consecutiveFailures) failures in a row, last: \(why)")
            }
        }
        return nil
    }

    private mutating func move(to new: Health, now: Duration, reason: String) -> Transition {
        let transition = Transition(from: health, to: new, at: now, reason: reason)
        health = new
        since = now
        return transition
    }
}
