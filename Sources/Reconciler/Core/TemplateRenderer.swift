// Renders a managed file's template with this board's facts: its name and address, the cluster, the VIPs, the
// nodes of each role as the document lists them (never the live membership: a flapping board rewrites nothing),
// with the facts each published (the last value known, kept while it is down).
import HomecloudSchema

/// What a template may print on one board.
public struct TemplateFacts: Sendable, Equatable {
    public struct NodeFact: Sendable, Equatable {
        public var name: String
        public var address: String?
        /// Its published facts (`N.facts.NAME`), by name.
        public var facts: [String: String]
        public init(name: String, address: String?, facts: [String: String] = [:]) {
            self.name = name
            self.address = address
            self.facts = facts
        }
    }

    public var node: String
    /// This board's IP without a port (agent.yaml's bind or advertise, else the document's address for it).
    public var address: String?
    public var cluster: String
    public var vips: [String: String]
    public var roleNodes: [String: [NodeFact]]
    /// Shared secrets this board holds, by name (SharedSecretValues).
    public var secrets: [String: String]

    public init(node: String, address: String?, cluster: String, vips: [String: String] = [:],
                roleNodes: [String: [NodeFact]] = [:], secrets: [String: String] = [:]) {
        self.node = node
        self.address = address
        self.cluster = cluster
        self.vips = vips
        self.roleNodes = roleNodes
        self.secrets = secrets
    }

    /// The facts a document gives this board; `address` is what agent.yaml says (nil when it binds a wildcard).
    /// `nodeFacts`: the facts known of the document's boards (gossip's NodeFactBook).
    public init(document: DesiredState, node: String, address: String?, nodeFacts: NodeFactValues = NodeFactValues()) {
        var roleNodes: [String: [NodeFact]] = [:]
        for role in document.roles {
            roleNodes[role.name] = document.nodes(withRole: role.name).map {
                NodeFact(name: $0.name, address: $0.address?.description, facts: nodeFacts.values[$0.name] ?? [:])
            }
        }
        let listed = document.nodes.first { $0.name == node }?.address?.description
        self.init(node: node, address: address ?? listed, cluster: document.cluster,
                  vips: Dictionary(document.vips.map { ($0.name, $0.address.address.description) }, uniquingKeysWith: { first, _ in first }),
                  roleNodes: roleNodes)
    }
}

public enum TemplateRenderer {
    public struct RenderError: Error, Sendable, Equatable, CustomStringConvertible {
        public var position: Template.Position
        public var message: String
        /// The secret this board does not hold yet: the file waits for it (it is not an error of the document).
        public var waitingForSecret: String? = nil
        /// The fact a node has not published yet (`NAME of NODE`): the file waits for it, as for a secret.
        public var waitingForFact: String? = nil
        public var description: String { "\(position): \(message)" }
    }

    /// The text, or the first fact this board lacks (the document checker catches all others before).
    /// `secretPlaceholder`: print secrets as `«secret NAME»` (hcctl plan's diff never shows a secret's value).
    public static func render(_ template: Template, facts: TemplateFacts, secretPlaceholder: Bool = false) -> Result<String, RenderError> {
        var output = ""
        var bound: [String: TemplateFacts.NodeFact] = [:]
        func emit(_ pieces: [Template.Piece]) throws(RenderError) {
            for piece in pieces {
                switch piece {
                case .text(let text):
                    output += text
                case .fact(let fact, let at):
                    output += try value(of: fact, at: at)
                case .loop(let variable, let role, let body, let at, let requiring):
                    guard let nodes = facts.roleNodes[role] else {
                        throw RenderError(position: at, message: "unknown role \"\(role)\"")
                    }
                    for node in nodes where requiring.map({ node.facts[$0] != nil }) ?? true {
                        bound[variable] = node
                        try emit(body)
                    }
                    bound[variable] = nil
                }
            }
        }
        func value(of fact: Template.Fact, at: Template.Position) throws(RenderError) -> String {
            switch fact {
            case .node: return facts.node
            case .cluster: return facts.cluster
            case .address:
                guard let address = facts.address else {
                    throw RenderError(position: at, message: "address: this board's address is not known (agent.yaml binds a wildcard and gives no advertise; or give the node an address in the document)")
                }
                return address
            case .vipIP(let name):
                guard let ip = facts.vips[name] else { throw RenderError(position: at, message: "unknown VIP \"\(name)\"") }
                return ip
            case .secret(let name):
                if secretPlaceholder { return "«secret \(name)»" }
                guard let secret = facts.secrets[name] else {
                    throw RenderError(position: at, message: "secret \"\(name)\" is not known here yet", waitingForSecret: name)
                }
                return secret
            case .loopName(let variable):
                guard let node = bound[variable] else { throw RenderError(position: at, message: "\(variable) is not a loop variable here") }
                return node.name
            case .loopAddress(let variable):
                guard let node = bound[variable] else { throw RenderError(position: at, message: "\(variable) is not a loop variable here") }
                guard let address = node.address else {
                    throw RenderError(position: at, message: "node \(node.name) has no address in the document")
                }
                return address
            case .loopFact(let variable, let name):
                guard let node = bound[variable] else { throw RenderError(position: at, message: "\(variable) is not a loop variable here") }
                guard let value = node.facts[name] else {
                    throw RenderError(position: at, message: "fact \(name) of node \(node.name) is not known here yet",
                                      waitingForFact: "\(name) of \(node.name)")
                }
                return value
            }
        }
        do {
            try emit(template.pieces)
            return .success(output)
        } catch {
            return .failure(error)
        }
    }
}
