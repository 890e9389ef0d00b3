// The desired-state document in force, as the agent's store accepted it: parsed for the parts that run it, and
// its exact text for gossip to hand to peers.
import HomecloudSchema

public struct AcceptedDocument: Sendable {
    public var document: DesiredState
    public var text: String

    public init(document: DesiredState, text: String) {
        self.document = document
        self.text = text
    }
}
