// A board's own node key (Ed25519): made at its first start in state_dir, it signs the board's gossip metadata
// so that holding the gossip key is not enough to speak for another board.
#if canImport(Glibc)
import Glibc
#endif

/// A node's public key has the admin key's form, `ed25519 KEYID BASE64`: desired.yaml's `node_keys:` binds
/// one to each node name.
public typealias NodePublicKey = AdminPublicKey

/// The private half, kept in `state_dir/node.key` (mode 0600, root only).
public struct NodeKey: Sendable {
    private let pair: AdminSecretKey
    public var publicKey: NodePublicKey { pair.publicKey }

    public static let fileName = "node.key"
    static let fileTag = "ed25519-secret"

    public init(seed: [UInt8]) throws(TrustError) { pair = try AdminSecretKey(seed: seed) }
    private init(pair: AdminSecretKey) { self.pair = pair }

    public static func generate() -> NodeKey {
        // 32 random bytes always make a valid seed.
        try! NodeKey(seed: Ed25519.randomBytes(Ed25519.seedSize))
    }

    public func sign(_ message: [UInt8]) -> [UInt8] { pair.sign(message) }

    public var fileText: String {
        """
        # hcagent node key (Ed25519): this board signs its gossip metadata with it. Made by the agent; keep it secret.
        # Its public line, for desired.yaml's node_keys (hcctl keys node prints it):
        #   \(publicKey.line)
        \(Self.fileTag) \(publicKey.id) \(Ed25519.base64(pair.seed))

        """
    }

    public static func parse(_ text: String, file: String) throws(TrustError) -> NodeKey {
        NodeKey(pair: try KeyFile.parse(text, file: file, tag: fileTag, expected: "not a node key: expected \"\(fileTag) KEYID BASE64\" as the agent writes it"))
    }

    /// Reads the key file (never through a symlink).
    public static func read(from path: String) throws(TrustError) -> NodeKey {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw TrustError("\(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while bytes.count < 16 * 1024 {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw TrustError("\(path): \(String(cString: strerror(errno)))") }
            if count == 0 { break }
            bytes += buffer[..<count]
        }
        return try parse(String(decoding: bytes, as: UTF8.self), file: path)
    }

    /// The board's key: read from `path`, or made and written there (mode 0600, O_EXCL) when there is none yet.
    /// `created` says which, so the agent can log the public line once.
    public static func loadOrCreate(at path: String) throws(TrustError) -> (key: NodeKey, created: Bool) {
        var status = stat()
        if lstat(path, &status) == 0 { return (try read(from: path), false) }
        guard errno == ENOENT else { throw TrustError("\(path): \(String(cString: strerror(errno)))") }
        let key = generate()
        try KeyFile.create(path, text: key.fileText, what: "a node key")
        return (key, true)
    }
}
