// Per-board facts over gossip: which values of the document's `facts:` a board knows of each board of the fact's
// role (its own, read from its file, and the others', from their metadata "nf"), kept while a board is down;
// which of its own files a board may read; how a file becomes a value. Pure: the shell stats, reads, hashes.
import HomecloudSchema

public struct NodeFactBook: Sendable, Equatable {
    public let node: String
    public private(set) var specs: [NodeFactSpec] = []
    /// The document's boards and their roles (nil before the first document: everything restored is kept).
    private(set) var documentRoles: [String: [String]]?
    /// node → fact name → the last value it published (this board's own included).
    public private(set) var known: [String: [String: String]] = [:]

    public init(node: String) { self.node = node }

    /// At start, the values kept in state_dir: a board that is down now still counts with its last value.
    public mutating func restore(_ values: [String: [String: String]]) {
        for (node, facts) in values {
            for (name, value) in facts where NodeFactSpec.isValidValue(value) { known[node, default: [:]][name] = value }
        }
    }

    /// The document's facts and boards: values of boards or facts it no longer names (or of a board that lost the
    /// role) are forgotten. Returns whether the values changed.
    public mutating func onDocument(_ specs: [NodeFactSpec], nodes: [NodeAssignment]) -> Bool {
        self.specs = specs
        documentRoles = Dictionary(nodes.map { ($0.name, $0.roles) }, uniquingKeysWith: { first, _ in first })
        return prune()
    }

    private mutating func prune() -> Bool {
        let before = known
        for (node, facts) in known {
            let kept = facts.filter { name, _ in applies(name, to: node) }
            known[node] = kept.isEmpty ? nil : kept
        }
        return known != before
    }

    /// Whether the document has `node` publish the fact `name` (it has the fact's role).
    func applies(_ name: String, to node: String) -> Bool {
        guard let spec = specs.first(where: { $0.name == name }) else { return false }
        return documentRoles?[node]?.contains(spec.role) ?? false
    }

    /// This board's own value, read from its file. Returns whether it changed.
    public mutating func onOwn(name: String, value: String) -> Bool {
        guard applies(name, to: node), NodeFactSpec.isValidValue(value), known[node]?[name] != value else { return false }
        known[node, default: [:]][name] = value
        return true
    }

    /// A member's facts as its (believed) metadata says. Only the facts the document has it publish, with a valid
    /// value; a fact it does not say (not read yet, or trimmed from a full metadata) keeps its last value.
    /// Returns whether the values changed.
    public mutating func onMetadata(member: String, facts: [String: String]) -> Bool {
        guard member != node else { return false }
        var changed = false
        for (name, value) in facts where applies(name, to: member) && NodeFactSpec.isValidValue(value) && known[member]?[name] != value {
            known[member, default: [:]][name] = value
            changed = true
        }
        return changed
    }

    /// What templates print.
    public var values: NodeFactValues { NodeFactValues(known) }

    /// This board's own facts for its metadata ("nf").
    public var announced: [String: String] { known[node]?.filter { applies($0.key, to: node) } ?? [:] }

    // MARK: state_dir

    /// The file state_dir/facts: a header, then `NODE NAME VALUE` a line.
    public var fileText: String {
        var text = "hcagent-facts 1\n"
        for node in known.keys.sorted() {
            for (name, value) in known[node, default: [:]].sorted(by: { $0.key < $1.key }) { text += "\(node) \(name) \(value)\n" }
        }
        return text
    }

    /// The values a kept file holds; nil when it is not one (then nothing is restored).
    public static func parse(fileText text: String) -> [String: [String: String]]? {
        var lines = text.split(separator: "\n")
        guard lines.first == "hcagent-facts 1" else { return nil }
        lines.removeFirst()
        var result: [String: [String: String]] = [:]
        for line in lines {
            let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
            result[String(parts[0]), default: [:]][String(parts[1])] = String(parts[2])
        }
        return result
    }
}

/// Which of the document's facts this board reads from its own files: those of its roles whose file its
/// agent.yaml policy lets it read and publish (`policy.secrets`, the files a board may publish, as for shared
/// secrets); without a policy every one (with the agent's warning).
public enum NodeFactSources {
    public static func plan(_ specs: [NodeFactSpec], roles: [String], policy: LocalPolicy?, policyFile: String)
        -> (read: [NodeFactSpec], refused: [String: String]) {
        var read: [NodeFactSpec] = []
        var refused: [String: String] = [:]
        for spec in specs where roles.contains(spec.role) {
            if let policy, !policy.allowsSecret(spec.file) {
                refused[spec.name] = "refused: \(spec.file) is not allowed by policy.secrets in \(policyFile) (the files this board may publish); this board does not publish it"
            } else {
                read.append(spec)
            }
        }
        return (read, refused)
    }

    /// A fact's file as its value, or why it cannot be one. `sha256`: the shell's hash (libsodium).
    public static func value(of bytes: [UInt8], kind: NodeFactSpec.Kind, sha256: ([UInt8]) -> [UInt8]) -> Result<String, Problem> {
        switch kind {
        case .syncthingDeviceID:
            switch SyncthingDeviceID.certificateDER(pem: bytes) {
            case .failure(let problem): return .failure(.certificate(problem))
            case .success(let der):
                switch SyncthingDeviceID.text(digest: sha256(der)) {
                case .failure(let problem): return .failure(.certificate(problem))
                case .success(let id): return .success(id)
                }
            }
        case .text:
            var value = bytes
            if value.last == UInt8(ascii: "\n") { value.removeLast() }
            if value.last == UInt8(ascii: "\r") { value.removeLast() }
            let text = String(decoding: value, as: UTF8.self)
            guard !value.isEmpty else { return .failure(.empty) }
            guard NodeFactSpec.isValidValue(text) else { return .failure(.notOneShortLine) }
            return .success(text)
        }
    }

    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        case certificate(SyncthingDeviceID.Problem), empty, notOneShortLine
        public var description: String {
            switch self {
            case .certificate(let problem): return "not a certificate: \(problem)"
            case .empty: return "the file is empty"
            case .notOneShortLine: return "the value is one line of printable ASCII of at most \(NodeFactSpec.maxValueBytes) bytes"
            }
        }
    }
}
