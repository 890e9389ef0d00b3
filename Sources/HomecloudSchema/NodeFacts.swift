// Per-board facts (issue 15's leftover): the document's `facts:` (name → the role whose boards each read which
// file, and how the file becomes a short value), and the values known of each board, for templates.

/// `facts: { NAME: { role: ROLE, file: /ABS/PATH, as: KIND } }`: every board of ROLE reads its own file, derives
/// the value and publishes it in its gossip metadata; templates print it as `{{ N.facts.NAME }}` in a loop.
public struct NodeFactSpec: Sendable, Equatable {
    public var name: String
    public var role: String
    public var file: String
    public var kind: Kind

    public init(name: String, role: String, file: String, kind: Kind) {
        self.name = name
        self.role = role
        self.file = file
        self.kind = kind
    }

    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// The file is Syncthing's cert.pem; the value its device ID (SyncthingDeviceID).
        case syncthingDeviceID = "syncthing-device-id"
        /// The file's one line of text (a trailing newline dropped), as it is.
        case text
    }

    /// The longest value a board publishes: every fact rides every gossip message's metadata (512 bytes in all).
    public static let maxValueBytes = 96

    /// Whether `value` can be a fact's value: printable ASCII, no more than maxValueBytes, not empty.
    public static func isValidValue(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.count <= maxValueBytes && value.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
    }
}

extension DesiredState {
    public func fact(named name: String) -> NodeFactSpec? { facts.first { $0.name == name } }
}

/// The facts known of the document's boards: node → fact name → value. Kept when a board is down (its last
/// published value), so a flapping board rewrites no file.
public struct NodeFactValues: Sendable, Equatable, CustomStringConvertible {
    public var values: [String: [String: String]]

    public init(_ values: [String: [String: String]] = [:]) { self.values = values }

    public func value(of name: String, node: String) -> String? { values[node]?[name] }

    public var description: String {
        "facts [" + values.keys.sorted().map { node in
            "\(node): \(values[node, default: [:]].keys.sorted().joined(separator: ","))"
        }.joined(separator: "; ") + "]"
    }
}
