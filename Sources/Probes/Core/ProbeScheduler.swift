// When each probe runs, how many run at once, and what their results mean: the pure core of the probes.
import HomecloudSchema

/// Probes fire every `interval`, each with a fixed random offset so they do not fire together; at most
/// `maxInFlight` run at once (the others wait their turn); a run that outlives its `timeout` counts as failed
/// and its check is cancelled, so runs never pile up. Results go through each probe's hysteresis.
public struct ProbeScheduler: Sendable {
    public enum Action: Sendable, Equatable {
        /// Start the check; the shell cancels it at `deadline` and reports `fail("timed out …")`.
        case run(probe: String, deadline: Duration)
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
        public var since: Duration
        public var lastResult: ProbeHysteresis.Result?
        public var lastLatency: Duration?
        public var consecutivePasses: Int
        public var consecutiveFailures: Int
    }

    struct Entry: Sendable {
        var probe: Probe
        var hysteresis: ProbeHysteresis
        var lastResult: ProbeHysteresis.Result?
        var lastLatency: Duration?
    }

    /// What the scans on every tick and result read, apart from the rest: plain values, so a scan copies nothing
    /// that must be retained (reading a field of an entry in place still copied whole entries in -Osize code).
    struct Timing: Sendable {
        var nextRun: Duration
        var startedAt: Duration?
    }

    public let maxInFlight: Int
    /// How many start times one interval has: 10, so 50 probes at 1 s wake the agent 10 times a second, not 50 (with
    /// 20, the extra wake-ups cost about 0.25 % of a core on the lab machine).
    public static let slots = 10
    /// By name, so statuses come out sorted; `timing[i]` is `entries[i]`'s, and is all the per-tick scans read
    /// (50 probes at 1 s made copying whole entries the scheduler's main cost).
    private var entries: [Entry] = []
    private var timing: [Timing] = []
    private var indexByName: [String: Int] = [:]
    private var running = 0
    private var random: SplitMix64

    public init(maxInFlight: Int = 8, seed: UInt64) {
        self.maxInFlight = maxInFlight
        random = SplitMix64(seed: seed)
    }

    /// Takes the document's probes. A probe whose definition is unchanged keeps its state; a new or changed
    /// one starts over (unknown, with its grace).
    public mutating func onProbes(_ probes: [Probe], now: Duration) {
        var next: [Entry] = []
        var nextTiming: [Timing] = []
        for probe in probes.sorted(by: { $0.name < $1.name }) {
            if let index = indexByName[probe.name], entries[index].probe == probe {
                next.append(entries[index])
                nextTiming.append(timing[index])
                continue
            }
            // A fixed offset within the first interval spreads probes of the same interval apart, in one of
            // `slots` steps: probes that share a step share the timer's wake-up (a wake costs more than a check).
            let offset = probe.interval * (Double(random.next() % UInt64(Self.slots)) / Double(Self.slots))
            next.append(Entry(probe: probe, hysteresis: ProbeHysteresis(probe: probe, start: now)))
            nextTiming.append(Timing(nextRun: now + offset))
        }
        entries = next
        timing = nextTiming
        indexByName = Dictionary(uniqueKeysWithValues: entries.indices.map { (entries[$0].probe.name, $0) })
        running = timing.filter { $0.startedAt != nil }.count
    }

    /// Probes due now start, longest due first (as many as the concurrency bound lets; the rest stay due).
    public mutating func onTick(now: Duration) -> [Action] {
        guard running < maxInFlight else { return [] }
        var due = timing.indices.filter { timing[$0].startedAt == nil && timing[$0].nextRun <= now }
        guard !due.isEmpty else { return [] }
        if due.count > maxInFlight - running { due.sort { timing[$0].nextRun < timing[$1].nextRun } }
        var actions: [Action] = []
        for index in due.prefix(maxInFlight - running) {
            timing[index].startedAt = now
            actions.append(.run(probe: entries[index].probe.name, deadline: now + entries[index].probe.timeout))
        }
        running += actions.count
        return actions
    }

    /// A check finished (or was cancelled at its deadline, as a failure). The next run is one interval after
    /// this one was due, not after it ended, so a slow check does not drift the schedule.
    public mutating func onResult(probe name: String, _ result: ProbeHysteresis.Result, now: Duration) -> [Action] {
        guard let index = indexByName[name], let started = timing[index].startedAt else { return [] }
        running -= 1
        timing[index].startedAt = nil
        entries[index].lastResult = result
        entries[index].lastLatency = now - started
        timing[index].nextRun = max(timing[index].nextRun + entries[index].probe.interval, now)
        let transition = entries[index].hysteresis.onResult(result, now: now)
        let entry = entries[index]
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
    public var nextDeadline: Duration? {
        var earliest: Duration?
        for slot in timing where slot.startedAt == nil {
            if earliest.map({ slot.nextRun < $0 }) ?? true { earliest = slot.nextRun }
        }
        return earliest
    }

    /// Every probe's status, by name.
    public var statuses: [Status] { entries.indices.map(status(at:)) }

    public func status(of probe: String) -> Status? { indexByName[probe].map(status(at:)) }

    private func status(at index: Int) -> Status {
        let entry = entries[index]
        return Status(name: entry.probe.name, health: entry.hysteresis.health, since: entry.hysteresis.since,
                      lastResult: entry.lastResult, lastLatency: entry.lastLatency,
                      consecutivePasses: entry.hysteresis.consecutivePasses,
                      consecutiveFailures: entry.hysteresis.consecutiveFailures)
    }

    public func health(of probe: String) -> ProbeHysteresis.Health? { indexByName[probe].map { entries[$0].hysteresis.health } }

    /// A VIP's priority adjustment: the weights of its tracked probes that are failing now (VirtualIP.trackedAdjustment).
    public func priorityAdjustment(tracking probes: [String]) -> Int {
        VirtualIP.trackedAdjustment(tracking: probes, weight: { indexByName[$0].map { entries[$0].probe.weight } },
                                    failing: { health(of: $0) == .failing })
    }
}
