// ChaCha20-Poly1305 (RFC 8439) and SHA-256 from the system's libcrypto, for the keyring.
// Not swift-crypto: it links BoringSSL and FoundationEssentials into the daemon, some 2 MiB more resident.
import CLibcrypto

enum SystemCrypto {
    static let keySize = 32
    static let nonceSize = 12
    static let tagSize = 16

    /// The ciphertext (as long as the plaintext) followed by the 16-byte tag.
    static func chaChaPolySeal(_ plaintext: ArraySlice<UInt8>, key: [UInt8], nonce: [UInt8], authenticating aad: [UInt8] = []) -> [UInt8] {
        precondition(key.count == keySize && nonce.count == nonceSize && plaintext.count < Int(Int32.max))
        let context = EVP_CIPHER_CTX_new()!
        defer { EVP_CIPHER_CTX_free(context) }
        // Final writes nothing for this cipher; the tag's room after the ciphertext gives it a valid address.
        var output = [UInt8](repeating: 0, count: plaintext.count + tagSize)
        let sealed = output.withUnsafeMutableBufferPointer { output in
            plaintext.withUnsafeBufferPointer { input in
                var written: Int32 = 0
                guard EVP_EncryptInit_ex(context, EVP_chacha20_poly1305(), nil, key, nonce) == 1,
                      aad.isEmpty || EVP_EncryptUpdate(context, nil, &written, aad, Int32(aad.count)) == 1,
                      input.isEmpty || EVP_EncryptUpdate(context, output.baseAddress, &written, input.baseAddress, Int32(input.count)) == 1,
                      EVP_EncryptFinal_ex(context, output.baseAddress! + input.count, &written) == 1 else { return false }
                return EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, Int32(tagSize), output.baseAddress! + input.count) == 1
            }
        }
        precondition(sealed, "libcrypto failed to seal with ChaCha20-Poly1305")
        return output
    }

    /// The plaintext of ciphertext + tag, or nil when the tag does not verify under this key.
    static func chaChaPolyOpen(_ sealed: ArraySlice<UInt8>, key: [UInt8], nonce: [UInt8], authenticating aad: [UInt8] = []) -> [UInt8]? {
        guard key.count == keySize, nonce.count == nonceSize, sealed.count >= tagSize, sealed.count < Int(Int32.max) else { return nil }
        let length = sealed.count - tagSize
        var tag = Array(sealed.suffix(tagSize))
        let context = EVP_CIPHER_CTX_new()!
        defer { EVP_CIPHER_CTX_free(context) }
        var output = [UInt8](repeating: 0, count: length + tagSize)
        let opened = output.withUnsafeMutableBufferPointer { output in
            sealed.withUnsafeBufferPointer { input in
                var written: Int32 = 0
                return EVP_DecryptInit_ex(context, EVP_chacha20_poly1305(), nil, key, nonce) == 1
                    && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, Int32(tagSize), &tag) == 1
                    && (aad.isEmpty || EVP_DecryptUpdate(context, nil, &written, aad, Int32(aad.count)) == 1)
                    && (length == 0 || EVP_DecryptUpdate(context, output.baseAddress, &written, input.baseAddress, Int32(length)) == 1)
                    && EVP_DecryptFinal_ex(context, output.baseAddress! + length, &written) == 1
            }
        }
        guard opened else { return nil }
        output.removeLast(tagSize)
        return output
    }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let hashed = EVP_Digest(bytes, bytes.count, &digest, &length, EVP_sha256(), nil)
        precondition(hashed == 1 && length == 32, "libcrypto failed to hash with SHA-256")
        return digest
    }
}
