// Which desired-state document is in force: a newer valid one replaces it, anything else is refused and kept aside.
import HomecloudSchema
import HomecloudYAML
import Reactor
import Trust

/// Pure bookkeeping for the document in force. A refused document never replaces the one in force, so a
/// typo in desired.yaml cannot stop a board's services. With trusted admin keys, every source (the file,
/// hcctl apply, gossip, the persisted copy) must bring a document signed by one of them; with a local policy,
/// a document that asks this board for more than it allows is refused whole.
public struct DesiredStateStore: Sendable {
    public private(set) var current: DesiredState?
    public private(set) var currentText: String?
    /// Why the last offered document was refused; empty once a good one is offered.
    public private(set) var rejected: [Diagnostic] = []
    /// nil: no trusted_admin_keys, any well-formed document is taken.
    public let verifier: DocumentVerifier?
    /// nil: no policy, the document may ask anything of this board.
    public let policy: PolicyCheck?
    /// The key id that signed the document in force; nil when it is unsigned.
    public private(set) var signer: String?
    /// The last refusals (newest last), from every source, for hcctl status.
    public private(set) var refusals: [Refusal] = []
    /// Peers' documents refused here, by gossip's content hash (to skip fetching them again) and by SHA-256
    /// (to refuse the same text again without a second message). A crafted text that shares a refused one's
    /// 64-bit hash is still checked in full when a push-pull brings it.
    private var refusedDocuments: [(hash: UInt64, digest: [UInt8])] = []

    public enum Outcome: Sendable, Equatable {
        case accepted(generation: UInt64)
        case unchanged
        /// A valid document older than the one in force (applied or spread since): not an error, just old.
        case stale(generation: UInt64)
        case rejected([Diagnostic])
    }

    /// Why a document was refused, in one word (the metric's reason label).
    public enum Reason: String, Sendable, Equatable {
        case invalid, signature, policy, generation
    }

    public struct Refusal: Error, Sendable, Equatable {
        public var reason: Reason
        public var generation: UInt64?
        public var hash: UInt64
        public var source: String
        public var diagnostics: [Diagnostic]
    }

    static let refusalsKept = 8
    static let refusedHashesKept = 64

    public init(verifier: DocumentVerifier? = nil, policy: PolicyCheck? = nil) {
        self.verifier = verifier
        self.policy = policy
    }

    /// The last refusal's reason (set with every .rejected outcome).
    public var lastRefusal: Refusal? { refusals.last }

    /// Whether a peer's document (its generation and content hash, from gossip metadata) was refused here
    /// already: gossip asks before fetching it again.
    public func wasRefused(generation: UInt64, hash: UInt64) -> Bool { refusedDocuments.contains { $0.hash == hash } }

    /// Parses (unless the caller has, from the same text), then checks the signature and the policy: the
    /// document, its signer, or why it is refused.
    private func admit(_ text: String, file: String, parsed: DesiredState? = nil) -> Result<(DesiredState, signer: String?), Refusal> {
        // A large document's parse tree is gone once this returns: its pages go back to the kernel.
        defer { if text.utf8.count > 64 * 1024 { FreedMemory.release() } }
        let hash = DocumentHash.of(text)
        let document: DesiredState
        if let parsed {
            document = parsed
        } else {
            switch DesiredStateParser.parse(text, file: file) {
            case .failure(let refusal):
                return .failure(Refusal(reason: .invalid, generation: nil, hash: hash, source: file, diagnostics: refusal.diagnostics))
            case .success(let parsed): document = parsed
            }
        }
        var signer: String?
        if let verifier {
            switch verifier.verify(text) {
            case .success(let id): signer = id
            case .failure(let why):
                return .failure(Refusal(reason: .signature, generation: document.generation, hash: hash, source: file,
                                        diagnostics: [Diagnostic(file: file, mark: nil, path: "", message: why.description)]))
            }
        }
        if let policy {
            let violations = policy.violations(of: document, text: text, file: file)
            if !violations.isEmpty {
                return .failure(Refusal(reason: .policy, generation: document.generation, hash: hash, source: file, diagnostics: violations))
            }
        }
        return .success((document, signer))
    }

    private mutating func note(_ refusal: Refusal) {
        refusals.append(refusal)
        if refusals.count > Self.refusalsKept { refusals.removeFirst(refusals.count - Self.refusalsKept) }
    }

    private mutating func take(_ document: DesiredState, text: String, signer: String?) {
        current = document
        currentText = text
        self.signer = signer
    }

    /// Offers a document's text (desired.yaml, or the copy persisted in state_dir). The first valid one is
    /// taken; after that only a higher generation.
    public mutating func offer(text: String, file: String) -> Outcome {
        if current != nil, text == currentText {
            rejected = []
            return .unchanged
        }
        switch admit(text, file: file) {
        case .failure(let refusal):
            note(refusal)
            rejected = refusal.diagnostics
            return .rejected(rejected)
        case .success(let (document, signer)):
            if let current {
                if document.generation == current.generation && document == current {
                    rejected = []
                    return .unchanged
                }
                if document.generation < current.generation {
                    rejected = []
                    return .stale(generation: document.generation)
                }
                if document.generation == current.generation {
                    rejected = [Diagnostic(file: file, mark: nil, path: "generation", message:
                        "generation \(document.generation) is already in force with other content; bump generation to apply this document")]
                    note(Refusal(reason: .generation, generation: document.generation, hash: DocumentHash.of(text), source: file, diagnostics: rejected))
                    return .rejected(rejected)
                }
            }
            take(document, text: text, signer: signer)
            rejected = []
            return .accepted(generation: document.generation)
        }
    }

    /// A document a peer runs, received by gossip. A higher generation wins; the same generation with other
    /// content goes to the text with the higher content hash, the same on every board (reported as a
    /// conflict). A peer's bad document is refused without touching `rejected`, which is about local files,
    /// and remembered, so that gossip does not fetch it again.
    public mutating func offerFromPeer(text: String, file: String) -> Outcome {
        if let currentText, text == currentText { return .unchanged }
        let hash = DocumentHash.of(text)
        let digest = DocumentSignature.digest(text)
        if refusedDocuments.contains(where: { $0.hash == hash && $0.digest == digest }) { return .rejected([]) }
        let document: DesiredState, signer: String?
        switch admit(text, file: file) {
        case .failure(var refusal):
            // A peer's parse errors are not this board's to fix, but "this agent is too old" is: that one line stays
            // (the upgrade message `requires:` promises; bench/mixed-versions.sh).
            if refusal.reason == .invalid {
                let tooOld = refusal.diagnostics.filter { $0.path == "requires" }
                refusal.diagnostics = tooOld.isEmpty
                    ? [Diagnostic(file: file, mark: nil, path: "", message: "a peer's document does not parse here")] : tooOld
            }
            note(refusal)
            refusedDocuments.append((hash, digest))
            if refusedDocuments.count > Self.refusedHashesKept { refusedDocuments.removeFirst() }
            return .rejected(refusal.diagnostics)
        case .success(let admitted): (document, signer) = admitted
        }
        if let current, let currentText {
            if document.generation < current.generation { return .stale(generation: document.generation) }
            if document.generation == current.generation {
                guard hash > DocumentHash.of(currentText) else { return .unchanged }
                conflict = document.generation
            }
        }
        take(document, text: text, signer: signer)
        return .accepted(generation: document.generation)
    }

    /// The last generation seen with two different contents (resolved by content hash), for hcctl status.
    public private(set) var conflict: UInt64?

    /// `hcctl apply`: an unsigned document is taken whatever its generation, as the next generation after the
    /// one in force (its text keeps every byte but the generation's value). A signed text is never renumbered
    /// (that would break its signature): its generation must be above the one in force. A refusal is the
    /// caller's, not the file's.
    public mutating func apply(text: String, file: String) -> Outcome {
        let signed = verifier != nil || DocumentSignature.isSigned(text)
        if signed, current != nil, text == currentText { return .unchanged }
        var text = text
        // Parsed once: a large document takes tens of milliseconds to parse, and the apply waits for it.
        var unsignedDocument: DesiredState?
        if !signed {
            guard case .success(var parsed) = DesiredStateParser.parse(text, file: file) else {
                guard case .failure(let refusal) = admit(text, file: file) else { return .rejected([]) }
                return refuseApply(refusal)
            }
            let generation = max(parsed.generation, (current?.generation ?? 0) + 1)
            if generation != parsed.generation {
                guard let renumbered = DesiredStateParser.settingGeneration(of: text, to: generation) else {
                    return .rejected([Diagnostic(file: file, mark: nil, path: "generation", message: "cannot set the generation to \(generation); write it as a plain number")])
                }
                // The same text but the generation's value: the same document with the new generation.
                text = renumbered
                parsed.generation = generation
            }
            unsignedDocument = parsed
        }
        let document: DesiredState, signer: String?
        switch admit(text, file: file, parsed: unsignedDocument) {
        case .failure(let refusal): return refuseApply(refusal)
        case .success(let admitted): (document, signer) = admitted
        }
        if let current, document.generation <= current.generation {
            let refusal = Refusal(reason: .generation, generation: document.generation, hash: DocumentHash.of(text), source: file, diagnostics: [
                Diagnostic(file: file, mark: nil, path: "generation", message:
                    "signed with generation \(document.generation), which is no longer above the one in force (\(current.generation)); run hcctl apply again"),
            ])
            return refuseApply(refusal)
        }
        take(document, text: text, signer: signer)
        return .accepted(generation: document.generation)
    }

    private mutating func refuseApply(_ refusal: Refusal) -> Outcome {
        note(refusal)
        return .rejected(refusal.diagnostics)
    }

    /// What plan shows before anyone applies: this board's policy refusals of a document.
    public func policyViolations(of document: DesiredState, text: String, file: String) -> [Diagnostic] {
        policy?.violations(of: document, text: text, file: file) ?? []
    }

    /// A file that cannot be read is refused like a bad one; the document in force stays.
    public mutating func unreadable(_ failure: TextFile.Failure, file: String) -> Outcome {
        rejected = [Diagnostic(file: file, mark: nil, path: "", message: failure.reason)]
        return .rejected(rejected)
    }
}
