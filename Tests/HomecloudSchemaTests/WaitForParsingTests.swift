// wait_for in desired.yaml: probes, secrets and files read; an unknown probe or role, a relative path or an
// unknown key refused with its line and column.
import Testing
import HomecloudSchema
import HomecloudYAML

@Suite struct WaitForParsingTests {
    func document(_ waitFor: String) -> String {
        """
        generation: 1
        cluster: c
        nodes: { n1: [joiner], n2: [first] }
        probes:
          api: { tcp: "127.0.0.1:6443" }
        roles:
          joiner:
            units:
              - { name: agent.service, wait_for: \(waitFor) }
          first: { units: [ { name: server.service } ] }
        secrets:
          k3s-token: { from: n2, file: /var/lib/rancher/k3s/server/node-token }
          a: { from: n2, file: /a }

        """
    }

    func errors(_ waitFor: String) -> [String] {
        guard case .failure(let rejected) = DesiredStateParser.parse(document(waitFor), file: "d.yaml") else { return [] }
        return rejected.diagnostics.map(\.description)
    }

    @Test func everyKindIsRead() throws {
        let state = try DesiredStateParser.parse(document("[{ probe: api, role: first }, { probe: api }, { secret: k3s-token }, { file: /run/k3s/token }]"),
                                                 file: "d.yaml").get()
        let unit = try #require(state.role(named: "joiner")?.units.first)
        #expect(unit.waitFor == [.probe("api", role: "first"), .probe("api", role: nil), .secret("k3s-token"), .file("/run/k3s/token")])
        #expect(unit.waitFor.map(\.text) == ["probe api on role first", "probe api on any board", "secret k3s-token", "file /run/k3s/token"])
        // A role defined after the unit's own is known; no wait_for is none.
        #expect(state.role(named: "first")?.units.first?.waitFor == [])
    }

    @Test func mistakesAreLocated() {
        #expect(errors("[{ probe: nope, role: first }]") == ["d.yaml:9:52: roles.joiner.units[0].wait_for[0].probe: unknown probe \"nope\" (probes has: api)"])
        #expect(errors("[{ probe: api, role: nope }]") == ["d.yaml:9:63: roles.joiner.units[0].wait_for[0].role: unknown role \"nope\" (roles has: joiner, first)"])
        #expect(errors("[{ file: run/token }]") == ["d.yaml:9:51: roles.joiner.units[0].wait_for[0].file: \"run/token\" is not an absolute path (it must start with / and have no ..)"])
        #expect(errors("[{ file: /run/../etc/shadow }]").count == 1)
        #expect(errors("[{ url: http://x }]") == [
            "d.yaml:9:45: roles.joiner.units[0].wait_for[0].url: unknown key (known keys: probe, secret, file, role)",
            "d.yaml:9:43: roles.joiner.units[0].wait_for[0]: expected one of probe, secret or file",
        ])
        #expect(errors("[{ secret: a, file: /x }]") == ["d.yaml:9:43: roles.joiner.units[0].wait_for[0]: one condition per entry: found secret and file"])
        #expect(errors("[{ secret: a, role: first }]") == ["d.yaml:9:62: roles.joiner.units[0].wait_for[0].role: role goes with probe only"])
        #expect(errors("[{ secret: a }, { secret: a }]") == ["d.yaml:9:58: roles.joiner.units[0].wait_for[1]: secret a is listed twice"])
        #expect(errors("[{ secret: nope }]") == [
            "d.yaml:9:53: roles.joiner.units[0].wait_for[0].secret: unknown secret \"nope\" (secrets has: k3s-token, a) (secrets: { nope: { from: NODE, file: /PATH } })",
        ])
        #expect(errors("probe-api") == ["d.yaml:9:42: roles.joiner.units[0].wait_for: expected a list, found a scalar"])
    }
}
