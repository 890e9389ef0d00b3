// The probe loop on one event loop: the scheduler's timer, the checks and their results all stay on its thread.
import HomecloudSchema
import Logging
import NIOCore
import PartWiring
import Reactor

/// Confined to `loop` (every method runs there), so it needs no lock. Kept off Swift's task pool on purpose: a
/// probe run there cost a task, a timer and half a dozen thread wake-ups, more than the TCP connect it made.
/// Only what changes health leaves the loop, as an effect for the agent state.
final class ProbeRunner: @unchecked Sendable {
    enum Effect: Sendable {
        case adjustments([String: Int])
        case summary(ProbeSummary)
        case unitHealth(UnitHealthReport)
    }

    let loop: EventLoop
    private let checks: ProbeChecks
    private let effects: AsyncStream<Effect>.Continuation
    private let logger: Logger
    private var scheduler: ProbeScheduler
    private var vips: [VirtualIP] = []
    private var probes: [String: Probe] = [:]
    private var metrics: [String: ProbeMetrics] = [:]
    private var adjustments: [String: Int] = [:]
    private var armed: Duration?
    private var timer: Scheduled<Void>?
    private var stopped = false

    init(loop: EventLoop, checks: ProbeChecks, seed: UInt64, effects: AsyncStream<Effect>.Continuation, logger: Logger) {
        self.loop = loop
        self.checks = checks
        self.effects = effects
        self.logger = logger
        scheduler = ProbeScheduler(seed: seed)
    }

    func onDocument(_ document: DesiredState) {
        loop.preconditionInEventLoop()
        guard !stopped else { return }
        let now = Duration.now
        vips = document.vips
        probes = Dictionary(uniqueKeysWithValues: document.probes.map { ($0.name, $0) })
        metrics = Dictionary(uniqueKeysWithValues: document.probes.map { ($0.name, metrics[$0.name] ?? ProbeMetrics($0.name)) })
        scheduler.onProbes(document.probes, now: now)
        step([], healthChanged: true, now: now)
    }

    private func onTick() {
        armed = nil
        guard !stopped else { return }
        step([], healthChanged: false, now: .now)
    }

    private func onResult(_ name: String, _ result: ProbeHysteresis.Result) {
        guard !stopped else { return }
        let now = Duration.now
        let actions = scheduler.onResult(probe: name, result, now: now)
        if let status = scheduler.status(of: name) { metrics[name]?.record(status) }
        step(actions, healthChanged: false, now: now)
    }

    func report() -> [ProbeStatus] { ProbeService.report(scheduler.statuses, now: .now) }

    func stop() {
        stopped = true
        timer?.cancel()  // checks in flight end by their own deadlines; their results are dropped
    }

    private func step(_ actions: [ProbeScheduler.Action], healthChanged changed: Bool, now: Duration) {
        var healthChanged = changed
        for action in actions + scheduler.onTick(now: now) {
            switch action {
            case .run(let name, let deadline):
                guard let probe = probes[name] else { continue }
                start(probe, timeout: deadline - now)
            case .changed(let name, let transition):
                healthChanged = true
                logger.notice("probe \(name): \(transition.from.rawValue) -> \(transition.to.rawValue): \(transition.reason)")
            case .restart(let unit, let name, let reason):
                effects.yield(.unitHealth(.failing(unit: unit, reason: "probe \(name): \(reason)")))
            case .recovered(let unit, _):
                effects.yield(.unitHealth(.healthy(unit: unit)))
            }
        }
        // VRRP and gossip hear of health, not of every result: most results change nothing.
        if healthChanged {
            var next: [String: Int] = [:]
            for vip in vips where !vip.track.isEmpty { next[vip.name] = scheduler.priorityAdjustment(tracking: vip.track) }
            if next != adjustments {
                adjustments = next
                effects.yield(.adjustments(next))
            }
            let statuses = scheduler.statuses
            effects.yield(.summary(ProbeSummary(count: statuses.count, failing: statuses.filter { $0.health == .failing }.map(\.name),
                                                 unknown: statuses.filter { $0.health == .unknown }.map(\.name))))
        }
        arm(now: now)
    }

    private func start(_ probe: Probe, timeout: Duration) {
        let name = probe.name
        checks.start(probe.check, timeout: timeout).hop(to: loop).whenSuccess { self.onResult(name, $0) }
    }

    /// One timer, re-armed only when the next due probe comes sooner than the one it waits for.
    private func arm(now: Duration) {
        guard let next = scheduler.nextDeadline else { return }
        if let armed, armed <= next { return }
        timer?.cancel()
        armed = next
        let delay = TimeAmount.nanoseconds(Int64(max(.zero, next - now) / .nanoseconds(1)))
        timer = loop.scheduleTask(in: delay) { self.onTick() }
    }
}
