// Keeps the desired-state document in force: takes it from desired.yaml, hcctl apply and peers, keeps it in
// state_dir, and publishes every accepted one on the documents channel.
import HomecloudSchema
import HomecloudYAML
import Logging
import Metrics
import PartWiring
import Reconciler
import Trust

public actor DocumentKeeper {
    public let config: AgentConfig
    private var store: DesiredStateStore
    private let logger: Logger
    private let generationGauge = Gauge(label: "hcagent_desired_generation")
    /// Refused documents by reason: invalid, signature, policy, generation.
    private let refusedCounters = Dictionary(uniqueKeysWithValues: ["invalid", "signature", "policy", "generation"].map {
        ($0, Counter(label: "hcagent_desired_refused_total", dimensions: [("reason", $0)]))
    })
    /// Every accepted document goes out here (the parts that run it follow it).
    public nonisolated let documents: LatestValue<AcceptedDocument>
    /// Every refusal goes out here (each publish is one refusal), for hcctl events.
    public nonisolated let refusals = LatestValue<DocumentRefusal>()
    /// Parts that run degraded and why (see PartProblems), for hcctl status.
    public nonisolated let problems: PartProblems

    public init(config: AgentConfig, logger: Logger, documents: LatestValue<AcceptedDocument> = LatestValue(),
                problems: PartProblems? = nil) {
        self.config = config
        self.documents = documents
        self.logger = logger
        // agent.yaml's keys were checked when it was loaded (Agent.loadConfig).
        let verifier = (try? TrustSetup.verifier(for: config, file: config.policyFile ?? AgentConfig.defaultPath).get()) ?? nil
        store = DesiredStateStore(verifier: verifier, policy: config.policyCheck)
        for warning in TrustSetup.warnings(for: config) { logger.warning("\(warning)") }
        if let verifier { logger.info("only documents signed by a trusted admin key are taken: \(verifier.trusted.map(\.id).joined(separator: ", "))") }
        self.problems = problems ?? PartProblems(logger: logger)
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
            publishDocument()
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
            // Handed on first: gossip and the reconciler need not wait for the fsync.
            publishDocument()
            persist()
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
        return outcome
    }

    /// `hcctl apply`: the document becomes the next generation, is persisted, and goes to the reconciler.
    public func apply(text: String, file: String) -> DesiredStateStore.Outcome {
        let outcome = store.apply(text: text, file: file)
        if case .accepted(let generation) = outcome {
            logger.info("desired-state document applied", metadata: ["generation": "\(generation)", "from": "\(file)"])
            generationGauge.record(Int64(clamping: generation))
            // Handed on first: gossip and the reconciler need not wait for the fsync.
            publishDocument()
            persist()
        } else if case .rejected(let diagnostics) = outcome {
            countRefusal()
            logger.error("hcctl apply refused: \(diagnostics.map(\.description).joined(separator: "; "))")
        }
        return outcome
    }

    /// Counts the store's last refusal under its reason.
    private func countRefusal() {
        refusedCounters[store.lastRefusal?.reason.rawValue ?? "invalid"]?.increment()
        if let refusal = store.lastRefusal {
            refusals.publish(DocumentRefusal(reason: refusal.reason.rawValue, generation: refusal.generation, source: refusal.source,
                                             messages: refusal.diagnostics))
        }
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
            // Handed on first: gossip and the reconciler need not wait for the fsync.
            publishDocument()
            persist()
        case .rejected(let diagnostics):
            // Empty: refused before, already logged and counted.
            guard !diagnostics.isEmpty else { break }
            countRefusal()
            logger.warning("a document from \(peer) was refused: \(diagnostics.map(\.description).joined(separator: "; "))")
            if let current = store.current { logger.warning("generation \(current.generation) stays in force") }
        case .unchanged, .stale:
            break
        }
        return outcome
    }

    /// The text in force, exactly as accepted (what gossip hands to peers).
    public var documentText: String? { store.currentText }

    /// The plan for a document: per node from the document in force, and this node's exact steps.
    /// `steps`: the reconciler's dry run (nil where it does not run).
    /// `members`: gossip's members as this board sees them, for what the cluster would not follow.
    public func plan(text: String, file: String, members: [MemberStatus] = [],
                     steps planner: @Sendable (DesiredState) async -> [String]?) async -> Result<PlanReport, FileRejected> {
        let document: DesiredState
        switch DesiredStateParser.parse(text, file: file) {
        case .failure(let refusal): return .failure(refusal)
        case .success(let parsed): document = parsed
        }
        let generation = max(document.generation, (store.current?.generation ?? 0) + 1)
        let nodes = DocumentChanges.perNode(from: store.current, to: document)
        let steps = await planner(document)
        var refusals = store.policyViolations(of: document, text: text, file: file)
        // A signed text is checked as it is; an unsigned one is what hcctl apply signs, so only say so.
        if let verifier = store.verifier, DocumentSignature.isSigned(text), case .failure(let why) = verifier.verify(text) {
            refusals.append(Diagnostic(file: file, mark: nil, path: "", message: why.description))
        }
        var report = PlanReport(generation: generation, nodes: nodes, node: config.node, steps: steps, refusals: refusals)
        let warnings = VersionSkew.warnings(requires: document.requires, members: members, inForce: store.current?.generation)
        report.warnings = warnings.isEmpty ? nil : warnings
        return .success(report)
    }

    /// Keeps the document in force in state_dir; a failure is state_dir's problem (StateDirService retries).
    @discardableResult
    func persist() -> Bool {
        guard let text = store.currentText else { return true }
        TextFile.makeDirectories(config.stateDir)
        return problems.keepInStateDir { try TextFile.writeAtomically(persistedPath, text) }
    }

    /// Tells the parts of the document in force, as accepted.
    private func publishDocument() {
        if let document = store.current, let text = store.currentText { documents.publish(AcceptedDocument(document: document, text: text)) }
    }

    public var document: DesiredState? { store.current }

    /// The document's part of hcctl status.
    var summary: DesiredSummary {
        DesiredSummary(
            generation: store.current?.generation, file: config.desired, rejected: store.rejected, signedBy: store.signer,
            trustedKeys: store.verifier?.trusted.map(\.id) ?? [], policy: store.policy?.policy.summary,
            refused: store.refusals.map {
                DocumentRefusal(reason: $0.reason.rawValue, generation: $0.generation, source: $0.source, messages: $0.diagnostics)
            })
    }
}
