// The cluster's keys: every gossip datagram and stream is sealed with ChaCha20-Poly1305 under the primary key
// and opened with whichever key fits, so keys can be rotated on a live cluster.
import HomecloudSchema

public struct GossipKeyringError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
}

public struct GossipKeyring: Sendable {
    /// The primary first: it seals; all of them open.
    public private(set) var keys: [[UInt8]]

    /// Sealed = version (1 byte) + nonce (12) + ciphertext + tag (16): 29 bytes more than the plaintext.
    public static let overhead = 1 + 12 + 16
    static let version: UInt8 = 1

    public init(keys: [[UInt8]]) throws {
        guard !keys.isEmpty else { throw GossipKeyringError(description: "a keyring needs at least one key") }
        for key in keys where key.count != 32 {
            throw GossipKeyringError(description: "a gossip key is 32 bytes (base64: 44 characters); one has \(key.count)")
        }
        self.keys = keys
    }

    /// A key file: one base64 key per line (the first is the primary), `#` comments allowed.
    public static func parse(_ text: String, file: String) throws -> GossipKeyring {
        var keys: [[UInt8]] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            guard content.contains(where: { $0 != " " && $0 != "\t" && $0 != "\r" }) else { continue }
            guard let key = Base64.decode(content), key.count == 32 else {
                throw GossipKeyringError(description: "\(file):\(number + 1): not a key: expected 32 random bytes in base64, such as the output of `head -c 32 /dev/urandom | base64`")
            }
            keys.append(key)
        }
        guard !keys.isEmpty else { throw GossipKeyringError(description: "\(file): no key in the file") }
        return try GossipKeyring(keys: keys)
    }

    /// The text of a key file holding these keys, primary first.
    public var fileText: String { keys.map { Base64.encode($0) + "\n" }.joined() }

    public func seal(_ plaintext: [UInt8]) -> [UInt8] {
        // A random 96-bit nonce per message: at gossip's rates a repeat is far beyond any board's lifetime.
        // SystemRandomNumberGenerator reads getrandom(2).
        var random = SystemRandomNumberGenerator()
        var words = (random.next() as UInt64, random.next() as UInt64)
        let nonce = withUnsafeBytes(of: &words) { Array($0.prefix(SystemCrypto.nonceSize)) }
        return seal(plaintext, nonce: nonce)
    }

    /// Sealed with `key`, one of the installed keys, instead of the primary: the answer to a peer that still
    /// seals with a key this board has installed but no longer uses (a board that was down during a rotation).
    public func seal(_ plaintext: [UInt8], key: [UInt8]) -> [UInt8] {
        guard keys.contains(key) else { return seal(plaintext) }
        var random = SystemRandomNumberGenerator()
        var words = (random.next() as UInt64, random.next() as UInt64)
        let nonce = withUnsafeBytes(of: &words) { Array($0.prefix(SystemCrypto.nonceSize)) }
        return [Self.version] + nonce + SystemCrypto.chaChaPolySeal(plaintext[...], key: key, nonce: nonce)
    }

    /// Sealed with a given 12-byte nonce: for the golden tests that pin the wire bytes.
    func seal(_ plaintext: [UInt8], nonce: [UInt8]) -> [UInt8] {
        [Self.version] + nonce + SystemCrypto.chaChaPolySeal(plaintext[...], key: keys[0], nonce: nonce)
    }

    /// The plaintext, or nil when no key opens it (a stranger, a wrong key, a damaged or truncated packet).
    public func open(_ sealed: [UInt8]) -> [UInt8]? { opening(sealed)?.plaintext }

    /// The plaintext and the key that opened it.
    public func opening(_ sealed: [UInt8]) -> (plaintext: [UInt8], key: [UInt8])? {
        guard sealed.count >= Self.overhead, sealed[0] == Self.version else { return nil }
        let nonce = Array(sealed[1..<(1 + SystemCrypto.nonceSize)])
        let box = sealed[(1 + SystemCrypto.nonceSize)...]
        for key in keys {
            if let plaintext = SystemCrypto.chaChaPolyOpen(box, key: key, nonce: nonce) { return (plaintext, key) }
        }
        return nil
    }

    /// What hcctl shows for a key: the first 8 bytes of its SHA-256, never the key.
    public static func fingerprint(_ key: [UInt8]) -> String {
        SystemCrypto.sha256(key).prefix(8).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    // MARK: rotation (hcctl keys)

    public mutating func install(_ key: [UInt8]) throws {
        guard key.count == 32 else { throw GossipKeyringError(description: "a gossip key is 32 bytes; this one has \(key.count)") }
        if !keys.contains(key) { keys.append(key) }
    }

    public mutating func use(_ key: [UInt8]) throws {
        guard let index = keys.firstIndex(of: key) else { throw GossipKeyringError(description: "that key is not installed; install it first") }
        keys.swapAt(0, index)
    }

    public mutating func remove(_ key: [UInt8]) throws {
        guard let index = keys.firstIndex(of: key) else { throw GossipKeyringError(description: "that key is not installed") }
        guard index != 0 else { throw GossipKeyringError(description: "that key is the primary; use another key first") }
        keys.remove(at: index)
    }
}
