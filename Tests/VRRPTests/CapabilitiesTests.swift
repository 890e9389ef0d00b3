// Which capabilities VRRP needs, read from /proc/self/status's CapEff, and the reason it gives without them.
import Testing
@testable import VRRP
@testable import VRRPCore

@Suite struct CapabilitiesTests {
    @Test func capEffIsReadAndEachMissingCapabilityIsNamed() throws {
        let full = try #require(Capabilities.parse("Name:\thcagent\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n"))
        #expect(full.vrrpOffReason == nil)
        let noAdmin = try #require(Capabilities.parse("CapEff:\t000001ffffffefff\n"))
        #expect(!noAdmin.has(Capabilities.netAdmin) && noAdmin.has(Capabilities.netRaw))
        #expect(noAdmin.vrrpOffReason?.hasPrefix("VRRP off: no CAP_NET_ADMIN (needed to add the VIP): ") == true)
        let neither = try #require(Capabilities.parse("CapEff:\t0000000000000000"))
        #expect(neither.vrrpOffReason?.contains("no CAP_NET_ADMIN (needed to add the VIP), no CAP_NET_RAW") == true)
        #expect(Capabilities.parse("CapEff:\tnot hex\n") == nil)
        #expect(Capabilities.parse("") == nil)
        #expect(Capabilities.current() != nil, "this process has a /proc/self/status")
    }
}
