// The shell's seal check on shared secrets: with node keys enforced, a copy signed by the key node_keys binds
// to its origin is kept (and in state_dir, mode 0600, read back after a restart); one signed by another key,
// or unsigned, is dropped.
import Glibc
import HomecloudSchema
import Logging
import Testing
import Trust
@testable import Gossip

@Suite struct SharedSecretKeeperTests {
    @Test func onlyTheOriginsBoundKeyIsBelievedAndTheCopyOutlivesARestart() throws {
        var template = Array("/tmp/hc-secret-keeper.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { Issue.record("mkdtemp"); return }
        let stateDir = String(cString: made)
        defer { _ = system("rm -rf '\(stateDir)'") }
        let origin = NodeKey.generate(), stranger = NodeKey.generate()
        var document = DesiredState(generation: 1, cluster: "hc", nodes: [NodeAssignment(name: "n1", roles: []), NodeAssignment(name: "n2", roles: [])])
        document.nodeKeys = ["n1": origin.publicKey.line]
        document.secrets = [SharedSecretSpec(name: "token", from: "n1", file: "/nonexistent")]
        let logger = Logger(label: "test")
        var keeper = SharedSecretKeeper(node: "n2", stateDir: stateDir, enforcing: true, policy: nil, policyFile: "agent.yaml", logger: logger)
        _ = keeper.bind(document)

        var forged = SharedSecretRecord(name: "token", origin: "n1", version: 10, value: Array("forged".utf8))
        forged.signature = stranger.sign(forged.signedBytes)
        do { let changed = keeper.receive([forged], from: "n3", now: .seconds(1)); #expect(!changed) }
        forged.signature = []
        do { let changed = keeper.receive([forged], from: "n3", now: .seconds(2)); #expect(!changed) }
        #expect(keeper.book.values.values.isEmpty)

        var genuine = SharedSecretRecord(name: "token", origin: "n1", version: 5, value: Array("real".utf8))
        genuine.signature = origin.sign(genuine.signedBytes)
        do { let changed = keeper.receive([genuine], from: "n3", now: .seconds(3)); #expect(changed) }
        #expect(keeper.book.values.values == ["token": "real"])
        // A tampered value under the genuine signature is a forgery too.
        var tampered = genuine
        tampered.version = 6
        do { let changed = keeper.receive([tampered], from: "n3", now: .seconds(4)); #expect(!changed) }

        var status = stat()
        #expect(stat(stateDir + "/secrets/token", &status) == 0 && status.st_mode & 0o777 == 0o600)
        #expect(stat(stateDir + "/secrets", &status) == 0 && status.st_mode & 0o777 == 0o700)
        var restarted = SharedSecretKeeper(node: "n2", stateDir: stateDir, enforcing: true, policy: nil, policyFile: "agent.yaml", logger: logger)
        _ = restarted.bind(document)
        #expect(restarted.book.values.values == ["token": "real"])
        let report = restarted.report(clusterKey: Array(repeating: 7, count: 32), wallSeconds: 100)
        #expect(report.first?.fingerprint?.count == 16)
        #expect(report.first?.fingerprint != SharedSecretKeeper.fingerprint(genuine, key: Array(repeating: 8, count: 32)))
    }
}
