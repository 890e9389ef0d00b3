// A document's `requires:` (mixed versions during an upgrade): versions compare field by field, an agent older
// than the document refuses it with one message even when the document has keys it does not know, and plan
// names the live boards that would refuse it.
import Testing
import HomecloudSchema
import HomecloudYAML

private let body = """
    cluster: hc1
    nodes: { n1: [web] }
    roles:
      web:
        units:
          - { name: nginx.service, state: running }

    """

@Suite struct RequiresVersionTests {
    @Test func versionsParseAndCompare() {
        #expect(AgentVersion("0.2") == AgentVersion(major: 0, minor: 2, patch: 0))
        #expect(AgentVersion("1") == AgentVersion(major: 1, minor: 0, patch: 0))
        #expect(AgentVersion("0.10.1")! > AgentVersion("0.9.7")!)
        #expect(AgentVersion("0.2.0")! < AgentVersion("0.2.1")!)
        for bad in ["", "0.", ".1", "1.2.3.4", "v1", "1.x", "-1", "1234567"] { #expect(AgentVersion(bad) == nil, "\(bad)") }
    }

    @Test func aDocumentThisAgentCanReadIsAccepted() throws {
        let state = try DesiredStateParser.parse("generation: 4\nrequires: \"\(AgentVersion.current)\"\n" + body, file: "d.yaml").get()
        #expect(state.requires == AgentVersion.current)
        #expect(try DesiredStateParser.parse("generation: 4\nrequires: 0.1\n" + body, file: "d.yaml").get().requires == AgentVersion("0.1"))
        #expect(try DesiredStateParser.parse("generation: 4\n" + body, file: "d.yaml").get().requires == nil)
    }

    @Test func aNewerDocumentIsRefusedWithOneMessageThatSaysUpgrade() {
        let next = AgentVersion(major: AgentVersion.current.major, minor: AgentVersion.current.minor + 1, patch: 0)
        // `files:` stands for whatever a newer agent reads that this one does not: not reported.
        let text = "generation: 5\nrequires: \"\(next.major).\(next.minor)\"\nfiles: [something new]\n" + body
        guard case .failure(let refused) = DesiredStateParser.parse(text, file: "d.yaml") else {
            Issue.record("accepted a document for a newer agent")
            return
        }
        #expect(refused.diagnostics.count == 1)
        let message = refused.diagnostics.first?.description ?? ""
        #expect(message.contains("d.yaml:2:"))
        #expect(message.contains("requires hcagent \(next.major).\(next.minor) or later; this agent is \(AgentVersion.current)"))
        #expect(message.contains("upgrade"))
    }

    @Test func aMalformedVersionIsALocatedError() {
        guard case .failure(let refused) = DesiredStateParser.parse("generation: 5\nrequires: soon\n" + body, file: "d.yaml") else {
            Issue.record("accepted requires: soon")
            return
        }
        #expect(refused.diagnostics.map(\.description).contains { $0.contains("d.yaml:2:") && $0.contains("expected an agent version") })
    }

    @Test func planNamesTheLiveBoardsThatWouldRefuse() {
        func member(_ name: String, _ state: String, _ version: String?) -> MemberStatus {
            var m = MemberStatus(name: name, address: "10.0.0.1:7964", state: state)
            m.version = version
            return m
        }
        let members = [member("n1", "alive", "0.2.0"), member("n2", "alive", "0.1.0"), member("n3", "dead", "0.1.0"),
                       member("n4", "suspect", nil)]
        let warnings = VersionSkew.warnings(requires: AgentVersion("0.2"), members: members, inForce: 7)
        #expect(warnings.count == 2)
        #expect(warnings[0].hasPrefix("n2 runs hcagent 0.1.0, older than the 0.2.0 this document requires"))
        #expect(warnings[0].contains("keeps generation 7"))
        #expect(warnings[1].hasPrefix("n4 does not say which hcagent it runs"))
        #expect(VersionSkew.warnings(requires: nil, members: members, inForce: 7).isEmpty)
    }
}
