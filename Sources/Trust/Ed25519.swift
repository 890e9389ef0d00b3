// Ed25519 signatures, SHA-256 and base64 from the system's libsodium: the primitives of admin-signed documents.
import CSodium

enum Ed25519 {
    static let seedSize = 32
    static let publicKeySize = 32
    static let signatureSize = 64

    /// sodium_init picks the fastest implementations; safe from any thread, once is enough.
    private static let initialized: Bool = sodium_init() >= 0

    /// The public key and libsodium's 64-byte secret key (seed + public key) for a 32-byte seed.
    static func keyPair(seed: [UInt8]) -> (publicKey: [UInt8], secretKey: [UInt8]) {
        precondition(initialized && seed.count == seedSize)
        var publicKey = [UInt8](repeating: 0, count: publicKeySize)
        var secretKey = [UInt8](repeating: 0, count: 64)
        precondition(crypto_sign_seed_keypair(&publicKey, &secretKey, seed) == 0, "libsodium failed to derive an Ed25519 key pair")
        return (publicKey, secretKey)
    }

    static func sign(_ message: [UInt8], secretKey: [UInt8]) -> [UInt8] {
        precondition(initialized && secretKey.count == 64)
        var signature = [UInt8](repeating: 0, count: signatureSize)
        var length: UInt64 = 0
        precondition(crypto_sign_detached(&signature, &length, message, UInt64(message.count), secretKey) == 0)
        return signature
    }

    static func verify(_ signature: [UInt8], of message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard initialized, signature.count == signatureSize, publicKey.count == publicKeySize else { return false }
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        precondition(initialized)
        var bytes = [UInt8](repeating: 0, count: count)
        randombytes_buf(&bytes, count)
        return bytes
    }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        precondition(initialized)
        var digest = [UInt8](repeating: 0, count: 32)
        _ = crypto_hash_sha256(&digest, bytes, UInt64(bytes.count))
        return digest
    }

    /// Standard base64 with padding (RFC 4648 §4).
    static func base64(_ bytes: [UInt8]) -> String {
        precondition(initialized)
        let variant = Int32(sodium_base64_VARIANT_ORIGINAL)
        var output = [CChar](repeating: 0, count: sodium_base64_encoded_len(bytes.count, variant))
        _ = sodium_bin2base64(&output, output.count, bytes, bytes.count, variant)
        return String(decoding: output.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The bytes of standard base64, or nil for anything else (no whitespace inside, no trailing garbage).
    static func fromBase64(_ text: Substring) -> [UInt8]? {
        guard initialized, !text.isEmpty else { return nil }
        let input = Array(text.utf8)
        var output = [UInt8](repeating: 0, count: input.count * 3 / 4 + 3)
        var length = 0
        var end: UnsafePointer<CChar>?
        let result = input.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                sodium_base642bin(&output, output.count, chars.baseAddress, chars.count, nil, &length, &end,
                                  Int32(sodium_base64_VARIANT_ORIGINAL))
            }
        }
        guard result == 0 else { return nil }
        // Every input character must have been used.
        let consumed = input.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in end.map { $0 - chars.baseAddress! } ?? -1 }
        }
        guard consumed == input.count else { return nil }
        return Array(output.prefix(length))
    }
}
