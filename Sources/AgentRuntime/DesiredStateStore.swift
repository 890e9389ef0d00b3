// Which desired-state document is in force: a newer valid one replaces it, anything else is refused and kept aside.
import HomecloudSchema

/// Pure bookkeeping for the document in force. A refused document never replaces the one in force, so a
/// typo in desired.yaml cannot stop a board's services.
public struct DesiredStateStore: Sendable {
    public private(set) var current: DesiredState?
    public private(set) var currentText: String?
    /// Why the last offered document was refused; empty once a good one is offered.
    public private(set) var rejected: [Diagnostic] = []

    public enum Outcome: Sendable, Equatable {
        case accepted(generation: UInt64)
        case unchanged
        /// A valid document older than the one in force (applied or spread since): not an error, just old.
        case stale(generation: UInt64)
        case rejected([Diagnostic])
    }

    public init() {}

    /// Offers a document's text. The first valid one is taken; after that only a higher generation.
    public mutating func offer(text: String, file: String) -> Outcome {
        switch DesiredStateParser.parse(text, file: file) {
        case .failure(let refusal):
            rejected = refusal.diagnostics
            return .rejected(rejected)
        case .success(let document):
            if let current {
                if document.generation == current.generation && (text == currentText || document == current) {
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
                    return .rejected(rejected)
                }
            }
            current = document
            currentText = text
            rejected = []
            return .accepted(generation: document.generation)
        }
    }

    /// A document a peer runs, received by gossip. A higher generation wins; the same generation with other
    /// content goes to the text with the higher content hash, the same on every board (reported as a
    /// conflict). A peer's bad document is refused without touching `rejected`, which is about local files.
    public mutating func offerFromPeer(text: String, file: String) -> Outcome {
        guard case .success(let document) = DesiredStateParser.parse(text, file: file) else {
            return .rejected([Diagnostic(file: file, mark: nil, path: "", message: "a peer's document does not parse here")])
        }
        if let current, let currentText {
            if text == currentText { return .unchanged }
            if document.generation < current.generation { return .stale(generation: document.generation) }
            if document.generation == current.generation {
                guard DocumentHash.of(text) > DocumentHash.of(currentText) else { return .unchanged }
                conflict = document.generation
            }
        }
        current = document
        currentText = text
        return .accepted(generation: document.generation)
    }

    /// The last generation seen with two different contents (resolved by content hash), for hcctl status.
    public private(set) var conflict: UInt64?

    /// `hcctl apply`: takes a valid document whatever its generation, as the next generation after the one in
    /// force (its text keeps every byte but the generation's value). A refusal is the caller's, not the file's.
    public mutating func apply(text: String, file: String) -> Outcome {
        let document: DesiredState
        switch DesiredStateParser.parse(text, file: file) {
        case .failure(let refusal): return .rejected(refusal.diagnostics)
        case .success(let parsed): document = parsed
        }
        let generation = max(document.generation, (current?.generation ?? 0) + 1)
        guard let renumbered = generation == document.generation ? text : DesiredStateParser.settingGeneration(of: text, to: generation),
              case .success(let accepted) = DesiredStateParser.parse(renumbered, file: file) else {
            return .rejected([Diagnostic(file: file, mark: nil, path: "generation", message: "cannot set the generation to \(generation); write it as a plain number")])
        }
        current = accepted
        currentText = renumbered
        return .accepted(generation: generation)
    }

    /// A file that cannot be read is refused like a bad one; the document in force stays.
    public mutating func unreadable(_ failure: TextFile.Failure, file: String) -> Outcome {
        rejected = [Diagnostic(file: file, mark: nil, path: "", message: failure.reason)]
        return .rejected(rejected)
    }
}
