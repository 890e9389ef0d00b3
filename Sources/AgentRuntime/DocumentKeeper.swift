// The agent's shared state (config, document in force, reconcile report) and the status report built from it.
import HomecloudSchema
import Logging
import Metrics
import Reconciler
import Trust

public actor AgentState {
    public let config: AgentConfig
    public static let version = "0.1.0"
    private var store: DesiredStateStore
    private let logger: Logger
    private let notifier: SystemdNotifier
    private let generationGauge = Gauge(label: "hcagent_desired_generation")
    /// Refused documents by reason: invalid, signature, policy, generation.
    private let refusedCounters = Dictionary(uniqueKeysWithValues: ["invalid", "signature", "policy", "generation"].map {
        ($0, Counter(label: "hcagent_desired_refused_total", dimensions: [("reason", $0)]))
    })
    private var documentSubscribers: [AsyncStream<DesiredState>.Continuation] = []
    private var unitReport: (convergence: String, units: [UnitStatus])?
    private var vipReport: [VIPStatus]?
    private var memberReport: [MemberStatus]?
    private var memberView = ChangeBroadcast<MemberView>()
    private var convergence = ChangeBroadcast<String>()
    private var peerAddresses = ChangeBroadcast<[IPAddress]>([])
    private var held = ChangeBroadcast<Set<String>>([])
    private var handoverHandler: (@Sendable (String, String?) async -> Result<String, ControlError>)?
    /// Handovers this board asks of others (VIP → node), carried in its gossip metadata.
    private var outgoingHandovers = ChangeBroadcast<[String: String]>([:])
    /// VIPs other boards ask this board to take, as gossip brings them.
    private var incomingHandovers = ChangeBroadcast<Set<String>>([])
    private var probeReporter: (@Sendable () async -> [ProbeStatus])?
    private var probeSummary = ChangeBroadcast<ProbeSummary>()
    private var priorityAdjustments = ChangeBroadcast<[String: Int]>([:])
    private var unitStateReader: (@Sendable (String) async -> String?)?
    /// Probes' restart asks for the reconciler (events, not a state: each ask counts).
    public nonisolated let unitHealthReports: AsyncStream<UnitHealthReport>
    private let unitHealthSink: AsyncStream<UnitHealthReport>.Continuation
    private var keysHandler: (@Sendable (ControlRequest.Command, [UInt8]?) async -> Result<String, ControlError>)?
    /// Parts that run degraded and why (see PartProblems), for hcctl status.
    public nonisolated let problems: PartProblems

    public init(config: AgentConfig, logger: Logger, notifier: SystemdNotifier = SystemdNotifier()) {
        self.config = config
        self.logger = logger
        self.notifier = notifier
        // agent.yaml's keys were checked when it was loaded (Agent.loadConfig).
        let verifier = (try? TrustSetup.verifier(for: config, file: config.policyFile ?? AgentConfig.defaultPath).get()) ?? nil
        store = DesiredStateStore(verifier: verifier, policy: config.policyCheck)
        for warning in TrustSetup.warnings(for: config) { logger.warning("\(warning)") }
        if let verifier { logger.info("only documents signed by a trusted admin key are taken: \(verifier.trusted.map(\.id).joined(separator: ", "))") }
        problems = PartProblems(logger: logger)
        (unitHealthReports, unitHealthSink) = AsyncStream.makeStream(of: UnitHealthReport.self, bufferingPolicy: .bufferingNewest(256))
    }

    /// Where the last accepted document is kept, so a restarted board enforces it even with no peers and no file.
    public var persistedPath: String { config.stateDir + "/desired.yaml" }

    /// Takes the document persisted by the last run, if any; call before the first reloadDesired.
    public func restorePersisted() {
        guard let text = StateDirFiles.persistedDocument(at: persistedPath, logger: logger) else { return }
        switch store.offer(text: text, file: persistedPath) {
        case .accepted(let generation):
            logger.info("restored the last accepted document", metadata: ["generation": "\(generation)", "file": "\(persistedPath)"])
            generationGauge.record(Int64(clamping: generation))
        case .rejected(let diagnostics):
            countRefusal()
            for diagnostic in diagnostics { logger.error("the persisted document is refused: \(diagnostic)") }
        case .unchanged, .stale:
            break
        }
    }

    /// Rereads desired.yaml. A missing file is not an error (a new board waits for its first document).
    @discardableResult
    public func reloadDesired() -> DesiredStateStore.Outcome {
        let path = config.desired
        let outcome: DesiredStateStore.Outcome
        do {
            outcome = store.offer(text: try TextFile.read(path), file: path)
        } catch {
            if TextFile.stamp(path) == nil {
                if store.current == nil { logger.notice("no desired-state document yet", metadata: ["file": "\(path)"]) }
                return .unchanged
            }
            outcome = store.unreadable(error, file: path)
        }
        switch outcome {
        case .accepted(let generation):
            logger.info("desired-state document accepted", metadata: ["generation": "\(generation)", "file": "\(path)"])
            generationGauge.record(Int64(clamping: generation))
            persist()
            if let document = store.current {
                for subscriber in documentSubscribers { subscriber.yield(document) }
            }
        case .unchanged:
            break
        case .stale(let generation):
            logger.notice("\(path) has generation \(generation), older than the one in force: not taken")
        case .rejected(let diagnostics):
            countRefusal()
            for diagnostic in diagnostics {
                logger.error("desired-state document refused: \(diagnostic)")
            }
            if let current = store.current {
                logger.warning("generation \(current.generation) stays in force")
            }
        }
        notifier.status(statusLine)
        return outcome
    }

    /// `hcctl apply`: the document becomes the next generation, is persisted, and goes to the reconciler.
    public func apply(text: String, file: String) -> DesiredStateStore.Outcome {
        let outcome = store.apply(text: text, file: file)
        if case .accepted(let generation) = outcome, let document = store.current {
            logger.info("desired-state document applied", metadata: ["generation": "\(generation)", "from": "\(file)"])
            generationGauge.record(Int64(clamping: generation))
            persist()
            for subscriber in documentSubscribers { subscriber.yield(document) }
            notifier.status(statusLine)
        } else if case .rejected(let diagnostics) = outcome {
            countRefusal()
            logger.error("hcctl apply refused: \(diagnostics.map(\.description).joined(separator: "; "))")
        }
        return outcome
    }

    /// Counts the store's last refusal under its reason.
    private func countRefusal() {
        refusedCounters[store.lastRefusal?.reason.rawValue ?? "invalid"]?.increment()
    }

    /// A document a peer runs (gossip): taken if it is newer (or wins an equal-generation conflict).
    @discardableResult
    public func offerFromPeer(text: String, from peer: String) -> DesiredStateStore.Outcome {
        let outcome = store.offerFromPeer(text: text, file: "gossip from \(peer)")
        switch outcome {
        case .accepted(let generation):
            if store.conflict == generation {
                logger.warning("generation \(generation) exists with two contents; the one with the higher content hash wins (from \(peer))")
            }
            logger.info("desired-state document accepted", metadata: ["generation": "\(generation)", "from": "\(peer)"])
            generationGauge.record(Int64(clamping: generation))
            persist()
            if let document = store.current {
                for subscriber in documentSubscribers { subscriber.yield(document) }
            }
            notifier.status(statusLine)
        case .rejected(let diagnostics):
            // Empty: refused before, already logged and counted.
            guard !diagnostics.isEmpty else { break }
            countRefusal()
            logger.warning("a document from \(peer) was refused: \(diagnostics.map(\.description).joined(separator: "; "))")
            if let current = store.current { logger.warning("generation \(current.generation) stays in force") }
            notifier.status(statusLine)
        case .unchanged, .stale:
            break
        }
        return outcome
    }

    /// The text in force, exactly as accepted (what gossip hands to peers).
    public var documentText: String? { store.currentText }

    /// Gossip's member list, this node included.
    public func publishMembers(_ members: [MemberStatus]) {
        memberReport = members
        let liveStatuses = members.filter { $0.state == "alive" || $0.state == "suspect" }
        let addresses = liveStatuses.filter { $0.name != config.node }.compactMap { HostPort($0.address).flatMap { IPAddress($0.host) } }
        peerAddresses.publish(addresses)
    }

    /// Gossip's members, typed, with when each was last heard from (GossipMemberView).
    public func publishMemberView(_ view: MemberView) { memberView.publish(view) }

    /// Gossip's view at every change: `one` placement follows it (SingletonPlacement).
    public func memberViewChanges() -> AsyncStream<MemberView> { memberView.follow() }

    /// The addresses of the other live members at every change: VRRP's `unicast: members` peers.
    public func peerAddressChanges() -> AsyncStream<[IPAddress]> { peerAddresses.follow() }

    /// This node's convergence at every change, for gossip's metadata (so every board shows every board's).
    public func convergenceChanges() -> AsyncStream<String> { convergence.follow() }

    /// What the reconciler would do for a document, when it runs; set by the reconciler itself.
    private var planner: (@Sendable (DesiredState) async -> [String])?

    public func setPlanner(_ planner: (@Sendable (DesiredState) async -> [String])?) {
        self.planner = planner
    }

    /// The plan for a document: per node from the document in force, and this node's exact steps.
    public func plan(text: String, file: String) async -> Result<PlanReport, FileRejected> {
        let document: DesiredState
        switch DesiredStateParser.parse(text, file: file) {
        case .failure(let refusal): return .failure(refusal)
        case .success(let parsed): document = parsed
        }
        let generation = max(document.generation, (store.current?.generation ?? 0) + 1)
        let nodes = DocumentChanges.perNode(from: store.current, to: document)
        let steps = await planner?(document)
        var refusals = store.policyViolations(of: document, text: text, file: file)
        // A signed text is checked as it is; an unsigned one is what hcctl apply signs, so only say so.
        if let verifier = store.verifier, DocumentSignature.isSigned(text), case .failure(let why) = verifier.verify(text) {
            refusals.append(Diagnostic(file: file, mark: nil, path: "", message: why.description))
        }
        return .success(PlanReport(generation: generation, nodes: nodes, node: config.node, steps: steps, refusals: refusals))
    }

    /// Keeps the document in force in state_dir; a failure is state_dir's problem (StateDirService retries).
    @discardableResult
    func persist() -> Bool {
        guard let text = store.currentText else { return true }
        TextFile.makeDirectories(config.stateDir)
        return problems.keepInStateDir { try TextFile.writeAtomically(persistedPath, text) }
    }

    /// Every document accepted from now on, starting with the one in force.
    public func documents() -> AsyncStream<DesiredState> {
        let (stream, continuation) = AsyncStream.makeStream(of: DesiredState.self, bufferingPolicy: .bufferingNewest(1))
        if let document = store.current { continuation.yield(document) }
        documentSubscribers.append(continuation)
        return stream
    }

    /// The reconciler's view of this node's units.
    public func publishUnits(convergence newConvergence: String, units: [UnitStatus]) {
        unitReport = (newConvergence, units)
        if convergence.publish(newConvergence) { notifier.status(statusLine) }
    }

    /// Where hcctl probes and status read the probes' live view; set by the probe service while it runs.
    public func setProbeReporter(_ reporter: (@Sendable () async -> [ProbeStatus])?) { probeReporter = reporter }

    /// How many probes run here and which fail (at every change of health).
    public func publishProbeSummary(_ summary: ProbeSummary) { probeSummary.publish(summary) }
    /// How many probes run here and which fail, for the gossip metadata.
    public func probeSummaryChanges() -> AsyncStream<ProbeSummary> { probeSummary.follow() }

    /// VIP name → the weights of its failing tracked probes (VRRP adds them to the base priority).
    public func setPriorityAdjustments(_ adjustments: [String: Int]) { priorityAdjustments.publish(adjustments) }
    public func priorityAdjustmentChanges() -> AsyncStream<[String: Int]> { priorityAdjustments.follow() }

    /// A probe with `restart: true` on its unit: failing (restart it, through the backoff) or passing again.
    public nonisolated func reportUnitHealth(_ report: UnitHealthReport) { unitHealthSink.yield(report) }

    /// A unit's ActiveState through the reconciler's bus, for `unit` probes.
    public func setUnitStateReader(_ reader: (@Sendable (String) async -> String?)?) { unitStateReader = reader }
    public func unitState(_ name: String) async -> String? { await unitStateReader?(name) }

    /// VRRP's view of this node's VIPs, and which of them it holds (for `vip:NAME` placement).
    public func publishVIPs(_ vips: [VIPStatus]) {
        vipReport = vips
        held.publish(Set(vips.filter { $0.state == "master" }.map(\.name)))
    }

    /// The names of the VIPs this node holds, now and at every change.
    public func heldVIPs() -> AsyncStream<Set<String>> { held.follow() }

    public func setHandoverHandler(_ handler: (@Sendable (String, String?) async -> Result<String, ControlError>)?) {
        handoverHandler = handler
    }

    public func setOutgoingHandovers(_ requests: [String: String]) { outgoingHandovers.publish(requests) }

    public func outgoingHandoverChanges() -> AsyncStream<[String: String]> { outgoingHandovers.follow() }

    public func setIncomingHandovers(_ vips: Set<String>) { incomingHandovers.publish(vips) }

    public func incomingHandoverChanges() -> AsyncStream<Set<String>> { incomingHandovers.follow() }

    public func setKeysHandler(_ handler: (@Sendable (ControlRequest.Command, [UInt8]?) async -> Result<String, ControlError>)?) {
        keysHandler = handler
    }

    /// hcctl keys list|install|use|remove.
    public func keys(_ command: ControlRequest.Command, key: [UInt8]?) async -> Result<String, ControlError> {
        guard let keysHandler else { return .failure(ControlError(.failed, "gossip is not running on this node")) }
        return await keysHandler(command, key)
    }

    /// hcctl vip handover NAME [--to NODE].
    public func handOver(vip name: String, to target: String? = nil) async -> Result<String, ControlError> {
        guard let handoverHandler else { return .failure(ControlError(.failed, "VRRP is not running on this node")) }
        if let target, target != config.node, let members = memberReport,
           !members.contains(where: { $0.name == target && $0.state == "alive" }) {
            return .failure(ControlError(.failed, "\(target) is not an alive member (see hcctl members)"))
        }
        return await handoverHandler(name, target)
    }

    /// One line for `systemctl status` (STATUS=).
    public var statusLine: String {
        var line = "node \(config.node)"
        if let generation = store.current?.generation {
            line += ", desired generation \(generation)"
        } else {
            line += ", no desired-state document"
        }
        if let convergence = unitReport?.convergence { line += ", \(convergence)" }
        if !store.rejected.isEmpty { line += ", last document refused (see hcctl status)" }
        return line
    }

    public var document: DesiredState? { store.current }

    public func status() async -> StatusReport {
        let probes = await probeReporter?() ?? []
        let document = store.current
        let address = config.advertisedAddress?.description ?? config.bind.description
        // Until the reconciler has read systemd: desired from the document, active unknown.
        let units = unitReport?.units ?? (document.map { UnitsForNode.units(of: config.node, in: $0) } ?? []).map {
            UnitStatus(name: $0.name, desired: $0.state.rawValue, active: "unknown")
        }
        var report = StatusReport(
            node: config.node,
            cluster: document?.cluster,
            version: Self.version,
            desired: DesiredSummary(
                generation: document?.generation, file: config.desired, rejected: store.rejected, signedBy: store.signer,
                trustedKeys: store.verifier?.trusted.map(\.id) ?? [], policy: store.policy?.policy.summary,
                refused: store.refusals.map {
                    DocumentRefusal(reason: $0.reason.rawValue, generation: $0.generation, source: $0.source, messages: $0.diagnostics)
                }),
            members: memberReport ?? [MemberStatus(name: config.node, address: address, state: "alive")],
            // Until VRRP reports, every VIP of the document is in VRRP's Initialize state.
            vips: vipReport ?? (document?.vips ?? []).map { VIPStatus(name: $0.name, address: $0.address.description, state: "init", holder: nil) },
            units: units,
            convergence: unitReport?.convergence,
            probes: probes
        )
        report.problems = problems.all
        return report
    }
}

/// What a `restart: true` probe says of its unit.
public enum UnitHealthReport: Sendable, Equatable {
    case failing(unit: String, reason: String)
    case healthy(unit: String)
}
