// Whether a unit's `wait_for:` conditions hold on this board now: probes on live boards, secrets, files.
import HomecloudSchema

public enum WaitConditions {
    /// What the conditions are judged against; every part comes from the shell (gossip, the secrets store,
    /// a look at the file system), none is read here.
    public struct Inputs: Sendable, Equatable {
        /// Gossip's view (states and each member's probe summary); nil until gossip has said: probes then wait.
        public var members: MemberView?
        /// The names of the shared secrets available on this board.
        public var secrets: Set<String>
        /// The awaited paths that exist on this board.
        public var files: Set<String>

        public init(members: MemberView? = nil, secrets: Set<String> = [], files: Set<String> = []) {
            self.members = members
            self.secrets = secrets
            self.files = files
        }
    }

    /// The conditions that do not hold, in the unit's order (empty: it may start).
    public static func unmet(_ conditions: [WaitCondition], node: String, document: DesiredState, inputs: Inputs) -> [WaitCondition] {
        conditions.filter { !holds($0, node: node, document: document, inputs: inputs) }
    }

    public static func holds(_ condition: WaitCondition, node: String, document: DesiredState, inputs: Inputs) -> Bool {
        switch condition {
        case .secret(let name): return inputs.secrets.contains(name)
        case .file(let path): return inputs.files.contains(path)
        case .probe(let probe, let role):
            guard let view = inputs.members else { return false }
            let boards = role.map { role in document.nodes(withRole: role).map(\.name) } ?? document.nodes.map(\.name)
            return boards.contains { board in
                isLive(board, node: node, view: view) && view.probes[board]?.isHealthy(probe) == true
            }
        }
    }

    /// This board, or one gossip says is alive: a suspect, dead or departed board, or one gossip does not
    /// know, does not count (its metadata is what it said before it went quiet).
    static func isLive(_ board: String, node: String, view: MemberView) -> Bool {
        board == node || view.states[board] == .alive
    }
}
