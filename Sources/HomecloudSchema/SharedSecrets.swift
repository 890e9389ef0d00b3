// Shared secrets (issue 15 item 3): the document's `secrets:` (name → the board that reads which file), the
// values a board holds (for templates and `wait_for: secret`), and what `hcctl status` shows of each: never a value.

/// `secrets: { NAME: { from: NODE, file: /ABS/PATH } }`: NODE reads the file and publishes it over gossip.
public struct SharedSecretSpec: Sendable, Equatable {
    public var name: String
    /// The only board whose copy is believed (sealed with its node key where node keys are checked).
    public var from: String
    public var file: String

    public init(name: String, from: String, file: String) {
        self.name = name
        self.from = from
        self.file = file
    }

    /// The largest value a board publishes (a token, a key, a small certificate): more is refused at its source.
    public static let maxValueBytes = 16 * 1024
}

/// The secrets this board holds, by name. Its description names them only, so a value never reaches a log line
/// by way of string interpolation.
public struct SharedSecretValues: Sendable, Equatable, CustomStringConvertible {
    public var values: [String: String]

    public init(_ values: [String: String] = [:]) { self.values = values }

    /// Which secrets this board has: what `wait_for: [{ secret: NAME }]` is evaluated against.
    public var names: Set<String> { Set(values.keys) }

    public var description: String { "secrets [\(values.keys.sorted().joined(separator: ", "))]" }

    /// `text` with every held value replaced by «secret NAME»: for messages that may quote a file (a validate
    /// command's output) before they go to a log or status. Longest values first, so one inside another is whole.
    public func redacted(_ text: String) -> String {
        var result = text
        for (name, value) in values.sorted(by: { $0.value.count > $1.value.count }) where !value.isEmpty {
            result = result.replacingAll(value, with: "«secret \(name)»")
        }
        return result
    }
}

extension DesiredState {
    public func secret(named name: String) -> SharedSecretSpec? { secrets.first { $0.name == name } }
}

/// One secret in `hcctl status`: where it comes from, whether this board holds it, and only a keyed fingerprint
/// and the age of its value.
public struct SecretStatus: Sendable, Equatable {
    public var name: String
    /// The board that publishes it (`from:`).
    public var from: String
    /// held, waiting (not received yet, or the file is not there yet), refused (this board's policy, a dropped copy).
    public var state: String
    /// 16 hex digits of a BLAKE2b keyed with the cluster key (SECURITY.md): the same on every board for one value.
    public var fingerprint: String?
    /// When the source read this value (unix seconds); the age is now minus this.
    public var madeAt: Int?
    /// Seconds since the source read this value, at the time of the report.
    public var age: Int?
    public var reason: String?

    public init(name: String, from: String, state: String, fingerprint: String? = nil, madeAt: Int? = nil, age: Int? = nil,
                reason: String? = nil) {
        self.name = name
        self.from = from
        self.state = state
        self.fingerprint = fingerprint
        self.madeAt = madeAt
        self.age = age
        self.reason = reason
    }
}

extension SecretStatus: JSONRecord {
    public init() { self.init(name: "", from: "", state: "") }
    public mutating func fields<Visitor: JSONFieldVisitor>(_ visitor: inout Visitor) throws(Visitor.Failure) {
        try visitor.required("name", &name)
        try visitor.required("from", &from)
        try visitor.required("state", &state)
        try visitor.optional("fingerprint", &fingerprint)
        try visitor.optional("madeAt", &madeAt)
        try visitor.optional("age", &age)
        try visitor.optional("reason", &reason)
    }
}

extension String {
    /// Every occurrence of `target` replaced (the daemon links no Foundation).
    func replacingAll(_ target: String, with replacement: String) -> String {
        let source = Array(self.utf8), pattern = Array(target.utf8)
        guard !pattern.isEmpty, source.count >= pattern.count else { return self }
        var output: [UInt8] = []
        output.reserveCapacity(source.count)
        var index = 0
        while index < source.count {
            if index + pattern.count <= source.count, source[index] == pattern[0], Array(source[index..<(index + pattern.count)]) == pattern {
                output += replacement.utf8
                index += pattern.count
            } else {
                output.append(source[index])
                index += 1
            }
        }
        return String(decoding: output, as: UTF8.self)
    }
}
