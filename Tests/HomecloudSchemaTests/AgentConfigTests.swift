// agent.yaml: defaults, every key, and refusals with FILE:LINE messages.
import Testing
import HomecloudSchema
import HomecloudYAML

@Suite struct AgentConfigTests {
    private func parse(_ text: String) -> Result<AgentConfig, FileRejected> {
        AgentConfig.parse(text, file: "agent.yaml", hostname: "board")
    }

    @Test func emptyFileGivesDefaults() throws {
        let config = try parse("").get()
        #expect(config == AgentConfig(node: "board"))
        #expect(config.bind.description == "0.0.0.0:7964")
        #expect(config.socket == "/run/homecloud/hcagent.sock")
        #expect(config.metrics.description == "127.0.0.1:9646")
        #expect(config.advertisedAddress == nil)
    }

    @Test func everyKeyCanBeSet() throws {
        let config = try parse("""
            node: hc1-n1
            bind: 10.77.0.1:7964
            join: [10.77.0.2:7964, "[fd00::3]:7964"]
            interface: eth0
            key_file: /etc/homecloud/gossip.key
            socket: /tmp/a.sock
            state_dir: /tmp/state
            desired: /tmp/desired.yaml
            metrics: 127.0.0.1:19646

            """).get()
        #expect(config.node == "hc1-n1")
        #expect(config.join.map(\.description) == ["10.77.0.2:7964", "[fd00::3]:7964"])
        #expect(config.advertisedAddress?.description == "10.77.0.1:7964")
        #expect(config.keyFile == "/etc/homecloud/gossip.key")
        #expect(config.stateDir == "/tmp/state")
    }

    @Test func unknownKeysAndBadValuesAreRefusedWithLines() {
        guard case .failure(let rejected) = parse("node: a\nbnd: 1.2.3.4:5\nbind: nowhere\nsocket: relative.sock\n") else {
            Issue.record("a bad file was accepted")
            return
        }
        #expect(rejected.diagnostics.map(\.description) == [
            "agent.yaml:2:1: bnd: unknown key (known keys: node, bind, advertise, join, interface, key_file, socket, state_dir, desired, metrics, trusted_admin_keys, policy)",
            "agent.yaml:3:7: bind: expected host:port such as 10.77.0.1:7964 or [fd00::1]:7964, found \"nowhere\"",
            "agent.yaml:4:9: socket: expected an absolute path, found \"relative.sock\"",
        ])
    }

    @Test func aWildcardCannotBeAdvertised() {
        guard case .failure(let rejected) = parse("advertise: 0.0.0.0:7964\n") else {
            Issue.record("a wildcard advertise address was accepted")
            return
        }
        #expect(rejected.description == "agent.yaml: advertise: 0.0.0.0:7964 is a wildcard; peers need a real address")
    }
}
