// desired.yaml: the shipped example parses to the expected values, and every kind of mistake is located.
import Testing
import HomecloudSchema
import HomecloudYAML

private func parse(_ text: String) -> Result<DesiredState, FileRejected> {
    DesiredStateParser.parse(text, file: "desired.yaml")
}

private func errors(_ text: String) -> [String] {
    guard case .failure(let rejected) = parse(text) else { return [] }
    return rejected.diagnostics.map(\.description)
}

private let minimal = """
    generation: 3
    cluster: hc1
    nodes:
      n1: [web]
    roles:
      web:
        units:
          - { name: nginx.service, state: running }

    """

@Suite struct DesiredStateParserTests {
    @Test func theShippedExampleParses() throws {
        let text = try readTextFile(examplePath("desired.yaml"))
        let state = try parse(text).get()
        #expect(state.generation == 1)
        #expect(state.cluster == "hc1")
        #expect(state.nodes.map(\.name) == ["hc1-n1", "hc1-n2", "hc1-n3", "hc1-n4"])
        #expect(state.roles(of: "hc1-n1") == ["k3s-server", "dnas"])
        let dnas = try #require(state.role(named: "dnas"))
        #expect(dnas.units[1] == UnitSpec(name: "smbd.service", state: .running, enabled: nil, placement: .vip("front")))
        let front = try #require(state.vip(named: "front"))
        #expect(front.address.description == "192.168.1.250/24")
        #expect(front.vrid == 51)
        #expect(front.advert == .milliseconds(100))
        #expect(front.priority.of("hc1-n1") == 150)
        #expect(front.priority.of("hc1-n2") == 100)
        #expect(front.track == ["k3s-api"])
        let api = try #require(state.probe(named: "k3s-api"))
        #expect(api.check == .tcp(host: "127.0.0.1", port: 6443))
        #expect(api.weight == -60)
        let syncthing = try #require(state.probe(named: "syncthing"))
        #expect(syncthing.restart)
        #expect(syncthing.unit == "syncthing@dnas.service")
        #expect(syncthing.rise == 2)
    }

    @Test func nodeKeysBindOnePublicLinePerNamedNode() throws {
        let key1 = "ed25519 0123456789abcdef " + String(repeating: "A", count: 43) + "="
        let key2 = "ed25519 fedcba9876543210 " + String(repeating: "B", count: 43) + "="
        let base = "generation: 1\ncluster: c\nnodes: { n1: [], n2: [] }\nnode_keys:\n"
        let state = try parse(base + "  n1: \"\(key1)\"\n  n2: \"\(key2)\"\n").get()
        #expect(state.nodeKeys == ["n1": key1, "n2": key2])
        #expect(try parse(base.replacingFirst("node_keys:\n", with: "")).get().nodeKeys.isEmpty)
        #expect(errors(base + "  n3: \"\(key1)\"\n") == ["desired.yaml:5:3: node_keys.n3: unknown node \"n3\" (nodes has: n1, n2)"])
        let bad = errors(base + "  n1: \"ed25519 0123 AAAA\"\n")
        #expect(bad.count == 1 && bad[0].hasPrefix("desired.yaml:5:7: node_keys.n1: expected a node key's public line"))
        let shared = errors(base + "  n1: \"\(key1)\"\n  n2: \"\(key1)\"\n")
        #expect(shared == ["desired.yaml:6:7: node_keys.n2: key 0123456789abcdef is already bound to node \"n1\"; each node needs its own key"])
    }

    @Test func emptySectionsAreAllowed() throws {
        let state = try parse("generation: 1\ncluster: c\nnodes:\n  n3: []\nroles: {}\nvips: []\nprobes: {}\n").get()
        #expect(state.nodes == [NodeAssignment(name: "n3", roles: [])])
        #expect(state.roles.isEmpty && state.vips.isEmpty && state.probes.isEmpty)
    }

    @Test func unicastPeersAreListedOrTheGossipMembers() throws {
        let base = "generation: 1\ncluster: c\nnodes: { n1: [] }\nvips:\n  - { name: v, address: 10.0.0.9/24, interface: eth0, vrid: 9, "
        let listed = try parse(base + "unicast: [10.0.0.2, 10.0.0.3] }\n").get().vips[0]
        #expect(listed.unicast == [IPAddress("10.0.0.2")!, IPAddress("10.0.0.3")!] && !listed.unicastToMembers)
        let members = try parse(base + "unicast: members }\n").get().vips[0]
        #expect(members.unicast.isEmpty && members.unicastToMembers)
        #expect(try parse(base + "}\n").get().vips[0].advert == .milliseconds(100), "hcagent's default advert")
        #expect(errors(base + "unicast: [fd00::2] }\n") == ["desired.yaml:5:74: vips[0].unicast[0]: \"fd00::2\" is not an address of the VIP's family"])
    }

    @Test func transitionHooksAreCommandsWithATimeoutAndMistakesAreLocated() throws {
        let base = "generation: 1\ncluster: c\nnodes: { n1: [] }\nvips:\n  - name: v\n    address: 10.0.0.9/24\n    interface: eth0\n    vrid: 9\n"
        let vip = try parse(base + "    notify:\n      master: /usr/local/bin/hook --up\n      backup: [/usr/local/bin/hook, \"a b\"]\n      timeout: 2s\n").get().vips[0]
        #expect(vip.notify == VIPNotify(master: ["/usr/local/bin/hook", "--up"], backup: ["/usr/local/bin/hook", "a b"], timeout: .seconds(2)))
        #expect(try parse(base).get().vips[0].notify == nil)
        #expect(try parse(base + "    notify: { fault: /bin/true }\n").get().vips[0].notify?.timeout == VIPNotify.defaultTimeout)
        #expect(errors(base + "    notify:\n      master: hook.sh\n") == [
            "desired.yaml:10:15: vips[0].notify.master: the command must start with an absolute path such as /usr/local/bin/vip-hook, found \"hook.sh\"",
        ])
        #expect(errors(base + "    notify:\n      stop: /bin/true\n") == [
            "desired.yaml:10:7: vips[0].notify.stop: unknown key (known keys: master, backup, fault, timeout)",
        ])
        #expect(errors(base + "    notify: { master: [], timeout: 0s }\n").count == 2)
        #expect(errors(base + "    notify: /bin/true\n") == ["desired.yaml:9:13: vips[0].notify: expected a mapping, found a scalar"])
    }

    @Test func unknownKeyIsLocatedWithItsPath() {
        let text = minimal.replacingFirst("state: running", with: "state: running, enable: true")
        #expect(errors(text) == ["desired.yaml:8:48: roles.web.units[0].enable: unknown key (known keys: name, state, enabled, placement, wait_for)"])
    }

    @Test func everyErrorIsReportedNotJustTheFirst() {
        let text = """
            generation: -1
            cluster: hc1
            nodes:
              n1: [web, db]
            roles:
              web:
                units:
                  - { name: nginx, state: sleeping, placement: "vip:nope" }
            vips:
              - { name: front, address: 10.0.0.300/24, interface: eth0, vrid: 256, advert: 15ms, priority: { n9: 300 } }

            """
        let found = errors(text)
        #expect(found.contains("desired.yaml:1:13: generation: expected a whole number of at least 0, found \"-1\""))
        #expect(found.contains("desired.yaml:4:13: nodes.n1[1]: unknown role \"db\" (roles has: web)"))
        #expect(found.contains("desired.yaml:8:17: roles.web.units[0].name: \"nginx\" is not a systemd unit name (it needs a suffix such as .service)"))
        #expect(found.contains("desired.yaml:8:31: roles.web.units[0].state: expected running or stopped, found \"sleeping\""))
        #expect(found.contains("desired.yaml:8:52: roles.web.units[0].placement: unknown VIP \"nope\" (vips is empty)"))
        #expect(found.contains { $0.hasPrefix("desired.yaml:10:29: vips[0].address: \"10.0.0.300/24\" is not an address") })
        #expect(found.contains("desired.yaml:10:67: vips[0].vrid: 256 is out of range (1 to 255)"))
        #expect(found.contains("desired.yaml:10:80: vips[0].advert: VRRPv3 counts the interval in centiseconds; use a multiple of 10ms"))
        #expect(found.contains("desired.yaml:10:102: vips[0].priority.n9: 300 is out of range (1 to 254)"))
        #expect(found.contains("desired.yaml:10:98: vips[0].priority.n9: unknown node \"n9\" (nodes has: n1)"))
        #expect(found.count == 10)
    }

    @Test func syntaxErrorsAreLocated() {
        let found = errors("generation: 1\ncluster: [unclosed\n")
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("desired.yaml:3:1: ") == true)
    }

    @Test func requiredKeysAndEmptyFile() {
        #expect(errors("") == ["desired.yaml: the document is empty"])
        #expect(errors("nodes: {}\n") == [
            "desired.yaml:1:1: generation: missing (required)",
            "desired.yaml:1:1: cluster: missing (required)",
        ])
    }

    @Test func duplicateKeysAndAliasesAreRefused() {
        #expect(errors("generation: 1\ngeneration: 2\ncluster: c\n") == ["desired.yaml:2:1: generation: duplicate key"])
        #expect(errors("generation: &g 1\ncluster: *g\n").first?.contains("aliases") == true)
    }

    @Test func conflictingRolesOnOneNodeAreRefused() {
        let text = """
            generation: 1
            cluster: c
            nodes:
              n1: [a, b]
            roles:
              a: { units: [ { name: x.service, state: running } ] }
              b: { units: [ { name: x.service, state: stopped } ] }

            """
        #expect(errors(text) == ["desired.yaml:4:3: nodes.n1: roles a and b both set x.service, differently"])
    }

    @Test func probesAreChecked() {
        let text = """
            generation: 1
            cluster: c
            probes:
              two: { tcp: "127.0.0.1:1", http: "http://x/" }
              none: { interval: 1s }
              slow: { tcp: "127.0.0.1:99999", interval: 1s, timeout: 2s }
              lonely: { exec: "true", restart: true }
              ok: { unit: smbd.service }
            vips:
              - { name: v, address: fd00::1/64, interface: eth0, vrid: 1, track: [ok, ghost] }

            """
        let found = errors(text)
        #expect(found.contains("desired.yaml:4:8: probes.two: a probe has one check; found tcp and http"))
        #expect(found.contains("desired.yaml:5:9: probes.none: no check: give one of tcp, http, exec, file, or unit alone"))
        #expect(found.contains("desired.yaml:6:16: probes.slow.tcp: expected host:port such as 127.0.0.1:6443, found \"127.0.0.1:99999\""))
        #expect(found.contains("desired.yaml:6:58: probes.slow.timeout: the timeout (2s) is longer than the interval (1s)"))
        #expect(found.contains("desired.yaml:7:36: probes.lonely.restart: restart: true needs unit: NAME, the unit to restart"))
        #expect(found.contains("desired.yaml:10:70: vips[0].track: unknown probe \"ghost\" (probes has: ok)"))
        #expect(found.count == 6)
    }

    @Test func durationsAreExact() {
        #expect(DurationText.parse("100ms") == .milliseconds(100))
        #expect(DurationText.parse("1.5s") == .milliseconds(1500))
        #expect(DurationText.parse("2m") == .seconds(120))
        #expect(DurationText.parse("2") == nil)
        #expect(DurationText.parse("1.0001s") == nil)
        #expect(DurationText.parse("-1s") == nil)
        #expect(DurationText.format(.milliseconds(1500)) == "1500ms")
        #expect(DurationText.format(.seconds(3)) == "3s")
    }

    @Test func aDocumentUpTo1MiBIsReadAndALargerOneIsRefusedWithTheLimit() throws {
        let body = minimal + "\n# "
        let padding = DesiredState.maxDocumentBytes - body.utf8.count - 1
        let largest = body + String(repeating: "x", count: padding) + "\n"
        #expect(largest.utf8.count == DesiredState.maxDocumentBytes)
        #expect(try parse(largest).get().generation == 3)
        #expect(errors(largest + "\n") == ["desired.yaml: the document is 1048577 bytes; a document is at most 1048576 bytes (1 MiB)"])
    }
}
