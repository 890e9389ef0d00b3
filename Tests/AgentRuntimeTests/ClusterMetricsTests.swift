// The cluster gauges: each VIP's state one-hot, its holder by name, whether it has one; each member's state one-hot;
// series of a VIP or member that went away leave /metrics.
import CoreMetrics
import HomecloudSchema
import Testing
@testable import AgentRuntime

@Suite struct ClusterMetricsTests {
    func page(_ registry: MetricsRegistry) -> [String] {
        String(decoding: registry.exposition(), as: UTF8.self).split(separator: "\n").map(String.init)
    }

    static let members = [MemberStatus(name: "n1", address: "10.0.0.1:7964", state: "alive"),
                          MemberStatus(name: "n2", address: "10.0.0.2:7964", state: "alive"),
                          MemberStatus(name: "n3", address: "10.0.0.3:7964", state: "dead")]

    @Test func vipStateIsOneHotAndTheHolderIsNamed() {
        let vips = [VIPStatus(name: "front", address: "10.0.0.250/24", state: "backup", holder: "10.0.0.2"),
                    VIPStatus(name: "back", address: "10.0.0.251/24", state: "backup", holder: nil)]
        let series = ClusterMetrics.series(node: "n1", vips: vips, members: Self.members)
        let front = ClusterMetrics.vipStates.map { series[.init("hcagent_vip_state", [("vip", "front"), ("state", $0)])] }
        #expect(front == ClusterMetrics.vipStates.map { $0 == "backup" ? 1 : 0 })
        #expect(series[.init("hcagent_vip_holder", [("vip", "front"), ("node", "n2")])] == 1)
        #expect(series[.init("hcagent_vip_has_holder", [("vip", "front")])] == 1)
        #expect(series[.init("hcagent_vip_has_holder", [("vip", "back")])] == 0)
        #expect(!series.keys.contains { $0.name == "hcagent_vip_holder" && $0.labels.contains(.init(key: "vip", value: "back")) })
        #expect(series[.init("hcagent_member_state", [("member", "n3"), ("state", "dead")])] == 1)
        #expect(series[.init("hcagent_member_state", [("member", "n3"), ("state", "alive")])] == 0)
        #expect(series.keys.filter { $0.name == "hcagent_member_state" }.count == 3 * ClusterMetrics.memberStates.count)
        // No address reaches a label.
        #expect(!series.keys.contains { $0.labels.contains { $0.value.contains("10.0.0") } })
    }

    @Test func gaugesFollowChangesAndDropWhatWentAway() {
        let registry = MetricsRegistry()
        let gauges = ClusterGauges(factory: registry)
        var vips = [VIPStatus(name: "front", address: "10.0.0.250/24", state: "master", holder: "n1")]
        gauges.update(ClusterMetrics.series(node: "n1", vips: vips, members: Self.members))
        var lines = page(registry)
        #expect(lines.contains(#"hcagent_vip_state{vip="front",state="master"} 1.0"#))
        #expect(lines.contains(#"hcagent_vip_has_holder{vip="front"} 1.0"#))
        #expect(lines.contains(#"hcagent_vip_holder{vip="front",node="n1"} 1.0"#))
        #expect(lines.contains(#"hcagent_member_state{member="n3",state="dead"} 1.0"#))

        // The VIP moves to n2, n3 is forgotten: n1's holder series and n3's states leave the page.
        vips[0] = VIPStatus(name: "front", address: "10.0.0.250/24", state: "backup", holder: "10.0.0.2")
        gauges.update(ClusterMetrics.series(node: "n1", vips: vips, members: Array(Self.members.prefix(2))))
        lines = page(registry)
        #expect(lines.contains(#"hcagent_vip_holder{vip="front",node="n2"} 1.0"#))
        #expect(!lines.contains { $0.hasPrefix(#"hcagent_vip_holder{vip="front",node="n1"}"#) })
        #expect(!lines.contains { $0.contains(#"member="n3""#) })
        // Unless the document names n3: then it stays, absent.
        gauges.update(ClusterMetrics.series(node: "n1", vips: vips, members: Array(Self.members.prefix(2)), nodes: ["n1", "n2", "n3"]))
        #expect(page(registry).contains(#"hcagent_member_state{member="n3",state="absent"} 1.0"#))
        #expect(page(registry).contains(#"hcagent_member_state{member="n3",state="dead"} 0.0"#))
        #expect(lines.contains(#"hcagent_vip_state{vip="front",state="backup"} 1.0"#))
        #expect(lines.contains(#"hcagent_vip_state{vip="front",state="master"} 0.0"#))
    }
}
