// The agent's release version, and the comparison a document's `requires:` asks of it (issue 16, mixed versions).

/// MAJOR.MINOR.PATCH, compared field by field; "0.2" is 0.2.0.
public struct AgentVersion: Sendable, Equatable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var patch: Int

    /// This build's version: in status, gossip metadata, metrics, and against a document's `requires:`.
    public static let current = AgentVersion(major: 0, minor: 3, patch: 0)

    public init(major: Int, minor: Int, patch: Int) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// "1", "1.2" or "1.2.3", each field digits only (at most 6); nil for anything else.
    public init?(_ text: String) {
        let fields = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...3).contains(fields.count) else { return nil }
        var numbers: [Int] = []
        for field in fields {
            guard !field.isEmpty, field.utf8.count <= 6, field.utf8.allSatisfy({ (48...57).contains($0) }), let number = Int(field) else {
                return nil
            }
            numbers.append(number)
        }
        while numbers.count < 3 { numbers.append(0) }
        self.init(major: numbers[0], minor: numbers[1], patch: numbers[2])
    }

    public static func < (lhs: AgentVersion, rhs: AgentVersion) -> Bool {
        (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
    }

    public var description: String { "\(major).\(minor).\(patch)" }
}
