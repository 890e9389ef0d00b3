// The document in force changes only for a valid document with a higher generation.
import AgentRuntime
import HomecloudSchema
import HomecloudYAML
import Testing

@Suite struct DesiredStateStoreTests {
    func document(_ generation: Int, unit: String = "a.service") -> String {
        "generation: \(generation)\ncluster: c\nnodes: { n1: [r] }\nroles: { r: { units: [ { name: \(unit), state: running } ] } }\n"
    }

    @Test func aBadDocumentNeverReplacesTheGoodOne() {
        var store = DesiredStateStore()
        #expect(store.offer(text: document(1), file: "d") == .accepted(generation: 1))
        guard case .rejected(let diagnostics) = store.offer(text: "generation: 2\ncluster: [\n", file: "d") else {
            Issue.record("a broken document was not refused")
            return
        }
        #expect(diagnostics.first?.file == "d")
        #expect(store.current?.generation == 1)
        #expect(store.rejected == diagnostics)
        #expect(store.offer(text: document(1), file: "d") == .unchanged)
        #expect(store.rejected.isEmpty)
    }

    @Test func aPeersDocumentForANewerAgentSaysUpgradeOverGossipToo() {
        var store = DesiredStateStore()
        _ = store.offer(text: document(1), file: "d")
        let next = AgentVersion(major: AgentVersion.current.major + 1, minor: 0, patch: 0)
        guard case .rejected(let diagnostics) = store.offerFromPeer(text: "requires: \"\(next)\"\n" + document(2), file: "gossip from n2") else {
            Issue.record("a document for a newer agent was taken")
            return
        }
        #expect(diagnostics.count == 1)
        #expect(diagnostics.first?.path == "requires")
        #expect(diagnostics.first?.message.contains("requires hcagent \(next) or later") == true)
        #expect(store.current?.generation == 1)
        // Any other parse error from a peer stays one generic line.
        guard case .rejected(let other) = store.offerFromPeer(text: "generation: 3\ncluster: [\n", file: "gossip from n2") else {
            Issue.record("a broken document was taken")
            return
        }
        #expect(other.map(\.message) == ["a peer's document does not parse here"])
    }

    @Test func sameOrLowerGenerationWithOtherContentIsRefused() {
        var store = DesiredStateStore()
        _ = store.offer(text: document(5), file: "d")
        #expect(store.offer(text: document(5, unit: "b.service"), file: "d") == .rejected([
            Diagnostic(file: "d", mark: nil, path: "generation",
                       message: "generation 5 is already in force with other content; bump generation to apply this document"),
        ]))
        #expect(store.offer(text: document(4, unit: "b.service"), file: "d") == .stale(generation: 4))
        #expect(store.rejected.isEmpty)
        #expect(store.offer(text: document(6, unit: "b.service"), file: "d") == .accepted(generation: 6))
        #expect(store.current?.roles.first?.units.first?.name == "b.service")
    }

    @Test func aPeersDocumentWinsByGenerationThenByContentHashOnEveryBoard() {
        let one = document(5, unit: "a.service"), other = document(5, unit: "b.service")
        let winner = DocumentHash.of(one) > DocumentHash.of(other) ? one : other
        // Two boards that start from either text end up with the same one, whichever they hear first.
        for (mine, theirs) in [(one, other), (other, one)] {
            var store = DesiredStateStore()
            _ = store.offer(text: mine, file: "d")
            let outcome = store.offerFromPeer(text: theirs, file: "gossip")
            #expect(store.currentText == winner)
            #expect(outcome == (theirs == winner ? .accepted(generation: 5) : .unchanged))
            #expect(store.conflict == (theirs == winner ? 5 : nil))
        }
        var store = DesiredStateStore()
        _ = store.offer(text: document(5), file: "d")
        #expect(store.offerFromPeer(text: document(4, unit: "z.service"), file: "g") == .stale(generation: 4))
        #expect(store.offerFromPeer(text: document(6, unit: "z.service"), file: "g") == .accepted(generation: 6))
        #expect(store.offerFromPeer(text: "generation: 7\ncluster: [\n", file: "g") != .accepted(generation: 7))
        #expect(store.current?.generation == 6 && store.rejected.isEmpty, "a peer's bad document is not the local file's fault")
    }

    @Test func applyTakesTheNextGenerationAndKeepsTheTextAsWritten() {
        var store = DesiredStateStore()
        _ = store.offer(text: document(5), file: "d")
        let text = "# comment kept\n" + document(2, unit: "b.service").replacingOccurrences("generation: 2", "generation:   2   # old")
        #expect(store.apply(text: text, file: "new.yaml") == .accepted(generation: 6))
        #expect(store.currentText == "# comment kept\n" + document(2, unit: "b.service").replacingOccurrences("generation: 2", "generation:   6   # old"))
        #expect(store.current?.generation == 6)
        #expect(store.apply(text: document(9), file: "new.yaml") == .accepted(generation: 9))
        guard case .rejected(let errors) = store.apply(text: "generation: x\n", file: "bad.yaml") else {
            Issue.record("a bad document was applied")
            return
        }
        #expect(errors.first?.file == "bad.yaml")
        #expect(store.current?.generation == 9)
    }

    @Test func anUnreadableFileKeepsTheDocumentInForce() {
        var store = DesiredStateStore()
        _ = store.offer(text: document(2), file: "d")
        let outcome = store.unreadable(TextFile.Failure(path: "d", reason: "Permission denied"), file: "d")
        #expect(outcome == .rejected([Diagnostic(file: "d", mark: nil, path: "", message: "Permission denied")]))
        #expect(store.current?.generation == 2)
    }
}

extension String {
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        var copy = self
        if let range = copy.firstRange(of: target) { copy.replaceSubrange(range, with: replacement) }
        return copy
    }
}
