// When each probe runs, how many run at once, and what their results mean: the pure core of the probes.
import HomecloudSchema

/// Probes fire every `interval`, each with a fixed random offset so they do not fire together; at most
/// `maxInFlight` run at once (the others wait their turn); a run that outlives its `timeout` counts as failed
/// and its check is cancelled, so runs never pile up. Results go through each probe's hysteresis.
public struct ProbeScheduler: Sendable {
    public enum Action: Sendable, Equatable {
        /// Start the check; the shell cancels it at `deadline` and reports `fail("timed out …")`.
        case run(probe: String, deadline: ContinuousClock.Instant)
        /// A probe changed health (for VIP priorities, which the shell applies).
        case changed(probe: String, ProbeHysteresis.Transition)
        /// A `restart: true` probe has failed `fall` times more: ask the reconciler to restart its unit (the
        /// reconciler's backoff decides whether it does now). Asked again every `fall` failures while failing.
        case restart(unit: String, probe: String, reason: String)
        /// That probe passes again.
        case recovered(unit: String, probe: String)
    }

    public struct Status: Sendable, Equatable {
        public var name: String
        public var health: ProbeHysteresis.Health
        public var since: ContinuousClock.Instant
        public var lastResult: ProbeHysteresis.Result?
        public var lastLatency: Duration?
        public var consecutivePasses: Int
        public var consecutiveFailures: Int
    }

    struct Entry: Sendable {
        var probe: Probe
        var hysteresis: ProbeHysteresis
        var nextRun: ContinuousClock.Instant
        var startedAt: ContinuousClock.Instant?
        var lastResult: ProbeHysteresis.Result?
        var lastLatency: Duration?
    }

    public let maxInFlight: Int
    private var entries: [String: Entry] = [:]
    private var random: SplitMix64

    public init(maxInFlight: Int = 8, seed: UInt64) {
        self.maxInFlight = maxInFlight
        random = SplitMix64(seed: seed)
    }

    /// Takes the document's probes. A probe whose definition is unchanged keeps its state; a new or changed
    /// one starts over (unknown, with its grace).
    public mutating func onProbes(_ probes: [Probe], now: ContinuousClock.Instant) {
        var next: [String: Entry] = [:]
        for probe in probes {
            if let old = entries[probe.name], old.probe == probe {
                next[probe.name] = old
                continue
            }
            // A fixed offset within the first interval spreads probes of the same interval apart.
            let offset = probe.interval * (Double(random.next() % 1000) / 1000)
            next[probe.name] = Entry(probe: probe, hysteresis: ProbeHysteresis(probe: probe, start: now), nextRun: now + offset)
        }
        entries = next
    }

    /// Probes due now start (as many as the concurrency bound lets; the rest stay due).
    public mutating func onTick(now: ContinuousClock.Instant) -> [Action] {
        var running = entries.values.filter { $0.startedAt != nil }.count
        var actions: [Action] = []
        for name in entries.keys.sorted(by: { entries[$0]!.nextRun < entries[$1]!.nextRun }) {
            guard running < maxInFlight else { break }
            guard entries[name]!.startedAt == nil, entries[name]!.nextRun <= now else { continue }
            entries[name]!.startedAt = now
            running += 1
            actions.append(.run(probe: name, deadline: now + entries[name]!.probe.timeout))
        }
        return actions
    }

    /// A check finished (or was cancelled at its deadline, as a failure). The next run is one interval after
    /// this one was due, not after it ended, so a slow check does not drift the schedule.
    public mutating func onResult(probe name: String, _ result: ProbeHysteresis.Result, now: ContinuousClock.Instant) -> [Action] {
        guard var entry = entries[name], let started = entry.startedAt else { return [] }
        entry.startedAt = nil
        entry.lastResult = result
        entry.lastLatency = started.duration(to: now)
        entry.nextRun = max(entry.nextRun + entry.probe.interval, now)
        let transition = entry.hysteresis.onResult(result, now: now)
        entries[name] = entry
        var actions = transition.map { [Action.changed(probe: name, $0)] } ?? []
        if entry.probe.restart, let unit = entry.probe.unit {
            let failures = entry.hysteresis.consecutiveFailures
            if case .fail(let why) = result, entry.hysteresis.health == .failing, failures % entry.probe.fall == 0 {
                actions.append(.restart(unit: unit, probe: name, reason: why))
            } else if let transition, transition.from == .failing, transition.to == .healthy {
                actions.append(.recovered(unit: unit, probe: name))
            }
        }
        return actions
    }

    /// When the shell must tick next: the earliest due probe that is not running.
    public var nextDeadline: ContinuousClock.Instant? {
        entries.values.filter { $0.startedAt == nil }.map(\.nextRun).min()
    }

    public var statuses: [Status] {
        entries.values.sorted { $0.probe.name < $1.probe.name }.map {
            Status(name: $0.probe.name, health: $0.hysteresis.health, since: $0.hysteresis.since, lastResult: $0.lastResult,
                   lastLatency: $0.lastLatency, consecutivePasses: $0.hysteresis.consecutivePasses,
                   consecutiveFailures: $0.hysteresis.consecutiveFailures)
        }
    }

    public func health(of probe: String) -> ProbeHysteresis.Health? { entries[probe]?.hysteresis.health }

    /// A VIP's priority adjustment: the weights of its tracked probes that are failing now.
    public func priorityAdjustment(tracking probes: [String]) -> Int {
        probes.compactMap { entries[$0] }.filter { $0.hysteresis.health == .failing }.reduce(0) { $0 + $1.probe.weight }
    }
}
