// desired.yaml's VIPs with several addresses (`address: [A, B]`) and VIP groups (`group: NAME`): read, and every
// mistake located.
import Testing
import HomecloudSchema
import HomecloudYAML

private func document(_ vips: String) -> String {
    "generation: 1\ncluster: c\nnodes: { n1: [] }\nvips:\n" + vips
}

private func errors(_ text: String) -> [String] {
    guard case .failure(let rejected) = DesiredStateParser.parse(text, file: "d.yaml") else { return [] }
    return rejected.diagnostics.map(\.description)
}

@Suite struct VIPAddressesAndGroupsParsingTests {
    @Test func oneAddressReadsAsBefore() throws {
        let state = try DesiredStateParser.parse(document("  - { name: web, address: 10.0.0.10/24, interface: eth0, vrid: 1 }\n"), file: "d.yaml").get()
        let web = try #require(state.vip(named: "web"))
        #expect(web.addresses == [IPPrefix("10.0.0.10/24")!] && web.moreAddresses.isEmpty && web.group == nil)
    }

    @Test func aListOfAddressesAndAGroupRead() throws {
        let state = try DesiredStateParser.parse(document("""
              - { name: web, address: [10.0.0.10/24, 10.0.0.11/24], interface: eth0, vrid: 1, group: front }
              - { name: dns, address: [fd00::53/64], interface: eth0, vrid: 2, group: front }

            """), file: "d.yaml").get()
        let web = try #require(state.vip(named: "web"))
        #expect(web.address == IPPrefix("10.0.0.10/24")!)
        #expect(web.addresses.map(\.description) == ["10.0.0.10/24", "10.0.0.11/24"])
        #expect(state.vips.map(\.group) == ["front", "front"])
        #expect(state.vip(named: "dns")?.addresses.count == 1)
    }

    @Test func mistakesInTheListAreLocated() {
        #expect(errors(document("  - { name: web, address: [10.0.0.10/24, fd00::1/64], interface: eth0, vrid: 1 }\n"))
                == ["d.yaml:5:42: vips[0].address[1]: fd00::1/64 is not of the family of 10.0.0.10/24: one VRRP advertisement carries one family; make a second VIP (same group) for the other"])
        #expect(errors(document("  - { name: web, address: [10.0.0.10/24, 10.0.0.10/16], interface: eth0, vrid: 1 }\n"))
                == ["d.yaml:5:42: vips[0].address[1]: 10.0.0.10 is listed twice"])
        #expect(errors(document("  - { name: web, address: [10.0.0.10/24, nope], interface: eth0, vrid: 1 }\n")).first?.contains("vips[0].address[1]: \"nope\" is not an address") == true)
        #expect(errors(document("  - { name: web, address: [], interface: eth0, vrid: 1 }\n")).first?.contains("the list is empty") == true)
        let many = (1...21).map { "10.0.0.\($0)/24" }.joined(separator: ", ")
        #expect(errors(document("  - { name: web, address: [\(many)], interface: eth0, vrid: 1 }\n")).first?.contains("21 addresses; one VIP holds at most 20") == true)
        #expect(errors(document("  - { name: web, address: 10.0.0.10/24, interface: eth0, vrid: 1, group: \"a b\" }\n")).count == 1)
    }

    @Test func anAddressOfTwoVIPsIsRefused() {
        let text = document("""
              - { name: web, address: [10.0.0.10/24, 10.0.0.11/24], interface: eth0, vrid: 1 }
              - { name: dns, address: 10.0.0.11/24, interface: eth1, vrid: 2 }

            """)
        #expect(errors(text).count == 1 && errors(text)[0].contains("vips[1].address: an address of this VIP is already one of VIP web's"))
    }
}
