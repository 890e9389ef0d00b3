// Runs the document's probes (ProbeRunner, on an event loop) and carries what they find to the agent state:
// VIP priorities (through VRRP), the gossip summary, restarts asked of the reconciler, and hcctl probes.
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

    public func run() async throws {
        let state = self.state
        // One loop for the timer, the checks and their results: no thread hops between them.
        let loop: ProbeLoop
        do {
            loop = try ProbeLoop()
        } catch {
            state.problems.report("probes", "probes off: \(error)")
            try? await gracefulShutdown()
            return
        }
        defer { loop.stop() }
        let checks = ProbeChecks(loop: loop, channels: group) { name in await state.unitState(name) }
        let (effects, effectSink) = AsyncStream.makeStream(of: ProbeRunner.Effect.self)
        var seed = SystemRandomNumberGenerator()
        let runner = ProbeRunner(loop: loop, checks: checks, seed: seed.next(), effects: effectSink, logger: logger)
        await state.setProbeReporter { (try? await loop.submit { runner.report() }.get()) ?? [] }
        let (documents, documentSink) = AsyncStream.makeStream(of: DesiredState.self, bufferingPolicy: .bufferingNewest(1))
        let accepted = await state.documents()
        await withDiscardingTaskGroup { group in
            group.addTask { for await document in accepted { documentSink.yield(document) } }
            group.addTask {
                for await effect in effects {
                    switch effect {
                    case .adjustments(let adjustments): await state.setPriorityAdjustments(adjustments)
                    case .summary(let summary): await state.publishProbeSummary(summary)
                    case .unitHealth(let report): state.reportUnitHealth(report)
                    }
                }
            }
            await withGracefulShutdownHandler {
                for await document in documents { loop.execute { runner.onDocument(document) } }
            } onGracefulShutdown: {
                documentSink.finish()
            }
            try? await loop.submit { runner.stop() }.get()
            effectSink.finish()
            group.cancelAll()
        }
        await state.setProbeReporter(nil)
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

/// Per probe: its latency (a histogram) and its health (a gauge: 1 healthy, 0 unknown, -1 failing). Made once
/// per probe: looking a metric up by label on every result cost more than the check itself.
struct ProbeMetrics {
    let duration: Metrics.Timer
    let health: Gauge

    init(_ name: String) {
        duration = Metrics.Timer(label: "hcagent_probe_duration_seconds", dimensions: [("probe", name)])
        health = Gauge(label: "hcagent_probe_health", dimensions: [("probe", name)])
    }

    func record(_ status: ProbeScheduler.Status) {
        if let latency = status.lastLatency { duration.recordNanoseconds(Int64(latency / .nanoseconds(1))) }
        let value: Int = switch status.health {
        case .healthy: 1
        case .unknown: 0
        case .failing: -1
        }
        health.record(value)
    }
}
