// Per-board facts: Syncthing's device ID from its certificate (pinned against the real syncthing 1.19's
// `--device-id`), the book's rules (the document's boards of the role only, last value kept, state_dir file),
// the policy's say over which files a board reads, and the metadata key "nf" both ways.
import Glibc
import HomecloudSchema
import HomecloudYAML
import Logging
import Testing
@testable import Gossip
@testable import GossipCore

@Suite struct NodeFactsTests {
    /// Made by `syncthing -generate=DIR` (Debian's 1.19); `syncthing -device-id -home DIR` printed the ID below.
    static let certificate = """
        -----BEGIN CERTIFICATE-----
        MIICHTCCAaOgAwIBAgIJAJmBKe4qYS5DMAoGCCqGSM49BAMCMEoxEjAQBgNVBAoT
        CVN5bmN0aGluZzEgMB4GA1UECxMXQXV0b21hdGljYWxseSBHZW5lcmF0ZWQxEjAQ
        BgNVBAMTCXN5bmN0aGluZzAeFw0yNjEyMDcwMDAwMDBaFw00NjEyMDIwMDAwMDBa
        MEoxEjAQBgNVBAoTCVN5bmN0aGluZzEgMB4GA1UECxMXQXV0b21hdGljYWxseSBH
        ZW5lcmF0ZWQxEjAQBgNVBAMTCXN5bmN0aGluZzB2MBAGByqGSM49AgEGBSuBBAAi
        A2IABPcOIDKYC/+SFELwCaWM4yQ5IlQRbRe4rE91rAJZ6OSffwma2ZsVZVfCxeVL
        CYSQSZXHbKCKa/rRaS+5zoc/b3sAKvHU7BO1R8viDLl2CFiQLgHZmBVWs+/CDJNb
        G2UZpaNVMFMwDgYDVR0PAQH/BAQDAgWgMB0GA1UdJQQWMBQGCCsGAQUFBwMBBggr
        BgEFBQcDAjAMBgNVHRMBAf8EAjAAMBQGA1UdEQQNMAuCCXN5bmN0aGluZzAKBggq
        hkjOPQQDAgNoADBlAjEAgMEasUPeA531//o9euPi6mglQ31/HBR+Ol03OJLpvgKJ
        fzEQhHO5zTQ/9OgmCiLKAjB6jGTn/C8F5PgXj66uLXK/uPUNznpzcI0lCCcXKkYT
        m/NZMP1dAP6pmTISgiSKFSc=
        -----END CERTIFICATE-----

        """
    static let deviceID = "5JJB2GI-XHKLNQZ-H6IZ2DH-PPR5GQR-B2HVQFA-WNWSOYR-I74RBG5-PZKGDQJ"

    @Test func theDeviceIDIsSyncthingsOwn() {
        let value = NodeFactSources.value(of: Array(Self.certificate.utf8), kind: .syncthingDeviceID, sha256: NodeFactKeeper.sha256)
        #expect(value == .success(Self.deviceID))
        // CRLF line ends read the same.
        let crlf = Self.certificate.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\r\n")
        #expect(NodeFactSources.value(of: Array(crlf.utf8), kind: .syncthingDeviceID, sha256: NodeFactKeeper.sha256) == .success(Self.deviceID))
    }

    @Test func theSpellingsPartsAreSyncthings() throws {
        // RFC 4648's test vector, without padding.
        #expect(String(decoding: SyncthingDeviceID.base32(Array("foobar".utf8)), as: UTF8.self) == "MZXW6YTBOI")
        // The check character of the pinned ID's first quarter is its 14th character.
        let id = Self.deviceID.filter { $0 != "-" }
        #expect(SyncthingDeviceID.luhn32(Array(id.utf8.prefix(13))) == Array(id.utf8)[13])
        let spelled = try SyncthingDeviceID.text(digest: [UInt8](repeating: 0, count: 32)).get()
        #expect(spelled.count == 63 && spelled.split(separator: "-").allSatisfy { $0.count == 7 })
        #expect(spelled.hasPrefix("AAAAAAA-"))
        #expect(SyncthingDeviceID.text(digest: [1, 2]) == .failure(.badDigest))
    }

    @Test func aFileThatIsNoCertificateSaysWhy() {
        let sha = NodeFactKeeper.sha256
        #expect(NodeFactSources.value(of: Array("hello\n".utf8), kind: .syncthingDeviceID, sha256: sha) == .failure(.certificate(.noCertificate)))
        let broken = "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"
        #expect(NodeFactSources.value(of: Array(broken.utf8), kind: .syncthingDeviceID, sha256: sha) == .failure(.certificate(.badBase64)))
        #expect(NodeFactSources.value(of: Array("v1.2\n".utf8), kind: .text, sha256: sha) == .success("v1.2"))
        #expect(NodeFactSources.value(of: Array("\n".utf8), kind: .text, sha256: sha) == .failure(.empty))
        #expect(NodeFactSources.value(of: Array("two\nlines\n".utf8), kind: .text, sha256: sha) == .failure(.notOneShortLine))
    }

    static let specs = [NodeFactSpec(name: "st", role: "dnas", file: "/c/cert.pem", kind: .syncthingDeviceID)]
    static let nodes = [NodeAssignment(name: "n1", roles: ["dnas"]), NodeAssignment(name: "n2", roles: ["dnas"]),
                        NodeAssignment(name: "n3", roles: ["k3s"])]

    @Test func theBookKeepsTheDocumentsBoardsOfTheRoleAndTheirLastValue() {
        var book = NodeFactBook(node: "n1")
        _ = book.onDocument(Self.specs, nodes: Self.nodes)
        let changed1 = book.onOwn(name: "st", value: "AAA")
        #expect(changed1)
        let changed2 = book.onOwn(name: "st", value: "AAA")
        #expect(!changed2)
        let changed3 = book.onOwn(name: "other", value: "x")
        #expect(!changed3, "a fact the document does not name")
        #expect(book.announced == ["st": "AAA"])
        let changed4 = book.onMetadata(member: "n2", facts: ["st": "BBB", "other": "x"])
        #expect(changed4)
        let changed5 = book.onMetadata(member: "n3", facts: ["st": "CCC"])
        #expect(!changed5, "n3 has not the role")
        let changed6 = book.onMetadata(member: "n9", facts: ["st": "DDD"])
        #expect(!changed6, "n9 is not in the document")
        let changed7 = book.onMetadata(member: "n1", facts: ["st": "forged"])
        #expect(!changed7, "this board's own value comes from its file")
        let changed8 = book.onMetadata(member: "n2", facts: ["st": "bad\nvalue"])
        #expect(!changed8)
        let changed9 = book.onMetadata(member: "n2", facts: [:])
        #expect(!changed9, "metadata without the fact keeps the last value")
        #expect(book.values == NodeFactValues(["n1": ["st": "AAA"], "n2": ["st": "BBB"]]))

        // Kept in state_dir and restored after a restart.
        let text = book.fileText
        #expect(text == "hcagent-facts 1\nn1 st AAA\nn2 st BBB\n")
        var restarted = NodeFactBook(node: "n1")
        restarted.restore(NodeFactBook.parse(fileText: text) ?? [:])
        _ = restarted.onDocument(Self.specs, nodes: Self.nodes)
        #expect(restarted.values == book.values)
        #expect(NodeFactBook.parse(fileText: "something else\n") == nil)

        // n2 loses the role: its value is forgotten.
        let changed10 = book.onDocument(Self.specs, nodes: [NodeAssignment(name: "n1", roles: ["dnas"]), NodeAssignment(name: "n2", roles: [])])
        #expect(changed10)
        #expect(book.values == NodeFactValues(["n1": ["st": "AAA"]]))
    }

    /// hcctl status's facts: a row per board of the role, its value (public), since when it is known here, why
    /// one is missing; this board's own file's problem beside the last value it publishes.
    @Test func statusShowsEachBoardsValueAndItsAge() {
        var book = NodeFactBook(node: "n1")
        book.restore(["n2": ["st": "KEPT"]])
        _ = book.onDocument(Self.specs, nodes: Self.nodes + [NodeAssignment(name: "n4", roles: ["dnas"])])
        _ = book.onOwn(name: "st", value: "AAA")
        let rows = book.statuses(learnedAt: ["n1": ["st": 1000]], ownProblems: ["st": "not a certificate: no PEM block"],
                                 wallSeconds: 1030)
        #expect(rows == [
            FactStatus(name: "st", node: "n1", state: "known", value: "AAA", since: 1000, age: 30,
                       reason: "not a certificate: no PEM block; publishing its last value"),
            FactStatus(name: "st", node: "n2", state: "known", value: "KEPT", reason: "kept from the last run"),
            FactStatus(name: "st", node: "n4", state: "waiting", reason: "not published by n4 yet"),
        ])
        let noAges = book.statuses(learnedAt: ["n1": ["st": 1000]], ownProblems: [:], wallSeconds: nil)
        #expect(noAges[0] == FactStatus(name: "st", node: "n1", state: "known", value: "AAA", since: 1000))
        #expect(NodeFactBook(node: "n1").statuses(learnedAt: [:], ownProblems: [:], wallSeconds: 0).isEmpty, "no document, no rows")
    }

    @Test func aBoardReadsOnlyWhatItsPolicyLetsItPublish() {
        let refused = NodeFactSources.plan(Self.specs, roles: ["dnas"], policy: LocalPolicy(paths: ["/c/cert.pem"]), policyFile: "/etc/a.yaml")
        #expect(refused.read.isEmpty)
        #expect(refused.refused["st"]?.contains("/c/cert.pem is not allowed by policy.secrets in /etc/a.yaml") == true)
        let allowed = NodeFactSources.plan(Self.specs, roles: ["dnas"], policy: LocalPolicy(secrets: ["/c/*.pem"]), policyFile: "a.yaml")
        #expect(allowed.read == Self.specs && allowed.refused.isEmpty)
        #expect(NodeFactSources.plan(Self.specs, roles: ["dnas"], policy: nil, policyFile: "a.yaml").read == Self.specs)
        #expect(NodeFactSources.plan(Self.specs, roles: ["k3s"], policy: nil, policyFile: "a.yaml").read.isEmpty, "not this board's role")
    }

    @Test func metadataCarriesFactsAsNF() throws {
        var metadata = NodeMetadata(version: "0.3.0", generation: 4, hash: 0xabc, roles: ["dnas"])
        metadata.facts = ["st": Self.deviceID]
        let json = String(decoding: metadata.bytes, as: UTF8.self)
        #expect(json.contains("\"nf\":{\"st\":\"\(Self.deviceID)\"}"), "\(json)")
        #expect(NodeMetadata(metadata.bytes) == metadata)
        // Without facts the key is not sent: an older agent's metadata is as before.
        #expect(!String(decoding: NodeMetadata(version: "0.3.0", generation: 4, hash: 1, roles: []).bytes, as: UTF8.self).contains("nf"))
        // Too much for the limit: the facts go before the handovers, drain requests and the rest.
        var full = metadata
        full.handovers = ["front": "n2"]
        let trimmed = NodeMetadata(full.encoded(within: 120))
        #expect(trimmed?.facts.isEmpty == true && trimmed?.handovers == ["front": "n2"])
    }

    @Test func theKeeperReadsItsFileAndKeepsWhatItKnowsInStateDir() throws {
        var template = Array("/tmp/hc-fact-keeper.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { Issue.record("mkdtemp"); return }
        let dir = String(cString: made)
        defer { _ = system("rm -rf '\(dir)'") }
        var document = DesiredState(generation: 1, cluster: "hc", nodes: Self.nodes)
        document.facts = [NodeFactSpec(name: "st", role: "dnas", file: dir + "/cert.pem", kind: .syncthingDeviceID)]
        let logger = Logger(label: "test")
        var keeper = NodeFactKeeper(node: "n1", stateDir: dir, policy: LocalPolicy(secrets: [dir + "/*.pem"]), policyFile: "a.yaml",
                                    logger: logger, keep: { try? $0() })
        _ = keeper.bind(document)
        var polled = keeper.pollSources()
        #expect(!polled.changed && polled.problemsChanged)
        #expect(keeper.sourceProblems["st"] == "waiting for \(dir)/cert.pem to appear")
        try TextFile.writeAtomically(dir + "/cert.pem", Self.certificate)
        polled = keeper.pollSources()
        #expect(polled.changed && keeper.sourceProblems.isEmpty)
        #expect(keeper.book.announced == ["st": Self.deviceID])
        // A broken file: a problem, and the last value stays published.
        try TextFile.writeAtomically(dir + "/cert.pem", "garbage\n")
        polled = keeper.pollSources()
        #expect(!polled.changed && keeper.sourceProblems["st"]?.contains("not a certificate") == true)
        #expect(keeper.book.announced == ["st": Self.deviceID])
        // Restarted: the value known comes back from state_dir/facts before the file is read.
        var again = NodeFactKeeper(node: "n1", stateDir: dir, policy: nil, policyFile: "a.yaml", logger: logger, keep: { try? $0() })
        _ = again.bind(document)
        #expect(again.book.values == NodeFactValues(["n1": ["st": Self.deviceID]]))
    }
}
