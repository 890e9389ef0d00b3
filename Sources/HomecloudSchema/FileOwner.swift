// A managed file's owner as the document names it (`owner: dnas:dnas`, or numeric ids): resolved to ids on each
// board, where the names mean something.
public struct FileOwner: Sendable, Hashable, CustomStringConvertible {
    public var user: String
    public var group: String

    public static let root = FileOwner(user: "root", group: "root")

    public init(user: String, group: String) {
        self.user = user
        self.group = group
    }

    /// "user:group" with each part a login name (a letter or _ first, then letters, digits, _ . -, at most 32) or a
    /// number; nil otherwise.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ Self.isName($0) }) else { return nil }
        self.init(user: String(parts[0]), group: String(parts[1]))
    }

    public var description: String { "\(user):\(group)" }

    static func isName(_ part: Substring) -> Bool {
        guard let first = part.first, part.count <= 32 else { return false }
        if part.allSatisfy({ $0.isASCII && $0.isNumber }) { return UInt32(part) != nil }
        let letters: (Character) -> Bool = { $0.isASCII && ($0.isLowercase || $0.isUppercase) }
        return (letters(first) || first == "_")
            && part.allSatisfy { $0.isASCII && (letters($0) || $0.isNumber || "_.-".contains($0)) }
    }
}

/// A FileOwner as ids on this board, or why it has none there (an unknown user).
public struct OwnerIDs: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public static let root = OwnerIDs(uid: 0, gid: 0)
    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }
}
