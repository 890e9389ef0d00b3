// hcctl restart ROLE|UNIT: which units on which boards the document gives it.
import HomecloudSchema
import HomecloudYAML
import Testing
@testable import ReconcilerCore

@Suite struct RestartTargetTests {
    let document: DesiredState

    init() throws {
        document = try DesiredStateParser.parse("""
            generation: 1
            cluster: home
            nodes: { n1: [k3s, storage], n2: [k3s], n3: [storage] }
            roles:
              k3s: { units: [ { name: k3s.service }, { name: k3s-agent.service } ] }
              storage: { units: [ { name: smbd.service } ] }

            """, file: "desired.yaml").get()
    }

    @Test func aRoleIsItsUnitsOnItsBoards() {
        #expect(RestartTarget.resolve("k3s", in: document)?.units == ["k3s.service", "k3s-agent.service"])
        #expect(RestartTarget.resolve("k3s", in: document)?.boards == ["n1", "n2"])
    }

    @Test func aUnitIsItselfOnTheBoardsOfItsRoles() {
        #expect(RestartTarget.resolve("smbd.service", in: document)?.boards == ["n1", "n3"])
        #expect(RestartTarget.resolve("smbd", in: document)?.units == ["smbd.service"])
        #expect(RestartTarget.resolve("nfs", in: document) == nil)
    }
}
