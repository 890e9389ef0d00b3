// A role's files: and their templates read from desired.yaml: defaults, located errors, node addresses, policy.
import Testing
@testable import HomecloudSchema
@testable import HomecloudYAML

@Suite struct ManagedFileParsingTests {
    static let base = base(n2: "[web]")
    static func base(n2: String) -> String { """
        generation: 1
        cluster: hc
        nodes:
          n1: { roles: [web], address: 10.0.0.1 }
          n2: \(n2)
        vips:
          - { name: front, address: 10.0.0.250/24, interface: eth0, vrid: 1 }

        """
    }

    func parse(_ roles: String, nodes: String? = nil) -> Result<DesiredState, FileRejected> {
        DesiredStateParser.parse(Self.base(n2: nodes ?? "[web]") + roles, file: "d.yaml")
    }

    @Test func aFileTakesItsDefaultsAndItsUnits() throws {
        let document = try parse("""
            roles:
              web:
                files:
                  - path: /etc/web/web.conf
                    restart: [web.service]
                    content: |
                      name {{ node }} at {{ vips.front.ip }}
                  - { path: /etc/web/key, mode: "0640", validate: "/usr/bin/test -s %s", reload: [web.service], content: "x" }

            """, nodes: "{ roles: [web], address: 10.0.0.2 }").get()
        let files = try #require(document.role(named: "web")?.files)
        #expect(files.map(\.path) == ["/etc/web/web.conf", "/etc/web/key"])
        #expect(files[0].mode == 0o644)
        #expect(files[0].restart == ["web.service"])
        #expect(files[1].mode == 0o640)
        #expect(files[1].validate == ["/usr/bin/test", "-s", "%s"])
        #expect(files[1].reload == ["web.service"])
        #expect(document.nodes.map { $0.address?.description } == ["10.0.0.1", "10.0.0.2"])
    }

    @Test func aTemplateErrorPointsIntoTheDocument() {
        // Line 14 is the content's second line; its tag starts at column 13 (10 spaces of indentation, then "x ").
        let result = parse("""
            roles:
              web:
                files:
                  - path: /etc/web.conf
                    content: |
                      ok {{ node }}
                      x {{ nodes }}

            """)
        guard case .failure(let rejected) = result else { Issue.record("accepted"); return }
        let diagnostic = rejected.diagnostics.first
        #expect(diagnostic?.line == 14)
        #expect(diagnostic?.column == 13)
        #expect(diagnostic?.path == "roles.web.files[0].content")
        #expect(diagnostic?.message.contains("unknown name \"nodes\"") == true)
    }

    @Test func namesTheDocumentLacksAreLocatedErrors() {
        let result = parse("""
            roles:
              web:
                files:
                  - path: /etc/hosts.web
                    content: "{{ vips.back.ip }} {% for n in roles.web.nodes %}{{ n.address }}{% endfor %}{% for m in roles.db.nodes %}{% endfor %}"

            """)
        guard case .failure(let rejected) = result else { Issue.record("accepted"); return }
        let messages = rejected.diagnostics.map(\.message)
        #expect(messages.contains { $0.contains("unknown VIP \"back\"") })
        #expect(messages.contains { $0.contains("n2 of role web has no address") })
        #expect(messages.contains { $0.contains("unknown role \"db\"") })
        #expect(rejected.diagnostics.allSatisfy { $0.line == 12 })
    }

    @Test func badPathsModesAndValidateAreRefused() {
        let result = parse("""
            roles:
              web:
                files:
                  - { path: etc/x, content: a }
                  - { path: /etc/../x, content: a }
                  - { path: /etc/y, mode: "0999", content: a }
                  - { path: /etc/z, validate: "/usr/bin/test -s", content: a }
                  - { path: /etc/w, restart: [web], content: a }
                  - { path: /etc/v, content: "{% if x %}" }
                  - { path: /etc/v, content: a, owner: nobody }

            """)
        guard case .failure(let rejected) = result else { Issue.record("accepted"); return }
        let paths = rejected.diagnostics.map(\.path)
        #expect(paths.contains("roles.web.files[0].path"))
        #expect(paths.contains("roles.web.files[1].path"))
        #expect(paths.contains("roles.web.files[2].mode"))
        #expect(paths.contains("roles.web.files[3].validate"))
        #expect(paths.contains("roles.web.files[4].restart"))
        #expect(paths.contains("roles.web.files[5].content"))
        #expect(paths.contains("roles.web.files[6].owner"))
    }

    @Test func aSecretATemplateNamesMustBeDeclared() {
        let result = parse("roles: { web: { files: [ { path: /etc/t, content: \"{{ secrets.token }}\" } ] } }\n")
        guard case .failure(let rejected) = result else { Issue.record("accepted"); return }
        #expect(rejected.diagnostics.first?.message.contains("unknown secret \"token\"") == true)
        #expect(rejected.diagnostics.first?.line == 8)
    }

    @Test func aFileUsingADeclaredSecretIsAcceptedWithMode0600() throws {
        let document = try parse("""
            secrets: { token: { from: n1, file: /var/lib/k3s/node-token } }
            roles: { web: { files: [ { path: /etc/t, content: "t={{ secrets.token }}" }, { path: /etc/u, mode: "0640", content: "{{ secrets.token }}" } ] } }

            """).get()
        #expect(document.secrets == [SharedSecretSpec(name: "token", from: "n1", file: "/var/lib/k3s/node-token")])
        #expect(document.role(named: "web")?.files.map(\.mode) == [0o600, 0o640])
    }

    @Test func thePolicyHoldsPathsValidateAndNotifiedUnits() throws {
        let text = Self.base + """
            roles:
              web:
                units: [ { name: web.service, state: running } ]
                files:
                  - { path: /etc/web/ok.conf, restart: [web.service], content: a }
                  - { path: /etc/shadow, validate: "/bin/sh -c %s", reload: [ssh.service], content: a }

            """
        let document = try DesiredStateParser.parse(text, file: "d.yaml").get()
        let check = PolicyCheck(policy: LocalPolicy(units: ["web.service"], exec: [.init(words: ["/usr/bin/test", "-s", "%s"])], paths: ["/etc/web/*"]),
                                node: "n1", policyFile: "agent.yaml")
        let refusals = check.violations(of: document, text: text, file: "d.yaml")
        #expect(refusals.map(\.path) == ["roles.web.files[1].path", "roles.web.files[1].validate", "roles.web.files[1].reload"])
        #expect(refusals.allSatisfy { $0.line == 13 })
    }
}


@Suite struct FileChangesPlanTests {
    @Test func thePerNodePlanListsFilesAddedChangedAndDropped() throws {
        func document(_ generation: Int, _ files: String) throws -> DesiredState {
            try DesiredStateParser.parse("""
                generation: \(generation)
                cluster: hc
                nodes: { n1: [web], n2: [] }
                roles:
                  web:
                    files: \(files)

                """, file: "d.yaml").get()
        }
        let old = try document(1, "[ { path: /etc/a, content: a }, { path: /etc/b, content: b } ]")
        let new = try document(2, "[ { path: /etc/a, content: A }, { path: /etc/c, mode: \"0600\", content: c } ]")
        let plans = DocumentChanges.perNode(from: old, to: new)
        #expect(plans.first { $0.node == "n1" }?.changes == [
            "~ file /etc/a (its entry changed)", "+ file /etc/c (mode 0600)", "- file /etc/b (no longer managed: left as it is)",
        ])
        #expect(plans.first { $0.node == "n2" }?.changes == [])
    }
}
