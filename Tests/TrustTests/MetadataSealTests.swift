// Node keys and signed gossip metadata: only the key bound to a name speaks for it, and never backwards.
import Testing
import Trust
#if canImport(Glibc)
import Glibc
#endif

@Suite struct MetadataSealTests {
    let victim = try! NodeKey(seed: Array(repeating: 1, count: 32))
    let rogue = try! NodeKey(seed: Array(repeating: 2, count: 32))
    let healthy = Array(#"{"v":"0.1","g":4,"h":"ab","r":["dnas"],"pn":3}"#.utf8)
    let forged = Array(#"{"v":"0.1","g":4,"h":"ab","r":["dnas"],"pn":3,"pf":["smb"],"ho":{"front":"n2"}}"#.utf8)

    func book(_ keys: [String: NodePublicKey]) -> VerifiedMetadataBook { VerifiedMetadataBook(enforcing: true, keys: keys) }

    @Test func sealedMetadataOpensUnderItsNameAndKeyOnly() throws {
        let sealed = MetadataSeal.seal(metadata: healthy, name: "n1", sequence: 7, key: victim)
        #expect(sealed.count == healthy.count + MetadataSeal.overhead && MetadataSeal.overhead == 73)
        let opened = try MetadataSeal.open(sealed, name: "n1", key: victim.publicKey).get()
        #expect(opened.sequence == 7 && opened.metadata == healthy)
        #expect(MetadataSeal.payload(sealed) == healthy && MetadataSeal.payload(healthy) == healthy)
        // Another name (the same key cannot lend its signature to another board) and another key.
        #expect(throws: MetadataSeal.Refusal.badSignature) { try MetadataSeal.open(sealed, name: "n2", key: victim.publicKey).get() }
        #expect(throws: MetadataSeal.Refusal.badSignature) { try MetadataSeal.open(sealed, name: "n1", key: rogue.publicKey).get() }
        #expect(throws: MetadataSeal.Refusal.unsigned) { try MetadataSeal.open(healthy, name: "n1", key: victim.publicKey).get() }
        #expect(throws: MetadataSeal.Refusal.malformed) { try MetadataSeal.open(Array(sealed.prefix(40)), name: "n1", key: victim.publicKey).get() }
    }

    @Test func everyChangedByteIsRefused() {
        let sealed = MetadataSeal.seal(metadata: healthy, name: "n1", sequence: 7, key: victim)
        for index in 1..<sealed.count {
            var tampered = sealed
            tampered[index] ^= 0x20
            #expect(throws: MetadataSeal.Refusal.badSignature, "byte \(index)") {
                try MetadataSeal.open(tampered, name: "n1", key: victim.publicKey).get()
            }
        }
    }

    @Test func forgedMetadataIsDroppedAndTheLastVerifiedKept() {
        var book = book(["n1": victim.publicKey])
        let genuine = MetadataSeal.seal(metadata: healthy, name: "n1", sequence: 5, key: victim)
        let first = book.read(name: "n1", bytes: genuine, now: .zero)
        #expect(first.standing == .verified && first.metadata == healthy && first.mayActOn && first.newRefusal == nil)

        // A rogue with the gossip key: its own key under the victim's name, at a higher sequence.
        let byRogue = MetadataSeal.seal(metadata: forged, name: "n1", sequence: 99, key: rogue)
        let refused = book.read(name: "n1", bytes: byRogue, now: .seconds(1))
        #expect(refused.standing == .refused(.badSignature) && refused.metadata == healthy)
        #expect(refused.newRefusal == .badSignature && refused.logLine?.contains("dropped gossip metadata for n1") == true)
        // The same bytes read again (every member list) are not counted or logged again.
        let again = book.read(name: "n1", bytes: byRogue, now: .seconds(2))
        #expect(again.newRefusal == nil && again.logLine == nil && again.metadata == healthy)
        // Plain metadata under a bound name: refused too; counted, but the log line waits its minute.
        let plain = book.read(name: "n1", bytes: forged, now: .seconds(3))
        #expect(plain.standing == .refused(.unsigned) && plain.newRefusal == .unsigned && plain.logLine == nil)
        #expect(plain.metadata == healthy)
        #expect(book.read(name: "n1", bytes: Array(forged.reversed()), now: .seconds(64)).logLine != nil)
        // The victim's next genuine metadata is believed at once.
        let next = MetadataSeal.seal(metadata: forged, name: "n1", sequence: 6, key: victim)
        #expect(book.read(name: "n1", bytes: next, now: .seconds(65)).standing == .verified)
    }

    @Test func anOlderSignedMetadataCannotUndoALaterOne() {
        var book = book(["n1": victim.publicKey])
        let old = MetadataSeal.seal(metadata: forged, name: "n1", sequence: 5, key: victim)
        let later = MetadataSeal.seal(metadata: healthy, name: "n1", sequence: 8, key: victim)
        #expect(book.read(name: "n1", bytes: old, now: .zero).standing == .verified)
        #expect(book.read(name: "n1", bytes: later, now: .zero).metadata == healthy)
        let replayed = book.read(name: "n1", bytes: old, now: .zero)
        #expect(replayed.standing == .refused(.replayed(sequence: 5, verified: 8)) && replayed.metadata == healthy)
        #expect(replayed.newRefusal?.reason == "replayed")
    }

    @Test func aMemberWithoutABoundKeyIsShownButNotActedOn() {
        var book = book(["n1": victim.publicKey])
        let sealed = MetadataSeal.seal(metadata: forged, name: "n3", sequence: 1, key: rogue)
        let reading = book.read(name: "n3", bytes: sealed, now: .zero)
        #expect(reading.standing == .unbound && reading.metadata == forged && !reading.mayActOn && reading.newRefusal == nil)
        #expect(book.read(name: "n4", bytes: healthy, now: .zero).standing == .unbound)
        // Once the document binds n3's key, the same bytes verify.
        book.bind(["n1": victim.publicKey, "n3": rogue.publicKey])
        #expect(book.read(name: "n3", bytes: sealed, now: .zero).standing == .verified)
        // A member with no metadata yet is no forgery.
        let empty = book.read(name: "n1", bytes: [], now: .zero)
        #expect(empty.newRefusal == nil && empty.metadata == nil && !empty.mayActOn)
    }

    @Test func aNewKeyForANameStartsItsSequenceOver() {
        var book = book(["n1": victim.publicKey])
        _ = book.read(name: "n1", bytes: MetadataSeal.seal(metadata: healthy, name: "n1", sequence: 50, key: victim), now: .zero)
        // The board was reinstalled: a new key, a fresh state_dir, low incarnations; the admin binds the new key.
        book.bind(["n1": rogue.publicKey])
        #expect(book.read(name: "n1", bytes: MetadataSeal.seal(metadata: forged, name: "n1", sequence: 2, key: rogue), now: .zero).standing == .verified)
        // And the old key no longer speaks for n1.
        let byOld = book.read(name: "n1", bytes: MetadataSeal.seal(metadata: healthy, name: "n1", sequence: 60, key: victim), now: .zero)
        #expect(byOld.standing == .refused(.badSignature) && byOld.metadata == forged)
    }

    @Test func aBoardThatChecksNothingReadsBothForms() {
        var book = VerifiedMetadataBook(enforcing: false)
        let sealed = MetadataSeal.seal(metadata: forged, name: "n1", sequence: 1, key: rogue)
        let reading = book.read(name: "n1", bytes: sealed, now: .zero)
        #expect(reading.metadata == forged && reading.standing == .unchecked && reading.newRefusal == nil)
        #expect(book.read(name: "n2", bytes: healthy, now: .zero).mayActOn)
    }

    @Test func theSealerSignsAgainOnlyWhenTheMetadataChanges() throws {
        var sealer = MetadataSealer(key: victim, name: "n1")
        let first = sealer.sealed(healthy, sequence: 3)
        #expect(sealer.sealed(healthy, sequence: 4) == first, "unchanged metadata keeps its bytes: no gossip news")
        let second = sealer.sealed(forged, sequence: 4)
        #expect(try MetadataSeal.open(second, name: "n1", key: victim.publicKey).get().sequence == 4)
    }

    @Test func theNodeKeyIsMadeOnceWithMode0600AndReadBack() throws {
        var template = Array("/tmp/hc-nodekey.XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        let directory = String(cString: try #require(made))
        defer { unlink(directory + "/node.key"); rmdir(directory) }
        let path = directory + "/node.key"
        let (key, created) = try NodeKey.loadOrCreate(at: path)
        #expect(created)
        var status = stat()
        #expect(stat(path, &status) == 0 && status.st_mode & 0o777 == 0o600)
        let (again, createdAgain) = try NodeKey.loadOrCreate(at: path)
        #expect(!createdAgain && again.publicKey == key.publicKey)
        #expect(try NodePublicKey(line: key.publicKey.line) == key.publicKey)
        // Never through a symlink.
        let link = directory + "/link.key"
        symlink(path, link)
        defer { unlink(link) }
        #expect(throws: TrustError.self) { try NodeKey.read(from: link) }
    }
}
