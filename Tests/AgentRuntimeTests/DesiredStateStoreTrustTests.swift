// With trusted admin keys and a local policy, the store refuses unsigned, wrongly signed and out-of-policy
// documents from every source, keeps the one in force, and remembers peers' refused documents.
import AgentRuntime
import HomecloudSchema
import HomecloudYAML
import Testing
import Trust

@Suite struct DesiredStateStoreTrustTests {
    let admin = try! AdminSecretKey(seed: Array(repeating: 1, count: 32))
    let stranger = try! AdminSecretKey(seed: Array(repeating: 2, count: 32))

    func document(_ generation: Int, unit: String = "a.service") -> String {
        "generation: \(generation)\ncluster: c\nnodes: { n1: [r] }\nroles: { r: { units: [ { name: \(unit), state: running } ] } }\n"
    }

    func signed(_ generation: Int, unit: String = "a.service", by key: AdminSecretKey? = nil) -> String {
        DocumentSignature.sign(document(generation, unit: unit), with: key ?? admin)
    }

    func trustingStore(policy: LocalPolicy? = nil) -> DesiredStateStore {
        DesiredStateStore(verifier: DocumentVerifier(trusted: [admin.publicKey]),
                          policy: policy.map { PolicyCheck(policy: $0, node: "n1", policyFile: "agent.yaml") })
    }

    @Test func theFileAndThePersistedCopyMustBeSigned() {
        var store = trustingStore()
        guard case .rejected(let why) = store.offer(text: document(1), file: "desired.yaml") else {
            Issue.record("an unsigned file was taken")
            return
        }
        #expect(why.first?.message.contains("not signed") == true)
        #expect(store.current == nil)
        #expect(store.lastRefusal?.reason == .signature)
        #expect(store.offer(text: signed(1), file: "desired.yaml") == .accepted(generation: 1))
        #expect(store.signer == admin.publicKey.id)
        // A hand-written newer file (or a persisted copy changed on the SD card) does not replace it.
        #expect(store.offer(text: signed(2, by: stranger), file: "/var/lib/homecloud/desired.yaml") == .rejected([
            Diagnostic(file: "/var/lib/homecloud/desired.yaml", mark: nil, path: "",
                       message: DocumentVerifier.Refusal.unknownKey(stranger.publicKey.id).description),
        ]))
        #expect(store.current?.generation == 1)
        #expect(store.refusals.count == 2)
    }

    @Test func applyKeepsASignedTextAsItIsAndRefusesAGenerationThatIsNoLongerAbove() {
        var store = trustingStore()
        #expect(store.apply(text: signed(3), file: "apply") == .accepted(generation: 3))
        #expect(store.currentText == signed(3))
        #expect(store.apply(text: signed(3), file: "apply") == .unchanged)
        // Renumbering it would break the signature: an older or equal generation is refused, not renumbered.
        guard case .rejected(let why) = store.apply(text: signed(3, unit: "b.service"), file: "apply") else {
            Issue.record("a signed document at the generation in force was taken")
            return
        }
        #expect(why.first?.message.contains("run hcctl apply again") == true)
        #expect(store.lastRefusal?.reason == .generation)
        if case .accepted = store.apply(text: document(9), file: "apply") { Issue.record("an unsigned apply was taken") }
        #expect(store.apply(text: signed(4, unit: "b.service"), file: "apply") == .accepted(generation: 4))
    }

    @Test func anOldSignedDocumentCannotBeReplayedUnderAHigherNumber() {
        var store = trustingStore()
        _ = store.apply(text: signed(5), file: "apply")
        let old = signed(2, unit: "old.service")
        let replayed = DesiredStateParser.settingGeneration(of: old, to: 6)!
        guard case .rejected = store.offerFromPeer(text: replayed, file: "gossip from n2") else {
            Issue.record("a replayed document was taken")
            return
        }
        #expect(store.current?.generation == 5)
        #expect(store.offerFromPeer(text: old, file: "gossip from n2") == .stale(generation: 2))
    }

    @Test func aPeersUnsignedDocumentIsRefusedOnceAndRemembered() {
        var store = trustingStore()
        _ = store.offer(text: signed(1), file: "desired.yaml")
        let forged = document(7, unit: "debug-shell.service")
        guard case .rejected(let first) = store.offerFromPeer(text: forged, file: "gossip from n3") else {
            Issue.record("a peer's unsigned document was taken")
            return
        }
        #expect(!first.isEmpty)
        #expect(store.wasRefused(generation: 7, hash: DocumentHash.of(forged)))
        #expect(!store.wasRefused(generation: 7, hash: DocumentHash.of(signed(7))))
        // Offered again (a push-pull brings it anyway): refused without a new message or record.
        #expect(store.offerFromPeer(text: forged, file: "gossip from n3") == .rejected([]))
        #expect(store.refusals.count == 1)
        #expect(store.rejected.isEmpty)
        #expect(store.current?.generation == 1)
        #expect(store.offerFromPeer(text: signed(7), file: "gossip from n3") == .accepted(generation: 7))
    }

    @Test func aDocumentOutsideThePolicyIsRefusedFromEverySource() {
        var store = trustingStore(policy: LocalPolicy(units: ["a.service"]))
        #expect(store.offer(text: signed(1), file: "desired.yaml") == .accepted(generation: 1))
        let wide = signed(2, unit: "debug-shell.service")
        for source in ["desired.yaml", "apply", "gossip from n2"] {
            let outcome: DesiredStateStore.Outcome
            switch source {
            case "apply": outcome = store.apply(text: wide, file: source)
            case "desired.yaml": outcome = store.offer(text: wide, file: source)
            default: outcome = store.offerFromPeer(text: wide, file: source)
            }
            guard case .rejected(let why) = outcome else {
                Issue.record("\(source): a document outside the policy was taken")
                continue
            }
            #expect(why.map(\.description) == [
                "\(source):4:32: roles.r.units[0].name: \"debug-shell.service\" is not allowed by policy.units in agent.yaml",
            ])
            #expect(store.lastRefusal?.reason == .policy)
        }
        #expect(store.current?.generation == 1)
    }

    @Test func withoutTrustedKeysApplyRenumbersAsBeforeButNeverASignedText() {
        var store = DesiredStateStore()
        #expect(store.offer(text: document(4), file: "d") == .accepted(generation: 4))
        #expect(store.apply(text: document(1, unit: "b.service"), file: "apply") == .accepted(generation: 5))
        #expect(store.signer == nil)
        if case .accepted = store.apply(text: signed(5, unit: "c.service"), file: "apply") {
            Issue.record("a signed text was renumbered")
        }
        #expect(store.apply(text: signed(6, unit: "c.service"), file: "apply") == .accepted(generation: 6))
        #expect(store.offerFromPeer(text: document(7), file: "gossip") == .accepted(generation: 7))
    }
}
