// hcagent --check on node_keys: every line a key, and this board's name bound to its own node key.
import Gossip
import HomecloudSchema
import Testing
import Trust
@testable import AgentRuntime

@Suite struct NodeKeysCheckTests {
    @Test func ownKeyBoundIsOkAnotherKeyOrABadLineIsNot() throws {
        let directory = TemporaryDirectory()
        let own = try NodeKey.loadOrCreate(at: directory.path + "/" + NodeKey.fileName).key
        let other = NodeKey.generate().publicKey.line
        var document = DesiredState(generation: 1, cluster: "c", nodes: [NodeAssignment(name: "n1", roles: []), NodeAssignment(name: "n2", roles: [])])

        document.nodeKeys = ["n1": own.publicKey.line, "n2": other]
        let good = GossipIdentity.checkLines(node: "n1", stateDir: directory.path, document: document, file: "d.yaml")
        #expect(good.ok && good.lines == ["d.yaml: node_keys.n1 is this board's node key (\(own.publicKey.id))"])

        document.nodeKeys = ["n1": other, "n2": "ed25519 0123456789abcdef " + String(repeating: "A", count: 43) + "="]
        let bad = GossipIdentity.checkLines(node: "n1", stateDir: directory.path, document: document, file: "d.yaml")
        #expect(!bad.ok && bad.lines.count == 2)
        #expect(bad.lines[0].hasPrefix("d.yaml: node_keys.n2: the key id 0123456789abcdef does not belong to this key"))
        #expect(bad.lines[1].contains("node_keys.n1 is not this board's node key"))

        document.nodeKeys = [:]
        let unbound = GossipIdentity.checkLines(node: "n1", stateDir: directory.path, document: document, file: "d.yaml")
        #expect(unbound.ok && unbound.lines == ["d.yaml: warning: node_keys binds no key to this board (n1): the others will not act on its requests; add n1: \"\(own.publicKey.line)\""])
    }
}
