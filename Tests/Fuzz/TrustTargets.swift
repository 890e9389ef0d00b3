// The signed-document envelope: a document's last line carrying an admin's Ed25519 signature, as it arrives
// from a file, an apply or a peer; and the public key lines of agent.yaml's trusted_admin_keys.
@testable import Trust

/// A fixed admin key (seed 1, 2, 3...): the fuzzer cannot forge its signatures, so every accepted input is one
/// whose body the key really signed.
let fuzzAdminKey = try! AdminSecretKey(seed: (1...32).map { UInt8($0) })
let fuzzVerifier = DocumentVerifier(trusted: [fuzzAdminKey.publicKey])

/// A fixed node key bound to the name "n1" in a book that checks: what a board does with a member's metadata.
let fuzzNodeKey = try! NodeKey(seed: (33...64).map { UInt8($0) })

let trustTargets: [FuzzTarget] = [
    // A member's gossip metadata as it arrives: opened under the key bound to its name only when that key
    // sealed exactly these bytes (sealing what opened gives the input back: Ed25519 is deterministic); a
    // book that checks believes nothing else of it, and never an older sequence than it believed.
    FuzzTarget(name: "sealed-metadata", run: { bytes in
        if case .success(let opened) = MetadataSeal.open(bytes, name: "n1", key: fuzzNodeKey.publicKey) {
            require(MetadataSeal.seal(metadata: opened.metadata, name: "n1", sequence: opened.sequence, key: fuzzNodeKey) == bytes,
                    "metadata opened that the key did not seal")
        }
        var book = VerifiedMetadataBook(enforcing: true, keys: ["n1": fuzzNodeKey.publicKey])
        let good = MetadataSeal.seal(metadata: Array(#"{"v":"1","g":5,"h":"a","r":[]}"#.utf8), name: "n1", sequence: 7, key: fuzzNodeKey)
        _ = book.read(name: "n1", bytes: good, now: .zero)
        let reading = book.read(name: "n1", bytes: bytes, now: .seconds(1))
        if let metadata = reading.metadata, bytes != good {
            guard case .success(let opened) = MetadataSeal.open(bytes, name: "n1", key: fuzzNodeKey.publicKey) else {
                require(metadata == MetadataSeal.payload(good), "a checking book believed unverified metadata")
                return
            }
            require(opened.sequence >= 7, "a checking book believed an older sequence")
        }
        _ = book.read(name: "stranger", bytes: bytes, now: .seconds(2))
    }, seeds: {
        [MetadataSeal.seal(metadata: Array(#"{"v":"1","g":9,"h":"b","r":["web"]}"#.utf8), name: "n1", sequence: 8, key: fuzzNodeKey),
         Array(#"{"v":"1","g":9,"h":"b","r":[]}"#.utf8), [MetadataSeal.marker]]
    }),

    // Any text: split into body and signature consistently; verified only when the fixed key signed exactly
    // its body; signing it again verifies and keeps the body.
    FuzzTarget(name: "signed-document", run: { bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        let parts = DocumentSignature.split(text)
        require(!(parts.malformed && parts.signature != nil), "a malformed signature line with a signature")
        require(DocumentSignature.isSigned(text) == (parts.signature != nil || parts.malformed), "isSigned disagrees with split")
        require(text.utf8.starts(with: parts.body.utf8), "the signed body is not the start of the text")
        if case .success(let id) = fuzzVerifier.verify(text) {
            require(id == fuzzAdminKey.publicKey.id, "verified under a key that is not trusted")
        }
        let signed = DocumentSignature.sign(text, with: fuzzAdminKey)
        require((try? fuzzVerifier.verify(signed).get()) == fuzzAdminKey.publicKey.id, "a freshly signed text does not verify")
        require(DocumentSignature.unsigned(signed).utf8.starts(with: DocumentSignature.unsigned(text).utf8), "signing lost part of the body")
    }, seeds: {
        let document = "generation: 3\ncluster: lab\nnodes: { n1: [] }\n"
        return [document, DocumentSignature.sign(document, with: fuzzAdminKey),
                document + DocumentSignature.prefix + "ed25519 0000000000000000 AAAA\n"].map { Array($0.utf8) }
    }),

    // A trusted_admin_keys line: refused with a reason, or a key whose own line reads back as the same key.
    FuzzTarget(name: "admin-key-line", run: { bytes in
        let line = String(decoding: bytes, as: UTF8.self)
        do {
            let key = try AdminPublicKey(line: line)
            require((try? AdminPublicKey(line: key.line)) == key, "a public key line does not round-trip")
        } catch let refusal as TrustError {
            require(!refusal.description.isEmpty, "a refused key line without a reason")
        } catch {
            require(false, "a key line refused with an untyped error: \(error)")
        }
    }, seeds: { [Array(fuzzAdminKey.publicKey.line.utf8), Array("ed25519 0123456789abcdef AAAA".utf8)] }),
]
