// Admin keys: an Ed25519 key pair whose private half signs desired-state documents and whose public half, one
// text line, goes into every board's agent.yaml (trusted_admin_keys).
#if canImport(Glibc)
import Glibc
#endif

public struct TrustError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A key id: the first 8 bytes of the SHA-256 of the public key, in 16 hex digits (as gossip keys are shown).
public enum KeyID {
    public static func of(publicKey: [UInt8]) -> String {
        Ed25519.sha256(publicKey).prefix(8).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    static func isWellFormed(_ text: Substring) -> Bool {
        text.utf8.count == 16 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}

/// `ed25519 KEYID BASE64`: what agent.yaml's trusted_admin_keys lists. The key id is checked against the key,
/// so a line damaged by copying is refused rather than trusted under a wrong name.
public struct AdminPublicKey: Sendable, Equatable, CustomStringConvertible {
    public let bytes: [UInt8]
    public let id: String

    public static let algorithm = "ed25519"

    public init(bytes: [UInt8]) throws(TrustError) {
        guard bytes.count == Ed25519.publicKeySize else { throw TrustError("an Ed25519 public key is 32 bytes; this one has \(bytes.count)") }
        self.bytes = bytes
        id = KeyID.of(publicKey: bytes)
    }

    /// Parses the public key line; anything after the third field (a label such as `alice@laptop`) is ignored.
    public init(line: String) throws(TrustError) {
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count >= 3, fields[0] == Self.algorithm else {
            throw TrustError("expected \"ed25519 KEYID BASE64\" as printed by `hcctl keys admin generate`, found \"\(line)\"")
        }
        guard KeyID.isWellFormed(fields[1]) else { throw TrustError("\"\(fields[1])\" is not a key id (16 hex digits)") }
        guard let bytes = Ed25519.fromBase64(fields[2]), bytes.count == Ed25519.publicKeySize else {
            throw TrustError("\"\(fields[2])\" is not an Ed25519 public key (32 bytes in base64: 44 characters)")
        }
        try self.init(bytes: bytes)
        guard id == fields[1] else {
            throw TrustError("the key id \(fields[1]) does not belong to this key (its id is \(id)); copy the whole line again")
        }
    }

    /// The line to paste into trusted_admin_keys.
    public var line: String { "\(Self.algorithm) \(id) \(Ed25519.base64(bytes))" }
    public var description: String { line }

    public func verify(_ signature: [UInt8], of message: [UInt8]) -> Bool {
        Ed25519.verify(signature, of: message, publicKey: bytes)
    }
}

/// The private half: a 32-byte seed, kept in a file of mode 0600 readable only by root.
public struct AdminSecretKey: Sendable {
    private let secretKey: [UInt8]
    public let publicKey: AdminPublicKey

    public static let defaultPath = "/etc/homecloud/admin.key"
    static let fileTag = "ed25519-secret"

    public init(seed: [UInt8]) throws(TrustError) {
        guard seed.count == Ed25519.seedSize else { throw TrustError("an Ed25519 seed is 32 bytes; this one has \(seed.count)") }
        let pair = Ed25519.keyPair(seed: seed)
        secretKey = pair.secretKey
        publicKey = try AdminPublicKey(bytes: pair.publicKey)
        self.seed = seed
    }
    let seed: [UInt8]

    /// A new key from the kernel's random source (libsodium's randombytes: getrandom(2)).
    public static func generate() -> AdminSecretKey {
        // 32 random bytes always make a valid seed.
        try! AdminSecretKey(seed: Ed25519.randomBytes(Ed25519.seedSize))
    }

    /// The key file: comment lines, then `ed25519-secret KEYID BASE64SEED`.
    public var fileText: String {
        """
        # hcagent admin key (Ed25519): it signs desired-state documents. Keep it secret (mode 0600, root only).
        # Its public line, for agent.yaml's trusted_admin_keys:
        #   \(publicKey.line)
        \(Self.fileTag) \(publicKey.id) \(Ed25519.base64(seed))

        """
    }

    public static func parse(_ text: String, file: String) throws(TrustError) -> AdminSecretKey {
        try KeyFile.parse(text, file: file, tag: fileTag, expected: "not an admin key: expected \"\(fileTag) KEYID BASE64\" as written by `hcctl keys admin generate`")
    }

    public func sign(_ message: [UInt8]) -> [UInt8] { Ed25519.sign(message, secretKey: secretKey) }

    /// Writes a new key file with mode 0600; never replaces an existing file (a lost admin key cannot be
    /// recovered, and overwriting it by accident would lock the admin out of every board).
    public func write(to path: String) throws(TrustError) {
        try KeyFile.create(path, text: fileText, what: "an admin key")
    }
}

/// Private key files: created once, mode 0600, never through a symlink and never over an existing file.
enum KeyFile {
    /// The key of a file's first key line, `TAG KEYID BASE64SEED` (comment lines skipped); the key id must be the
    /// key's own, so a damaged file is refused rather than used under a wrong name. `expected`: what a bad line
    /// is told.
    static func parse(_ text: String, file: String, tag: String, expected: String) throws(TrustError) -> AdminSecretKey {
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard let first = fields.first, !first.hasPrefix("#") else { continue }
            guard fields.count == 3, first == tag, let seed = Ed25519.fromBase64(fields[2]), seed.count == Ed25519.seedSize else {
                throw TrustError("\(file):\(number + 1): \(expected)")
            }
            let key = try AdminSecretKey(seed: seed)
            guard key.publicKey.id == fields[1] else {
                throw TrustError("\(file):\(number + 1): the key id \(fields[1]) does not belong to this key (its id is \(key.publicKey.id))")
            }
            return key
        }
        throw TrustError("\(file): no key in the file")
    }

    static func create(_ path: String, text: String, what: String) throws(TrustError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST { throw TrustError("\(path) exists; refusing to overwrite \(what) (move it away first)") }
            throw TrustError("\(path): \(String(cString: strerror(errno)))")
        }
        // The creation mode passes through the umask; make sure of 0600 whatever it was.
        fchmod(fd, 0o600)
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                let reason = String(cString: strerror(errno))
                close(fd)
                unlink(path)
                throw TrustError("\(path): \(reason)")
            }
            offset += written
        }
        guard fsync(fd) == 0, close(fd) == 0 else { throw TrustError("\(path): \(String(cString: strerror(errno)))") }
    }
}
