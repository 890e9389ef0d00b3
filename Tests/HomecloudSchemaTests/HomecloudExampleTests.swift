// examples/homecloud/: the document that replaces the seeds' Ansible roles parses, brings k3s up in order, and
// its agent.yaml's policy allows exactly what it asks.
import HomecloudSchema
import HomecloudYAML
import Testing

@Suite struct HomecloudExampleTests {
    func document() throws -> DesiredState {
        try DesiredStateParser.parse(try readTextFile(examplePath("homecloud/desired.yaml")), file: "desired.yaml").get()
    }

    @Test func joinersWaitForTheFirstServerAndItsToken() throws {
        let state = try document()
        #expect(state.secrets.map(\.name) == ["k3s-token"])
        #expect(state.roles(of: "hc1-n1").contains("k3s-init"))
        for role in ["k3s-server", "k3s-agent"] {
            let unit = try #require(state.role(named: role)?.units.first)
            #expect(unit.waitFor == [.probe("k3s-api", role: "k3s-init"), .secret("k3s-token")], "\(role)")
        }
        // The first server waits for nothing: it makes the cluster and the token.
        #expect(state.role(named: "k3s-init")?.units.first?.waitFor == [])
        // Servers restart one at a time after a config change (etcd's quorum).
        #expect(state.role(named: "k3s-server")?.files.first?.serial == true)
    }

    @Test func theAgentYAMLPolicyAllowsWhatTheDocumentAsks() throws {
        let config = try AgentConfig.parse(try readTextFile(examplePath("homecloud/agent.yaml")), file: "agent.yaml", hostname: "x").get()
        let policy = try #require(config.policy)
        let state = try document()
        for role in state.roles {
            for unit in role.units { #expect(policy.allowsUnit(unit.name), "\(unit.name)") }
            for file in role.files {
                #expect(policy.allowsPath(file.path), "\(file.path)")
                for unit in file.restart + file.reload { #expect(policy.allowsUnit(unit), "\(unit)") }
                if let validate = file.validate { #expect(policy.allowsExec(validate), "\(validate)") }
            }
        }
        for secret in state.secrets { #expect(policy.allowsSecret(secret.file), "\(secret.file)") }
        // A board publishes only the files its policy lets it (its Syncthing certificate, for the device ID).
        #expect(state.facts.map(\.name) == ["syncthing-id"])
        for fact in state.facts { #expect(policy.allowsSecret(fact.file), "\(fact.file)") }
    }
}
