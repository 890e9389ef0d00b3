// libsodium's ChaCha20-Poly1305 and SHA-256 against published answers: RFC 8439 §2.8.2 and FIPS 180-2's "abc".
import Testing
@testable import Gossip
@testable import GossipCore

/// "4a 0b ff" → [0x4a, 0x0b, 0xff]
func hexBytes(_ text: String) -> [UInt8] {
    let digits = Array(text.filter(\.isHexDigit))
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
}

/// RFC 8439, §2.8.2: the AEAD_CHACHA20_POLY1305 test vector.
enum RFC8439 {
    static let key = [UInt8](0x80...0x9f)
    static let nonce = hexBytes("07 00 00 00 40 41 42 43 44 45 46 47")
    static let aad = hexBytes("50 51 52 53 c0 c1 c2 c3 c4 c5 c6 c7")
    static let plaintext = Array("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".utf8)
    static let ciphertext = hexBytes("""
        d3 1a 8d 34 64 8e 60 db 7b 86 af bc 53 ef 7e c2 a4 ad ed 51 29 6e 08 fe a9 e2 b5 a7 36 ee 62 d6
        3d be a4 5e 8c a9 67 12 82 fa fb 69 da 92 72 8b 1a 71 de 0a 9e 06 0b 29 05 d6 a5 b6 7e cd 3b 36
        92 dd bd 7f 2d 77 8b 8c 98 03 ae e3 28 09 1b 58 fa b3 24 e4 fa d6 75 94 55 85 80 8b 48 31 d7 bc
        3f f4 de f0 8e 4b 7a 9d e5 76 d2 65 86 ce c6 4b 61 16
        """)
    static let tag = hexBytes("1a e1 0b 59 4f 09 e2 6a 7e 90 2e cb d0 60 06 91")
}

@Suite struct SystemCryptoTests {
    @Test func sealsRFC8439sVector() {
        let sealed = SystemCrypto.chaChaPolySeal(RFC8439.plaintext[...], key: RFC8439.key, nonce: RFC8439.nonce, authenticating: RFC8439.aad)
        #expect(sealed == RFC8439.ciphertext + RFC8439.tag)
    }

    @Test func opensRFC8439sVectorAndRefusesAnyChange() {
        let sealed = RFC8439.ciphertext + RFC8439.tag
        #expect(SystemCrypto.chaChaPolyOpen(sealed[...], key: RFC8439.key, nonce: RFC8439.nonce, authenticating: RFC8439.aad) == RFC8439.plaintext)
        #expect(SystemCrypto.chaChaPolyOpen(sealed[...], key: RFC8439.key, nonce: RFC8439.nonce) == nil, "the AAD is authenticated")
        var otherNonce = RFC8439.nonce
        otherNonce[0] ^= 1
        #expect(SystemCrypto.chaChaPolyOpen(sealed[...], key: RFC8439.key, nonce: otherNonce, authenticating: RFC8439.aad) == nil)
        var badTag = sealed
        badTag[badTag.count - 1] ^= 0x80
        #expect(SystemCrypto.chaChaPolyOpen(badTag[...], key: RFC8439.key, nonce: RFC8439.nonce, authenticating: RFC8439.aad) == nil)
    }

    @Test func emptyPlaintextIsJustATag() throws {
        let sealed = SystemCrypto.chaChaPolySeal([][...], key: RFC8439.key, nonce: RFC8439.nonce)
        #expect(sealed.count == SystemCrypto.tagSize)
        #expect(SystemCrypto.chaChaPolyOpen(sealed[...], key: RFC8439.key, nonce: RFC8439.nonce) == [])
    }

    @Test func sha256OfABC() {
        #expect(SystemCrypto.sha256(Array("abc".utf8)) == hexBytes("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
    }
}
