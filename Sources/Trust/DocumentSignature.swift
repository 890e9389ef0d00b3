// A signed desired-state document: its text ends with one YAML comment line carrying an Ed25519 signature of
// every byte before that line, so the text travels unchanged through files, gossip and state_dir.

/// `# hcagent-signature: ed25519 KEYID BASE64SIG` as the document's last line.
public enum DocumentSignature {
    public static let prefix = "# hcagent-signature: "

    /// A text split into what is signed and its signature line's fields; nil fields when the last line is not
    /// a signature line.
    public struct Parts: Sendable, Equatable {
        /// Every byte before the signature line (the whole text when unsigned).
        public var body: Substring
        public var keyID: String?
        public var signature: [UInt8]?
        /// The last line starts with the signature prefix but cannot be read.
        public var malformed: Bool
    }

    public static func split(_ text: String) -> Parts {
        // The last line, ignoring one final newline. Scalars, not Characters: "\r\n" is one Character, so a body
        // ending in "\r" would hide the line break before the signature line.
        let scalars = text.unicodeScalars
        var end = scalars.endIndex
        if end > scalars.startIndex, scalars[scalars.index(before: end)] == "\n" { end = scalars.index(before: end) }
        let lineStart = scalars[..<end].lastIndex(of: "\n").map { scalars.index(after: $0) } ?? scalars.startIndex
        let line = Substring(scalars[lineStart..<end])
        guard line.hasPrefix(prefix) else { return Parts(body: text[...], keyID: nil, signature: nil, malformed: false) }
        let body = Substring(scalars[..<lineStart])
        let fields = line.dropFirst(prefix.count).split(separator: " ")
        guard fields.count == 3, fields[0] == AdminPublicKey.algorithm, KeyID.isWellFormed(fields[1]),
              let signature = Ed25519.fromBase64(fields[2]), signature.count == Ed25519.signatureSize else {
            return Parts(body: body, keyID: nil, signature: nil, malformed: true)
        }
        return Parts(body: body, keyID: String(fields[1]), signature: signature, malformed: false)
    }

    /// SHA-256 of a text: what a refused document is remembered by (the 64-bit content hash gossip
    /// advertises is not collision-resistant, so it only decides what to fetch, never what to refuse).
    public static func digest(_ text: String) -> [UInt8] { Ed25519.sha256(Array(text.utf8)) }

    /// True when the text's last line is a signature line (good or not): such a text must not be renumbered.
    public static func isSigned(_ text: String) -> Bool {
        let parts = split(text)
        return parts.signature != nil || parts.malformed
    }

    /// The text without its signature line, if it has one (to edit or sign again).
    public static func unsigned(_ text: String) -> String { String(split(text).body) }

    /// Signs the text (an old signature line is dropped first): the body always ends with a newline, then the
    /// signature line.
    public static func sign(_ text: String, with key: AdminSecretKey) -> String {
        var body = unsigned(text)
        if !body.isEmpty && body.unicodeScalars.last != "\n" { body += "\n" }
        let signature = key.sign(Array(body.utf8))
        return body + prefix + "\(AdminPublicKey.algorithm) \(key.publicKey.id) \(Ed25519.base64(signature))\n"
    }
}

/// Which admin keys a board trusts, and the check every document passes before it can be in force there.
public struct DocumentVerifier: Sendable, Equatable {
    public let trusted: [AdminPublicKey]

    public init(trusted: [AdminPublicKey]) { self.trusted = trusted }

    public enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        case unsigned
        case malformed
        case unknownKey(String)
        case badSignature(String)

        public var description: String {
            switch self {
            case .unsigned:
                return "the document is not signed, and this board accepts only documents signed by a key in trusted_admin_keys (sign it: hcctl apply FILE --sign KEYFILE)"
            case .malformed:
                return "the document's last line is not a readable signature (\"\(DocumentSignature.prefix)ed25519 KEYID BASE64\")"
            case .unknownKey(let id):
                return "the document is signed by key \(id), which is not in this board's trusted_admin_keys"
            case .badSignature(let id):
                return "the signature by key \(id) does not match the document (changed after signing?)"
            }
        }
    }

    /// The id of the trusted key that signed the text, or why it is refused.
    public func verify(_ text: String) -> Result<String, Refusal> {
        let parts = DocumentSignature.split(text)
        if parts.malformed { return .failure(.malformed) }
        guard let id = parts.keyID, let signature = parts.signature else { return .failure(.unsigned) }
        guard let key = trusted.first(where: { $0.id == id }) else { return .failure(.unknownKey(id)) }
        guard key.verify(signature, of: Array(parts.body.utf8)) else { return .failure(.badSignature(id)) }
        return .success(id)
    }
}
