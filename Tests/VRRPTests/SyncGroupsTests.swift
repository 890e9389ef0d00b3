// SyncGroups' rules one by one: who hands over when a grouped VIP leaves master, and the group's priority.
import HomecloudSchema
import Testing
@testable import VRRPCore

@Suite struct SyncGroupsTests {
    let rules = SyncGroups([("web", "front"), ("dns", "front"), ("api", "front"), ("nas", nil), ("solo", "alone")])

    @Test func groupsOfOneAndUngroupedVIPsHaveNoCompanions() {
        #expect(rules.companions(of: "web") == ["api", "dns"])
        #expect(rules.companions(of: "nas").isEmpty && rules.companions(of: "solo").isEmpty)
        #expect(rules.group(of: "solo") == nil && rules.group(of: "dns") == "front")
    }

    @Test func leavingMasterHandsOverTheCompanionsStillMasterHere() {
        let states: [String: VRRPInstance.State] = ["web": .backup, "dns": .master, "api": .backup, "nas": .master]
        #expect(rules.onTransition(vip: "web", from: .master, to: .backup, states: states)
                == [.handOver(vip: "dns", because: "group front: web went backup here")])
        let fault = rules.onTransition(vip: "web", from: .master, to: .fault, states: states)
        #expect(fault.count == 1)
    }

    @Test func becomingMasterStoppingOrAnUngroupedVIPMoveNoOne() {
        let states: [String: VRRPInstance.State] = ["web": .master, "dns": .master, "api": .master]
        #expect(rules.onTransition(vip: "web", from: .backup, to: .master, states: states).isEmpty)
        #expect(rules.onTransition(vip: "web", from: .master, to: .stopped, states: states).isEmpty)
        #expect(rules.onTransition(vip: "nas", from: .master, to: .backup, states: states).isEmpty)
        #expect(rules.onTransition(vip: "web", from: .backup, to: .fault, states: states).isEmpty)
    }

    @Test func aGroupAdvertisesItsLowestPriorityHere() {
        let advertised = rules.priorities(["web": 150, "dns": 90, "nas": 200, "solo": 10])
        // api does not run here: the lowest of those that do.
        #expect(advertised == ["web": 90, "dns": 90, "nas": 200, "solo": 10])
    }

    @Test func theDocumentsGroupsAreRead() {
        var web = VirtualIP(name: "web", address: IPPrefix("10.0.0.10/24")!, interface: "eth0", vrid: 1)
        web.group = "front"
        var dns = VirtualIP(name: "dns", address: IPPrefix("10.0.0.11/24")!, interface: "eth0", vrid: 2)
        dns.group = "front"
        let other = VirtualIP(name: "nas", address: IPPrefix("10.0.0.12/24")!, interface: "eth0", vrid: 3)
        #expect(SyncGroups(document: [web, dns, other]).members == ["front": ["dns", "web"]])
    }
}
