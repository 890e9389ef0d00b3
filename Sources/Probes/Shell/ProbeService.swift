// Runs the document's probes (ProbeRunner, on an event loop) and publishes what they find on typed channels:
// VIP priorities (for VRRP), the gossip summary, restarts asked of the reconciler; hcctl probes reads its handle.
import HomecloudSchema
import Logging
import Metrics
import NIOCore
import PartWiring
import Reactor
import PartLifecycle
#if canImport(Glibc)
import Glibc
#endif

public struct ProbeService: Service {
    /// What the probes follow and what they publish; made and connected by the agent.
    public struct Channels: Sendable {
        public var documents: LatestValue<AcceptedDocument>
        /// VIP name → the weights of its failing tracked probes (VRRP adds them to the base priority).
        public var adjustments: LatestValue<[String: Int]>
        /// How many probes run here and which fail, for the gossip metadata.
        public var summary: LatestValue<ProbeSummary>
        /// A `restart: true` probe's verdict on its unit, for the reconciler.
        public var unitHealth: AsyncStream<UnitHealthReport>.Continuation
        /// A unit's ActiveState, for `unit` probes (the reconciler's bus).
        public var unitState: @Sendable (String) async -> String?

        public init(documents: LatestValue<AcceptedDocument>, adjustments: LatestValue<[String: Int]>, summary: LatestValue<ProbeSummary>,
                    unitHealth: AsyncStream<UnitHealthReport>.Continuation, unitState: @escaping @Sendable (String) async -> String?) {
            self.documents = documents
            self.adjustments = adjustments
            self.summary = summary
            self.unitHealth = unitHealth
            self.unitState = unitState
        }
    }

    let channels: Channels
    let problems: PartProblems
    let logger: Logger
    /// The loop and its runner, or why probes cannot run here.
    let setup: Result<(ProbeLoop, ProbeRunner), ProbeLoopFailure>
    let effects: AsyncStream<ProbeRunner.Effect>
    let effectSink: AsyncStream<ProbeRunner.Effect>.Continuation
    /// hcctl probes and status read the probes' live view through this.
    public let handle: ProbeHandle

    struct ProbeLoopFailure: Error, CustomStringConvertible {
        var description: String
    }

    /// Starts the probes' loop (one loop for the timer, the checks and their results: no thread hops between them).
    public init(group: EventLoopGroup, channels: Channels, problems: PartProblems, logger: Logger) {
        self.channels = channels
        self.problems = problems
        self.logger = logger
        (effects, effectSink) = AsyncStream.makeStream(of: ProbeRunner.Effect.self)
        do {
            let loop = try ProbeLoop()
            let checks = ProbeChecks(loop: loop, channels: group, unitState: channels.unitState)
            var seed = SystemRandomNumberGenerator()
            let runner = ProbeRunner(loop: loop, checks: checks, seed: seed.next(), effects: effectSink, logger: logger)
            setup = .success((loop, runner))
            handle = ProbeHandle(loop: loop, runner: runner, checks: checks)
        } catch {
            setup = .failure(ProbeLoopFailure(description: "\(error)"))
            handle = ProbeHandle(loop: nil, runner: nil, checks: nil)
        }
    }

    public func run() async throws {
        let channels = self.channels, effects = self.effects, effectSink = self.effectSink
        let loop: ProbeLoop, runner: ProbeRunner
        switch setup {
        case .success(let made): (loop, runner) = made
        case .failure(let error):
            problems.report("probes", "probes off: \(error)")
            try? await gracefulShutdown()
            return
        }
        defer { loop.stop() }
        let (documents, documentSink) = AsyncStream.makeStream(of: DesiredState.self, bufferingPolicy: .bufferingNewest(1))
        let accepted = channels.documents.follow()
        await withDiscardingTaskGroup { group in
            group.addTask { for await document in accepted { documentSink.yield(document.document) } }
            group.addTask {
                for await effect in effects {
                    switch effect {
                    case .adjustments(let adjustments): channels.adjustments.publishIfChanged(adjustments)
                    case .summary(let summary): channels.summary.publishIfChanged(summary)
                    case .unitHealth(let report): channels.unitHealth.yield(report)
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
    }

    static func report(_ statuses: [ProbeScheduler.Status], now: Duration) -> [ProbeStatus] {
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
                               since: Int(wallNow.tv_sec) - Int((now - status.since).components.seconds))
        }
    }
}

/// What the control commands may ask of the probes: their live view (hcctl probes, status).
public struct ProbeHandle: Sendable {
    private let loop: ProbeLoop?
    private let runner: ProbeRunner?
    private let checks: ProbeChecks?

    init(loop: ProbeLoop?, runner: ProbeRunner?, checks: ProbeChecks?) {
        self.loop = loop
        self.runner = runner
        self.checks = checks
    }

    /// A handle of probes that do not run (tests of the control commands).
    public static let notRunning = ProbeHandle(loop: nil, runner: nil, checks: nil)

    /// Runs a command on the probes' loop as an exec probe runs (a transition hook): nil when it exited 0, else
    /// why it failed ("timed out after ..." when it was killed at `timeout`). `inputs`: bytes it reads on these
    /// descriptors (0 is its stdin; a few KiB at most), never on its command line.
    public func runCommand(_ argv: [String], environment: [String], inputs: [Int32: [UInt8]] = [:], timeout: Duration) async -> String? {
        guard let checks else { return "the probes' loop does not run here" }
        switch (try? await checks.startCommand(argv, environment: environment, inputs: inputs, timeout: timeout).get()) ?? .fail("no result") {
        case .pass: return nil
        case .fail(let why): return why
        }
    }

    /// Every probe's state now; empty when the probes do not run here.
    public func report() async -> [ProbeStatus] {
        guard let loop, let runner else { return [] }
        return (try? await loop.submit { runner.report() }.get()) ?? []
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
