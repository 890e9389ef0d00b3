// Templates with per-board facts: a loop prints each node's published fact; `if N.facts.NAME` skips the nodes
// that have not published it; a fact used without that waits for it (the file is not written with a hole); a
// new value rewrites only the files printing it.
import Testing
import HomecloudSchema
import HomecloudYAML
import ReconcilerCore

@Suite struct TemplateFactsTests {
    static func document() throws -> DesiredState {
        try DesiredStateParser.parse("""
            generation: 1
            cluster: hc
            nodes:
              n1: { roles: [dnas], address: 10.0.0.1 }
              n2: { roles: [dnas], address: 10.0.0.2 }
              n3: { roles: [dnas], address: 10.0.0.3 }
            facts:
              syncthing-id: { role: dnas, file: /c/cert.pem, as: syncthing-device-id }
            roles:
              dnas:
                files:
                  - path: /etc/devices
                    content: |
                      {% for n in roles.dnas.nodes if n.facts.syncthing-id %}
                      {{ n.name }} {{ n.facts.syncthing-id }} tcp://{{ n.address }}:22000
                      {% endfor %}
                  - path: /etc/every
                    content: "{% for n in roles.dnas.nodes %}{{ n.facts.syncthing-id }};{% endfor %}"
                  - { path: /etc/plain, content: "{{ node }}" }

            """, file: "d.yaml").get()
    }

    static let paths = ["/etc/devices", "/etc/every", "/etc/plain"]

    func text(_ core: ManagedFilesCore, _ path: String) -> String? {
        core.desired(at: path).map { String(decoding: $0.bytes, as: UTF8.self) }
    }

    @Test func theFilteredLoopSkipsNodesWithoutTheFact() throws {
        let document = try Self.document()
        let template = document.role(named: "dnas")!.files[0].content
        var facts = TemplateFacts(document: document, node: "n1", address: nil)
        #expect(try TemplateRenderer.render(template, facts: facts).get() == "")
        facts = TemplateFacts(document: document, node: "n1", address: nil,
                              nodeFacts: NodeFactValues(["n1": ["syncthing-id": "AAA"], "n3": ["syncthing-id": "CCC"], "n9": ["syncthing-id": "ZZZ"]]))
        #expect(try TemplateRenderer.render(template, facts: facts).get() == "n1 AAA tcp://10.0.0.1:22000\nn3 CCC tcp://10.0.0.3:22000\n")
    }

    @Test func anUnfilteredFactWaitsThenTheFileIsWritten() throws {
        var core = ManagedFilesCore(node: "n1")
        core.onDocument(try Self.document(), address: nil)
        var actions = core.onObserved(Self.paths.map { ($0, ObservedFile.missing) }, now: .seconds(1))
        let writes = { (actions: [ManagedFilesCore.Action]) in actions.compactMap { if case .write(let file, _) = $0 { file.path } else { nil } } }
        // The filtered file is written (empty: no node has published yet); the unfiltered one waits and says for what.
        #expect(writes(actions) == ["/etc/devices", "/etc/plain"])
        #expect(text(core, "/etc/devices") == "")
        #expect(core.report()[1].state == "converging")
        #expect(core.report()[1].reason == "waiting for fact syncthing-id of n1")
        _ = core.onWritten([("/etc/devices", .written), ("/etc/plain", .written)], now: .seconds(1))

        let changed1 = core.onFacts(NodeFactValues(["n1": ["syncthing-id": "AAA"], "n2": ["syncthing-id": "BBB"]]))
        #expect(changed1)
        #expect(text(core, "/etc/devices") == "n1 AAA tcp://10.0.0.1:22000\nn2 BBB tcp://10.0.0.2:22000\n")
        #expect(core.report()[1].reason == "waiting for fact syncthing-id of n3")
        let changed2 = core.onFacts(NodeFactValues(["n1": ["syncthing-id": "AAA"], "n2": ["syncthing-id": "BBB"]]))
        #expect(!changed2, "the same values change nothing")

        let changed3 = core.onFacts(NodeFactValues(["n1": ["syncthing-id": "AAA"], "n2": ["syncthing-id": "BBB"], "n3": ["syncthing-id": "CCC"]]))
        #expect(changed3)
        #expect(text(core, "/etc/every") == "AAA;BBB;CCC;")
        actions = core.onObserved([("/etc/devices", .present(bytes: Array("n1 AAA tcp://10.0.0.1:22000\nn2 BBB tcp://10.0.0.2:22000\n".utf8), mode: 0o644, uid: 0, gid: 0)),
                                   ("/etc/every", .missing), ("/etc/plain", .present(bytes: Array("n1".utf8), mode: 0o644, uid: 0, gid: 0))],
                                  now: .seconds(2))
        #expect(writes(actions) == ["/etc/devices", "/etc/every"], "only the files printing the facts")
    }

    /// The homecloud example's Syncthing config.xml lists every dnas board whose ID is known as a device with its
    /// address, and shares the folder family with each.
    @Test func theHomecloudExamplePairsTheDnasBoards() throws {
        let root = "/" + #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
        let document = try DesiredStateParser.parse(try TextFile.read(root + "/examples/homecloud/desired.yaml"), file: "desired.yaml").get()
        var core = ManagedFilesCore(node: "hc1-n2")
        core.onFacts(NodeFactValues(["hc1-n1": ["syncthing-id": "AAAAAAA-1"], "hc1-n2": ["syncthing-id": "BBBBBBB-2"]]))
        core.onDocument(document, address: "192.168.1.12")
        let config = try #require(text(core, "/var/lib/dnas/.config/syncthing/config.xml"))
        for (node, id, address) in [("hc1-n1", "AAAAAAA-1", "192.168.1.11"), ("hc1-n2", "BBBBBBB-2", "192.168.1.12")] {
            #expect(config.contains("<device id=\"\(id)\" name=\"\(node)\" compression=\"metadata\" introducer=\"false\">\n        <address>tcp://\(address):22000</address>"), "\(config)")
            #expect(config.contains("        <device id=\"\(id)\"></device>\n"), "\(config)")
        }
        #expect(!config.contains("hc1-n3"))
    }
}
