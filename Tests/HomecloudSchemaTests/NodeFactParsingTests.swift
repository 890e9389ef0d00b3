// desired.yaml's facts: and templates' N.facts.NAME: what is accepted, the filtered loop's spelling, and each
// refusal located (a bad entry, an unknown fact in a template, a fact of another role).
import Testing
@testable import HomecloudSchema
@testable import HomecloudYAML

@Suite struct NodeFactParsingTests {
    static let base = """
        generation: 1
        cluster: hc
        nodes:
          n1: { roles: [dnas, web], address: 10.0.0.1 }
          n2: { roles: [dnas], address: 10.0.0.2 }
        roles: { dnas: {}, web: {} }

        """

    func diagnostics(_ text: String) -> [Diagnostic] {
        guard case .failure(let rejected) = DesiredStateParser.parse(Self.base + text, file: "d.yaml") else { return [] }
        return rejected.diagnostics
    }

    @Test func factsAreReadInOrder() throws {
        let document = try DesiredStateParser.parse(Self.base + """
            facts:
              syncthing-id: { role: dnas, file: /var/lib/dnas/.config/syncthing/cert.pem, as: syncthing-device-id }
              motd: { role: web, file: /etc/motd, as: text }

            """, file: "d.yaml").get()
        #expect(document.facts == [
            NodeFactSpec(name: "syncthing-id", role: "dnas", file: "/var/lib/dnas/.config/syncthing/cert.pem", kind: .syncthingDeviceID),
            NodeFactSpec(name: "motd", role: "web", file: "/etc/motd", kind: .text),
        ])
        #expect(document.fact(named: "motd")?.role == "web")
    }

    @Test func badEntriesAreRefusedWhereTheyAre() {
        let found = diagnostics("""
            facts:
              a.b: { role: dnas, file: /a, as: text }
              c: { role: nas, file: /c, as: text }
              d: { role: dnas, file: relative, as: text }
              e: { role: dnas, file: /e, as: sha1 }
              f: { role: dnas, file: /f }
              g: { role: dnas, file: /g, as: text, from: n1 }

            """)
        let byPath = Dictionary(found.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(byPath["facts.a.b"]?.message.contains("not a valid fact name") == true)
        #expect(byPath["facts.a.b"]?.line == 8)
        #expect(byPath["facts.c.role"]?.message.contains("unknown role \"nas\"") == true)
        #expect(byPath["facts.c.role"]?.line == 9)
        #expect(byPath["facts.d.file"]?.message.contains("absolute path") == true)
        #expect(byPath["facts.e.as"]?.message == "unknown kind \"sha1\" (known: syncthing-device-id, text)")
        #expect(byPath["facts.f.as"]?.message == "missing (required)")
        #expect(byPath["facts.g.from"]?.message.contains("unknown key") == true)
    }

    @Test func theFilteredLoopParses() throws {
        let template = try Template.parse("{% for n in roles.dnas.nodes if n.facts.syncthing-id %}{{ n.facts.syncthing-id }} {% endfor %}").get()
        guard case .loop(let variable, let role, let body, _, let requiring) = template.pieces.first else {
            Issue.record("no loop"); return
        }
        #expect(variable == "n" && role == "dnas" && requiring == "syncthing-id")
        #expect(body.first == .fact(.loopFact(variable: "n", name: "syncthing-id"), at: .init(line: 1, column: 56)))
        // A plain loop has no condition.
        guard case .loop(_, _, _, _, nil)? = try Template.parse("{% for n in roles.dnas.nodes %}{% endfor %}").get().pieces.first else {
            Issue.record("a plain loop has a condition"); return
        }
    }

    @Test func badConditionsAreRefusedWithTheirPosition() {
        for (text, message) in [
            ("x {% for n in roles.dnas.nodes if m.facts.id %}{% endfor %}", "a loop's condition is n.facts.NAME"),
            ("x {% for n in roles.dnas.nodes if n.address %}{% endfor %}", "a loop's condition is n.facts.NAME"),
            ("x {% for n in roles.dnas.nodes when n.facts.id %}{% endfor %}", "expected {% for N in roles.ROLE.nodes %} or"),
            ("x {% for n in roles.dnas.nodes %}{{ n.fact.id }}{% endfor %}", "a loop variable has .name and .address (and .facts.NAME)"),
        ] {
            guard case .failure(let error) = Template.parse(text) else { Issue.record("accepted: \(text)"); continue }
            #expect(error.message.contains(message), "\(error.message)")
            if !message.contains("loop variable") { #expect(error.position == .init(line: 1, column: 3)) }
        }
    }

    @Test func anUnknownFactInATemplateIsALocatedError() {
        let text = """
            generation: 1
            cluster: hc
            nodes:
              n1: { roles: [dnas, web], address: 10.0.0.1 }
              n2: { roles: [dnas], address: 10.0.0.2 }
            facts:
              syncthing-id: { role: dnas, file: /c/cert.pem, as: syncthing-device-id }
            roles:
              dnas:
                files:
                  - path: /etc/x
                    content: |
                      {% for n in roles.dnas.nodes if n.facts.syncthing-idd %}
                      {{ n.facts.syncthing-id }}
                      {% endfor %}
              web:
                files:
                  - path: /etc/y
                    content: "{% for n in roles.web.nodes %}{{ n.facts.syncthing-id }}{% endfor %}"

            """
        guard case .failure(let rejected) = DesiredStateParser.parse(text, file: "d.yaml") else { Issue.record("accepted"); return }
        let messages = rejected.diagnostics.map { "\($0.line ?? 0):\($0.column ?? 0) \($0.message)" }
        #expect(rejected.diagnostics.count == 2, "\(messages)")
        #expect(messages.contains { $0.hasPrefix("13:") && $0.contains("template: unknown fact \"syncthing-idd\" of role dnas (facts of role dnas has: syncthing-id)") }, "\(messages)")
        #expect(messages.contains { $0.hasPrefix("19:") && $0.contains("template: unknown fact \"syncthing-id\" of role web") && $0.contains("read on role dnas's boards") }, "\(messages)")
    }
}
