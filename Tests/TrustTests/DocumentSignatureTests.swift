// Admin keys and signed documents: a signature covers every byte before its line, under a trusted key only.
import Testing
import Trust

@Suite struct DocumentSignatureTests {
    static let document = "generation: 3\ncluster: hc1\nnodes: { n1: [r] }\nroles: { r: { units: [ { name: a.service } ] } }\n"
    let key = try! AdminSecretKey(seed: Array(repeating: 7, count: 32))
    let otherKey = try! AdminSecretKey(seed: Array(repeating: 9, count: 32))

    @Test func aSignedDocumentVerifiesUnderItsKeyAndEndsWithOneCommentLine() throws {
        let signed = DocumentSignature.sign(Self.document, with: key)
        #expect(signed.hasPrefix(Self.document))
        let lastLine = signed.split(separator: "\n").last.map(String.init) ?? ""
        #expect(lastLine.hasPrefix("# hcagent-signature: ed25519 \(key.publicKey.id) "))
        let verifier = DocumentVerifier(trusted: [otherKey.publicKey, key.publicKey])
        #expect(verifier.verify(signed) == .success(key.publicKey.id))
        // Signing again replaces the signature line instead of signing it.
        #expect(DocumentSignature.sign(signed, with: key) == signed)
        #expect(DocumentSignature.unsigned(signed) == Self.document)
    }

    @Test func everyChangedByteBreaksTheSignature() {
        let signed = Array(DocumentSignature.sign(Self.document, with: key).utf8)
        let verifier = DocumentVerifier(trusted: [key.publicKey])
        let bodyLength = Self.document.utf8.count
        for index in 0..<bodyLength {
            var tampered = signed
            tampered[index] = tampered[index] == UInt8(ascii: "x") ? UInt8(ascii: "y") : UInt8(ascii: "x")
            let text = String(decoding: tampered, as: UTF8.self)
            // The body's last newline changed merges the signature line into the body: then it is unsigned.
            let expected: DocumentVerifier.Refusal = index == bodyLength - 1 ? .unsigned : .badSignature(key.publicKey.id)
            #expect(verifier.verify(text) == .failure(expected), "byte \(index)")
        }
        // A byte added before the signature line, and the signature's own bytes.
        let signedText = String(decoding: signed, as: UTF8.self)
        let withLine = signedText.replacingFirst("cluster: hc1\n", with: "cluster: hc1\n# note\n")
        #expect(verifier.verify(withLine) == .failure(.badSignature(key.publicKey.id)))
        var badSignature = signed
        badSignature[signed.count - 10] ^= 0x01
        let result = verifier.verify(String(decoding: badSignature, as: UTF8.self))
        #expect(result != .success(key.publicKey.id))
    }

    @Test func aReplayUnderAnotherGenerationFails() {
        let signed = DocumentSignature.sign(Self.document, with: key)
        let replayed = signed.replacingFirst("generation: 3", with: "generation: 4")
        #expect(DocumentVerifier(trusted: [key.publicKey]).verify(replayed) == .failure(.badSignature(key.publicKey.id)))
    }

    @Test func anUnsignedOrWronglySignedDocumentIsRefused() {
        let verifier = DocumentVerifier(trusted: [key.publicKey])
        #expect(verifier.verify(Self.document) == .failure(.unsigned))
        #expect(verifier.verify(DocumentSignature.sign(Self.document, with: otherKey)) == .failure(.unknownKey(otherKey.publicKey.id)))
        // A signature line that is not the last line does not count.
        let moved = DocumentSignature.sign(Self.document, with: key) + "probes: {}\n"
        #expect(verifier.verify(moved) == .failure(.unsigned))
        #expect(verifier.verify(Self.document + "# hcagent-signature: ed25519 nonsense\n") == .failure(.malformed))
        // A key that claims another's id does not verify either: the id is looked up, then the key checked.
        let forged = DocumentSignature.sign(Self.document, with: otherKey)
            .replacingFirst(otherKey.publicKey.id, with: key.publicKey.id)
        #expect(verifier.verify(forged) == .failure(.badSignature(key.publicKey.id)))
    }

    @Test func publicKeyLinesRoundTripAndADamagedLineIsRefused() throws {
        let line = key.publicKey.line
        #expect(try AdminPublicKey(line: line) == key.publicKey)
        #expect(try AdminPublicKey(line: line + " alice@laptop") == key.publicKey)
        #expect(throws: TrustError.self) { try AdminPublicKey(line: line.replacingFirst(key.publicKey.id, with: otherKey.publicKey.id)) }
        #expect(throws: TrustError.self) { try AdminPublicKey(line: "ed25519 \(key.publicKey.id) AAAA") }
        #expect(throws: TrustError.self) { try AdminPublicKey(line: "rsa \(key.publicKey.id) x") }
        #expect(key.publicKey.id.count == 16)
    }

    @Test func theSecretKeyFileRoundTripsAndNamesItsPublicLine() throws {
        let text = key.fileText
        #expect(text.contains(key.publicKey.line))
        let read = try AdminSecretKey.parse(text, file: "admin.key")
        #expect(read.publicKey == key.publicKey)
        #expect(throws: TrustError.self) { try AdminSecretKey.parse("# nothing\n", file: "admin.key") }
        #expect(throws: TrustError.self) { try AdminSecretKey.parse(key.publicKey.line + "\n", file: "admin.key") }
        #expect(AdminSecretKey.generate().publicKey != AdminSecretKey.generate().publicKey)
    }

    @Test func aKeyFileIsWrittenWithMode0600AndNeverOverwritten() throws {
        let path = "/tmp/hcagent-trust-test-\(UInt64.random(in: 0...UInt64.max)).key"
        defer { _ = path.withCString { unlink($0) } }
        try key.write(to: path)
        #expect(fileMode(path) == 0o600)
        #expect(throws: TrustError.self) { try otherKey.write(to: path) }
    }
}

#if canImport(Glibc)
import Glibc
#endif

func fileMode(_ path: String) -> mode_t {
    var info = stat()
    _ = stat(path, &info)
    return info.st_mode & 0o777
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        var copy = self
        copy.replaceSubrange(range, with: replacement)
        return copy
    }

    /// String.range(of:) without Foundation.
    func range(of target: String) -> Range<String.Index>? {
        var index = startIndex
        while index < endIndex {
            if self[index...].hasPrefix(target) { return index..<self.index(index, offsetBy: target.count) }
            index = self.index(after: index)
        }
        return nil
    }
}

@Suite struct DocumentSignatureLineBreakTests {
    /// Found by the signed-document fuzz target: a body ending in "\r" met the "\n" added before the signature
    /// line as one Character ("\r\n"), so the signature line was not found and the fresh signature did not verify.
    @Test func aBodyEndingInACarriageReturnStillVerifies() throws {
        let key = try AdminSecretKey(seed: (1...32).map { UInt8($0) })
        let verifier = DocumentVerifier(trusted: [key.publicKey])
        for text in ["generation: 1\rcluster: c\r", "generation: 1\r\ncluster: c\r\n", "![\u{FFFD}\r"] {
            let signed = DocumentSignature.sign(text, with: key)
            #expect(try verifier.verify(signed).get() == key.publicKey.id, "\(Array(text.utf8))")
            #expect(Array(DocumentSignature.unsigned(signed).utf8).starts(with: text.utf8))
        }
    }
}
