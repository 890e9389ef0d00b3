// Runs the document's probes: the scheduler decides when, the checks run beside the loop, and what they
// find moves VIP priorities (through VRRP) and shows in hcctl probes.
import HomecloudSchema
import Logging
import Metrics
import NIOCore
import Probes
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

public struct ProbeService: Service {
    let state: AgentState
    let group: EventLoopGroup
    let logger: Logger

    public init(state: AgentState, group: EventLoopGroup, logger: Logger) {
        self.state = state
        self.group = group
        self.logger = logger
    }

    enum Input: Sendable {
        case document(DesiredState)
        case tick
        case result(String, ProbeHysteresis.Result)
    }

    public func run() async throws {
        let (inputs, sink) = AsyncStream.makeStream(of: Input.self)
        let documents = await state.documents()
        let state = self.state
        let checks = ProbeChecks(group: group) { name in await state.unitState(name) }
        var seed = SystemRandomNumberGenerator()
        var scheduler = ProbeScheduler(seed: seed.next())
        var vips: [VirtualIP] = []
        var probes: [String: Probe] = [:]
        var timer: Task<Void, Never>?
        let logger = self.logger
        await withDiscardingTaskGroup { group in
            group.addTask { for await document in documents { sink.yield(.document(document)) } }
            await withGracefulShutdownHandler {
                for await input in inputs {
                    let now = ContinuousClock.now
                    var actions: [ProbeScheduler.Action] = []
                    switch input {
                    case .document(let document):
                        vips = document.vips
                        probes = Dictionary(uniqueKeysWithValues: document.probes.map { ($0.name, $0) })
                        scheduler.onProbes(document.probes, now: now)
                    case .tick:
                        break
                    case .result(let name, let result):
                        actions += scheduler.onResult(probe: name, result, now: now)
                        ProbeMetrics.record(name, result: result, status: scheduler.statuses.first { $0.name == name })
                    }
                    actions += scheduler.onTick(now: now)
                    for action in actions {
                        switch action {
                        case .run(let name, let deadline):
                            guard let probe = probes[name] else { continue }
                            let timeout = now.duration(to: deadline)
                            group.addTask { sink.yield(.result(name, await checks.run(probe.check, timeout: timeout))) }
                        case .changed(let name, let transition):
                            logger.notice("probe \(name): \(transition.from.rawValue) -> \(transition.to.rawValue): \(transition.reason)")
                        case .restart(let unit, let name, let reason):
                            state.reportUnitHealth(.failing(unit: unit, reason: "probe \(name): \(reason)"))
                        case .recovered(let unit, _):
                            state.reportUnitHealth(.healthy(unit: unit))
                        }
                    }
                    var adjustments: [String: Int] = [:]
                    for vip in vips where !vip.track.isEmpty {
                        adjustments[vip.name] = scheduler.priorityAdjustment(tracking: vip.track)
                    }
                    await state.setPriorityAdjustments(adjustments)
                    await state.publishProbes(Self.report(scheduler.statuses, now: now))
                    timer?.cancel()
                    if let next = scheduler.nextDeadline {
                        timer = Task {
                            try? await Task.sleep(until: next, tolerance: .milliseconds(5), clock: .continuous)
                            if !Task.isCancelled { sink.yield(.tick) }
                        }
                    }
                }
            } onGracefulShutdown: {
                sink.finish()
            }
            timer?.cancel()
            group.cancelAll()
        }
    }

    static func report(_ statuses: [ProbeScheduler.Status], now: ContinuousClock.Instant) -> [ProbeStatus] {
        var wallNow = timespec()
        clock_gettime(CLOCK_REALTIME, &wallNow)
        return statuses.map { status in
            let last: String? = status.lastResult.map {
                switch $0 {
                case .pass: "pass"
                case .fail(let why): why
                }
            }
            return ProbeStatus(name: status.name, state: status.health.rawValue, last: last,
                               latencyMs: status.lastLatency.map { Int($0 / .milliseconds(1)) },
                               passes: status.consecutivePasses, failures: status.consecutiveFailures,
                               since: Int(wallNow.tv_sec) - Int(status.since.duration(to: now).components.seconds))
        }
    }
}

/// Per probe: its latency (a histogram) and its health (a gauge: 1 healthy, 0 unknown, -1 failing).
enum ProbeMetrics {
    static func record(_ name: String, result: ProbeHysteresis.Result, status: ProbeScheduler.Status?) {
        guard let status else { return }
        if let latency = status.lastLatency {
            Metrics.Timer(label: "hcagent_probe_duration_seconds", dimensions: [("probe", name)]).recordNanoseconds(
                Int64(latency / .nanoseconds(1)))
        }
        let value: Int = switch status.health {
        case .healthy: 1
        case .unknown: 0
        case .failing: -1
        }
        Gauge(label: "hcagent_probe_health", dimensions: [("probe", name)]).record(value)
    }
}
