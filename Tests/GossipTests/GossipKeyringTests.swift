// Sealing with the keyring: the wire format, round trips, wrong keys and damage refused, rotation without a gap;
// base64 keys.
import HomecloudSchema
import Testing
@testable import Gossip
@testable import GossipCore

let keyA = [UInt8](repeating: 0xA1, count: 32)
let keyB = [UInt8](repeating: 0xB2, count: 32)

@Suite struct GossipKeyringTests {
    @Test func sealedBytesOpenOnlyWithTheKey() throws {
        let ring = try GossipKeyring(keys: [keyA])
        let message = Array("ping from hc1-n1".utf8)
        let sealed = ring.seal(message)
        #expect(sealed.count == message.count + GossipKeyring.overhead)
        #expect(ring.open(sealed) == message)
        #expect(ring.seal(message) != sealed, "a fresh nonce every time")
        #expect(try GossipKeyring(keys: [keyB]).open(sealed) == nil)
    }

    @Test func opensThePacketFormatOlderAgentsSend() throws {
        // Version 1, nonce, ciphertext, tag; no associated data. RFC 8439 §2.8.2's key, nonce and plaintext:
        // its ciphertext, and the tag without its AAD (computed with Python's cryptography 48.0.0).
        let packet = [1] + RFC8439.nonce + RFC8439.ciphertext + hexBytes("6a 23 a4 68 1f d5 94 56 ae a1 d2 9f 82 47 72 16")
        #expect(try GossipKeyring(keys: [keyA, RFC8439.key]).open(packet) == RFC8439.plaintext)
        #expect(try GossipKeyring(keys: [keyA]).open(packet) == nil)
    }

    @Test func fingerprintIsTheFirstEightBytesOfTheKeysSHA256() {
        #expect(GossipKeyring.fingerprint(keyA) == "52fe6094743bfd4f")
    }

    @Test func damagedTruncatedOrForeignBytesAreRefused() throws {
        let ring = try GossipKeyring(keys: [keyA])
        let sealed = ring.seal(Array("hello".utf8))
        for index in sealed.indices {
            var damaged = sealed
            damaged[index] ^= 0x01
            #expect(ring.open(damaged) == nil, "flipped byte \(index)")
        }
        for length in 0..<sealed.count { #expect(ring.open(Array(sealed.prefix(length))) == nil) }
        #expect(ring.open(Array("plain text gossip".utf8)) == nil)
    }

    @Test func rotationKeepsEveryNodeTalking() throws {
        // Step 1: every node installs B (still sealing with A); step 2: every node uses B; step 3: remove A.
        var old = try GossipKeyring(keys: [keyA])
        var new = try GossipKeyring(keys: [keyA])
        try new.install(keyB)
        #expect(new.open(old.seal([1])) == [1] && old.open(new.seal([2])) == [2])
        try new.use(keyB)
        try old.install(keyB)
        #expect(old.open(new.seal([3])) == [3] && new.open(old.seal([4])) == [4])
        #expect(throws: GossipKeyringError.self) { try new.remove(keyB) }
        try new.remove(keyA)
        #expect(new.keys == [keyB])
        #expect(throws: GossipKeyringError.self) { try new.use(keyA) }
    }

    @Test func keyFilesAreBase64LinesWithLocatedErrors() throws {
        let text = "# the cluster's keys\n\(Base64.encode(keyA))\n\n\(Base64.encode(keyB))  # next\n"
        #expect(try GossipKeyring.parse(text, file: "k").keys == [keyA, keyB])
        #expect(try GossipKeyring.parse(GossipKeyring(keys: [keyB, keyA]).fileText, file: "k").keys == [keyB, keyA])
        #expect(throws: GossipKeyringError(description: "k:2: not a key: expected 32 random bytes in base64, such as the output of `head -c 32 /dev/urandom | base64`")) {
            try GossipKeyring.parse("\(Base64.encode(keyA))\nc2hvcnQ=\n", file: "k")
        }
        #expect(throws: GossipKeyringError(description: "k: no key in the file")) { try GossipKeyring.parse("# none\n", file: "k") }
    }

    @Test func base64RoundTripsAndRefusesJunk() {
        var random = SplitMix64(seed: 4648)
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
        }
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy" && Base64.encode(Array("fo".utf8)) == "Zm8=")
        for junk in ["abc", "a=bc", "ab=c", "====", "Zm9v!mFy", "Zm8==="] { #expect(Base64.decode(junk) == nil, "\(junk)") }
    }
}

@Suite struct GossipKeyringOlderKeyTests {
    /// A board that missed a rotation seals with the old key; the others, which still have it installed, answer
    /// with it, or it could never open a reply.
    @Test func aPacketOpensWithTheKeyItWasSealedWithAndTheAnswerUsesThatKey() throws {
        let old = [UInt8](repeating: 1, count: 32), new = [UInt8](repeating: 2, count: 32)
        let stranded = try GossipKeyring(keys: [old])
        let rotated = try GossipKeyring(keys: [new, old])
        let asked = try #require(rotated.opening(stranded.seal([1, 2, 3])))
        #expect(asked.plaintext == [1, 2, 3] && asked.key == old)
        #expect(stranded.open(rotated.seal([4], key: asked.key)) == [4])
        #expect(stranded.open(rotated.seal([4])) == nil)
        // A key that is not installed is never used: the primary seals instead.
        #expect(rotated.open(rotated.seal([5], key: [UInt8](repeating: 3, count: 32))) == [5])
        #expect(try #require(rotated.opening(rotated.seal([6]))).key == new)
    }
}
