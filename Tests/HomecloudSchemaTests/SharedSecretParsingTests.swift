// desired.yaml's secrets: and agent.yaml's policy.secrets: what is accepted, and each refusal located.
import Testing
@testable import HomecloudSchema
@testable import HomecloudYAML

@Suite struct SharedSecretParsingTests {
    static let base = """
        generation: 1
        cluster: hc
        nodes:
          n1: { roles: [web], address: 10.0.0.1 }
          n2: { roles: [web], address: 10.0.0.2 }
        roles: { web: {} }

        """

    func diagnostics(_ secrets: String) -> [Diagnostic] {
        guard case .failure(let rejected) = DesiredStateParser.parse(Self.base + secrets, file: "d.yaml") else { return [] }
        return rejected.diagnostics
    }

    @Test func secretsAreReadInOrder() throws {
        let document = try DesiredStateParser.parse(Self.base + """
            secrets:
              k3s-token: { from: n1, file: /var/lib/rancher/k3s/server/node-token }
              smb_pass: { from: n2, file: /etc/hc/smb }

            """, file: "d.yaml").get()
        #expect(document.secrets.map(\.name) == ["k3s-token", "smb_pass"])
        #expect(document.secret(named: "smb_pass")?.from == "n2")
    }

    @Test func badEntriesAreRefusedWhereTheyAre() {
        let found = diagnostics("""
            secrets:
              k3s.token: { from: n1, file: /a }
              b: { from: n9, file: /b }
              c: { from: n1, file: relative/c }
              d: { from: n1, file: /d/../e }
              e: { from: n1 }
              f: { from: n1, file: /f, mode: "0600" }

            """)
        let byPath = Dictionary(found.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(byPath["secrets.k3s.token"]?.message.contains("not a valid secret name") == true)
        #expect(byPath["secrets.k3s.token"]?.line == 8)
        #expect(byPath["secrets.b.from"]?.message.contains("unknown node \"n9\"") == true)
        #expect(byPath["secrets.b.from"]?.line == 9)
        #expect(byPath["secrets.c.file"]?.message.contains("absolute path") == true)
        #expect(byPath["secrets.d.file"]?.message.contains("absolute path") == true)
        #expect(byPath["secrets.e.file"]?.message == "missing (required)")
        #expect(byPath["secrets.f.mode"]?.message.contains("unknown key") == true)
    }

    @Test func aDocumentWithoutNodesTakesAnyFrom() throws {
        let document = try DesiredStateParser.parse("generation: 1\ncluster: hc\nsecrets: { t: { from: later, file: /t } }\n", file: "d.yaml").get()
        #expect(document.secrets.first?.from == "later")
    }

    @Test func aBadSecretEntryIsNotAlsoReportedAsUnknownInTemplates() {
        let text = """
            generation: 1
            cluster: hc
            nodes: { n1: [web] }
            secrets: { t: { from: n9, file: /t } }
            roles: { web: { files: [ { path: /etc/t, content: "{{ secrets.t }}" } ] } }

            """
        guard case .failure(let rejected) = DesiredStateParser.parse(text, file: "d.yaml") else { Issue.record("accepted"); return }
        #expect(rejected.diagnostics.map(\.path) == ["secrets.t.from"])
    }

    @Test func policySecretsAreAbsoluteGlobs() throws {
        let config = try AgentConfig.parse("""
            node: n1
            policy:
              secrets: [/var/lib/rancher/k3s/server/*]

            """, file: "agent.yaml", hostname: "n1").get()
        #expect(config.policy?.allowsSecret("/var/lib/rancher/k3s/server/node-token") == true)
        #expect(config.policy?.allowsSecret("/etc/shadow") == false)
        let refused = AgentConfig.parse("node: n1\npolicy: { secrets: [relative] }\n", file: "agent.yaml", hostname: "n1")
        guard case .failure(let rejected) = refused else { Issue.record("accepted"); return }
        #expect(rejected.diagnostics.first?.path == "policy.secrets[0]")
    }

    @Test func valuesNeverShowInTheirDescriptionAndAreRedacted() {
        let values = SharedSecretValues(["token": "K10abc::server:xyz", "short": "ab"])
        #expect("\(values)" == "secrets [short, token]")
        #expect(values.names == ["token", "short"])
        #expect(values.redacted("line 1: K10abc::server:xyz is bad; ab") == "line 1: «secret token» is bad; «secret short»")
    }

    @Test func secretStatusRoundTripsWithoutAValue() throws {
        var report = StatusReport(node: "n1", cluster: "hc", version: "0.4", desired: DesiredSummary(generation: 1, file: "d.yaml"))
        report.secrets = [SecretStatus(name: "t", from: "n1", state: "held", fingerprint: "0123456789abcdef", madeAt: 100, age: 5)]
        let json = report.json
        #expect(json.serialized.contains("\"fingerprint\":\"0123456789abcdef\""))
        #expect(try StatusReport(json: json) == report)
    }
}
