// The units a node must run follow its roles in the document.
import Testing
import HomecloudSchema
import HomecloudYAML
import ReconcilerCore

@Suite struct UnitsForNodeTests {
    @Test func unitsComeFromEveryRoleOnceInOrder() throws {
        let text = """
            generation: 1
            cluster: c
            nodes: { n1: [a, b], n2: [b], n3: [] }
            roles:
              a: { units: [ { name: x.service, state: running }, { name: y.service, state: stopped } ] }
              b: { units: [ { name: x.service, state: running }, { name: z.timer, state: running, enabled: true } ] }

            """
        let document = try DesiredStateParser.parse(text, file: "d").get()
        #expect(UnitsForNode.units(of: "n1", in: document).map(\.name) == ["x.service", "y.service", "z.timer"])
        #expect(UnitsForNode.units(of: "n2", in: document).map(\.name) == ["x.service", "z.timer"])
        #expect(UnitsForNode.units(of: "n3", in: document).isEmpty)
        #expect(UnitsForNode.units(of: "unknown", in: document).isEmpty)
    }
}
