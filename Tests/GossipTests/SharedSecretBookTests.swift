// Shared secrets' rules: the newest copy wins, only the document's origin (sealed, where checked) is believed,
// the source's versions only grow, what is fetched and from whom, and the push-pull frame's secrets section.
import Testing
import HomecloudSchema
@testable import GossipCore

@Suite struct SharedSecretBookTests {
    static let specs = [SharedSecretSpec(name: "token", from: "n1", file: "/var/lib/k3s/node-token")]

    static func record(_ value: String, version: UInt64, origin: String = "n1", name: String = "token") -> SharedSecretRecord {
        SharedSecretRecord(name: name, origin: origin, version: version, value: Array(value.utf8), signature: [1, 2, 3])
    }

    @Test func theNewestCopyWins() {
        var book = SharedSecretBook(node: "n2")
        _ = book.onDocument(Self.specs)
        do { let result = book.onReceived(Self.record("a", version: 10), authenticity: .verified); #expect(result == .accepted) }
        do { let result = book.onReceived(Self.record("old", version: 9), authenticity: .verified); #expect(result == .stale) }
        do { let result = book.onReceived(Self.record("a", version: 10), authenticity: .verified); #expect(result == .stale) }
        #expect(book.values.values == ["token": "a"])
        do { let result = book.onReceived(Self.record("b", version: 11), authenticity: .unchecked); #expect(result == .accepted) }
        #expect(book.values.values == ["token": "b"])
        #expect(book.announced == ["token": 11])
    }

    @Test func onlyTheDocumentsOriginSealedByItsKeyIsBelieved() {
        var book = SharedSecretBook(node: "n2")
        _ = book.onDocument(Self.specs)
        do { let result = book.onReceived(Self.record("forged", version: 50, origin: "n3"), authenticity: .verified); #expect(result == .wrongOrigin) }
        do { let result = book.onReceived(Self.record("forged", version: 50), authenticity: .badSignature); #expect(result == .refused(.badSignature)) }
        do { let result = book.onReceived(Self.record("forged", version: 50), authenticity: .unsigned); #expect(result == .refused(.unsigned)) }
        do { let result = book.onReceived(Self.record("forged", version: 50), authenticity: .unbound); #expect(result == .refused(.unbound)) }
        #expect(book.values.values.isEmpty)
        #expect(book.report(fingerprint: { _ in "f" }, sourceProblems: [:], wallSeconds: 0).first?.state == "refused")
        #expect(book.dropped["token"] == "dropped a copy: node_keys binds no key to n1")
        // A genuine copy afterwards is taken, and the refusal is no longer shown.
        do { let result = book.onReceived(Self.record("real", version: 5), authenticity: .verified); #expect(result == .accepted) }
        #expect(book.dropped["token"] == nil)
        do { let result = book.onReceived(Self.record("x", version: 6, name: "unknown"), authenticity: .verified); #expect(result == .unknown) }
        var large = Self.record("", version: 7)
        large.value = Array(repeating: 65, count: SharedSecretSpec.maxValueBytes + 1)
        do { let result = book.onReceived(large, authenticity: .verified); #expect(result == .tooLarge) }
        #expect(book.values.values == ["token": "real"])
    }

    @Test func theSourcesVersionsOnlyGrow() {
        var book = SharedSecretBook(node: "n1")
        _ = book.onDocument(Self.specs)
        #expect(book.nextVersion(name: "token", value: Array("a".utf8), wallMillis: 1_000) == 1_000)
        _ = book.onReceived(Self.record("a", version: 1_000), authenticity: .verified)
        // The same value: no new copy; a new one above the last even when the clock went back.
        #expect(book.nextVersion(name: "token", value: Array("a".utf8), wallMillis: 2_000) == nil)
        #expect(book.nextVersion(name: "token", value: Array("b".utf8), wallMillis: 500) == 1_001)
        #expect(book.nextVersion(name: "token", value: Array("b".utf8), wallMillis: 3_000) == 3_000)
    }

    @Test func aRestartedBoardKeepsItsCopiesWhileTheDocumentNamesThem() {
        var book = SharedSecretBook(node: "n2")
        book.restore([Self.record("kept", version: 4), Self.record("older", version: 3), Self.record("gone", version: 1, name: "gone")])
        // Nothing is used before the document says which secrets exist and from whom.
        #expect(book.values.values.isEmpty)
        do { let result = book.onDocument(Self.specs); #expect(result == ["gone"]) }
        #expect(book.values.values == ["token": "kept"])
        // The document moves the secret to another board: the old copy is forgotten.
        do { let result = book.onDocument([SharedSecretSpec(name: "token", from: "n3", file: "/t")]); #expect(result == ["token"]) }
        #expect(book.values.values.isEmpty)
    }

    @Test func aMemberAnnouncingANewerCopyIsFetchedFromNotHammered() {
        var book = SharedSecretBook(node: "n2")
        _ = book.onDocument(Self.specs)
        do { let result = book.shouldFetch(from: "n1", announced: [:], now: .seconds(1)); #expect(!result) }
        do { let result = book.shouldFetch(from: "n1", announced: ["unknown": 9], now: .seconds(1)); #expect(!result) }
        do { let result = book.shouldFetch(from: "n1", announced: ["token": 9], now: .seconds(1)); #expect(result) }
        do { let result = book.shouldFetch(from: "n1", announced: ["token": 9], now: .seconds(2)); #expect(!result) }
        do { let result = book.shouldFetch(from: "n1", announced: ["token": 9], now: .seconds(3)); #expect(result) }
        _ = book.onReceived(Self.record("a", version: 9), authenticity: .verified)
        do { let result = book.shouldFetch(from: "n3", announced: ["token": 9], now: .seconds(10)); #expect(!result) }
        do { let result = book.shouldFetch(from: "n2", announced: ["token": 99], now: .seconds(10)); #expect(!result) }
    }

    @Test func statusShowsNoValue() {
        var book = SharedSecretBook(node: "n1")
        _ = book.onDocument(Self.specs + [SharedSecretSpec(name: "b", from: "n2", file: "/b")])
        _ = book.onReceived(Self.record("topsecret", version: 100_000), authenticity: .verified)
        let report = book.report(fingerprint: { _ in "0011223344556677" }, sourceProblems: [:], wallSeconds: 160)
        #expect(report[0] == SecretStatus(name: "token", from: "n1", state: "held", fingerprint: "0011223344556677", madeAt: 100, age: 60))
        #expect(report[1] == SecretStatus(name: "b", from: "n2", state: "waiting", reason: "not received from n2 yet"))
        #expect(!"\(report)".contains("topsecret"))
        #expect(!"\(Self.record("topsecret", version: 1))".contains("topsecret"))
    }

    @Test func thePolicyDecidesWhatThisBoardPublishes() {
        let specs = Self.specs + [SharedSecretSpec(name: "shadow", from: "n1", file: "/etc/shadow"), SharedSecretSpec(name: "x", from: "n2", file: "/x")]
        let open = SharedSecretSources.plan(specs, node: "n1", policy: nil, policyFile: "agent.yaml")
        #expect(open.read.map(\.name) == ["token", "shadow"])
        let policy = LocalPolicy(secrets: ["/var/lib/k3s/*"])
        let planned = SharedSecretSources.plan(specs, node: "n1", policy: policy, policyFile: "/etc/hcagent/agent.yaml")
        #expect(planned.read.map(\.name) == ["token"])
        #expect(planned.refused["shadow"]?.contains("not allowed by policy.secrets in /etc/hcagent/agent.yaml") == true)
    }

    @Test func aSourceFileLosesOneTrailingNewline() {
        #expect(SharedSecretSources.value(of: Array("K10abc\n".utf8)) == .success(Array("K10abc".utf8)))
        #expect(SharedSecretSources.value(of: Array("a\nb\r\n".utf8)) == .success(Array("a\nb".utf8)))
        #expect(SharedSecretSources.value(of: Array("\n".utf8)) == .failure(.empty))
        #expect(SharedSecretSources.value(of: [0xFF, 0xFE]) == .failure(.notText))
        #expect(SharedSecretSources.value(of: Array(repeating: 65, count: SharedSecretSpec.maxValueBytes + 2)) == .failure(.tooLarge(SharedSecretSpec.maxValueBytes + 2)))
    }

    @Test func theFrameCarriesSecretsAfterTheDocument() throws {
        let state = GossipPushPullState(from: "n1", members: [])
        let records = [Self.record("v1", version: 42), SharedSecretRecord(name: "b", origin: "n2", version: 1, value: [])]
        let frame = PushPullFrame(state: state, documentText: "generation: 1\n", secrets: records)
        let decoded = try PushPullFrame.decode(frame.encoded)
        #expect(decoded.documentText == "generation: 1\n")
        #expect(decoded.secrets == records)
        // Without secrets the frame is as before: an older agent reads it unchanged.
        let plain = PushPullFrame(state: state, documentText: "generation: 1\n")
        #expect(Array(plain.encoded.suffix(14)) == Array("generation: 1\n".utf8))
        #expect(try PushPullFrame.decode(plain.encoded).secrets.isEmpty)
        // A damaged section refuses the frame.
        var damaged = frame.encoded
        damaged.removeLast()
        #expect(throws: GossipDecodeError.self) { try PushPullFrame.decode(damaged) }
    }

    @Test func metadataAnnouncesVersionsAndDropsThemFirstWhenFull() {
        var metadata = NodeMetadata(version: "0.4", generation: 1, hash: 1, roles: ["web"])
        metadata.secretVersions = ["token": 1_765_000_000_123]
        let read = NodeMetadata(metadata.bytes)
        #expect(read?.secretVersions == ["token": 1_765_000_000_123])
        metadata.roles = (0..<40).map { "role\($0)" }
        let trimmed = NodeMetadata(metadata.encoded(within: 200))
        #expect(trimmed?.secretVersions.isEmpty == true)
    }
}
