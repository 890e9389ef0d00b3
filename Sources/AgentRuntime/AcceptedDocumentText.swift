// The text of the document in force, readable from any thread without waiting for AgentState's actor.
import Synchronization

/// Gossip hands the text to peers the moment a document is accepted; asking the actor for it would wait until
/// the actor had also kept the document in state_dir (an fsync: tens of milliseconds, more on a busy disk).
final class AcceptedDocumentText: Sendable {
    private let text = Mutex<String?>(nil)

    func set(_ value: String?) { text.withLock { $0 = value } }

    var value: String? { text.withLock { $0 } }
}
