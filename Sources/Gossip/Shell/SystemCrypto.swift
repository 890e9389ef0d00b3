// ChaCha20-Poly1305 (RFC 8439) and SHA-256 from the system's libsodium, for the keyring.
// Not swift-crypto, which links BoringSSL and FoundationEssentials into the daemon, nor OpenSSL's libcrypto,
// whose loading alone keeps 1.4 MiB resident: libsodium costs a tenth of that (docs/benchmarks.md).
import CSodium

enum SystemCrypto {
    static let keySize = 32
    static let nonceSize = 12
    static let tagSize = 16

    /// sodium_init picks the fastest implementations; it is safe to call from any thread, and once is enough.
    private static let initialized: Bool = sodium_init() >= 0

    /// The ciphertext (as long as the plaintext) followed by the 16-byte tag.
    static func chaChaPolySeal(_ plaintext: ArraySlice<UInt8>, key: [UInt8], nonce: [UInt8], authenticating aad: [UInt8] = []) -> [UInt8] {
        precondition(initialized && key.count == keySize && nonce.count == nonceSize)
        var output = [UInt8](repeating: 0, count: plaintext.count + tagSize)
        var length: UInt64 = 0
        let result = plaintext.withUnsafeBufferPointer { input in
            crypto_aead_chacha20poly1305_ietf_encrypt(&output, &length, input.baseAddress, UInt64(input.count),
                                                      aad, UInt64(aad.count), nil, nonce, key)
        }
        precondition(result == 0 && length == UInt64(output.count), "libsodium failed to seal with ChaCha20-Poly1305")
        return output
    }

    /// The plaintext of ciphertext + tag, or nil when the tag does not verify under this key.
    static func chaChaPolyOpen(_ sealed: ArraySlice<UInt8>, key: [UInt8], nonce: [UInt8], authenticating aad: [UInt8] = []) -> [UInt8]? {
        guard initialized, key.count == keySize, nonce.count == nonceSize, sealed.count >= tagSize else { return nil }
        var output = [UInt8](repeating: 0, count: sealed.count - tagSize)
        var length: UInt64 = 0
        let result = sealed.withUnsafeBufferPointer { input in
            crypto_aead_chacha20poly1305_ietf_decrypt(&output, &length, nil, input.baseAddress!, UInt64(input.count),
                                                      aad, UInt64(aad.count), nonce, key)
        }
        guard result == 0, length == UInt64(output.count) else { return nil }
        return output
    }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        precondition(initialized)
        var digest = [UInt8](repeating: 0, count: 32)
        _ = crypto_hash_sha256(&digest, bytes, UInt64(bytes.count))
        return digest
    }
}
