// The cluster as this board sees it, as gauges: each VIP's VRRP state (one-hot), its holder and whether it has
// one, and each member's gossip state (one-hot; a node of the document gossip does not know is `absent`). Remade
// at every change of the VIPs, members or document; a series whose VIP or member is gone leaves /metrics.
// Names and states only: no address, no key.
import CoreMetrics
import HomecloudSchema
import PartWiring
import PartLifecycle
import Synchronization

/// Which series there are and their values: a pure function of the status values (see `series`).
public enum ClusterMetrics {
    /// VRRP's states (VIPStatus.state), always all exported so a one-hot sum is 1 and `state="master"` exists at 0.
    public static let vipStates = ["init", "backup", "master", "fault", "stopped", "off"]
    /// Gossip's member states (MemberStatus.state), and `absent`: a node of the document that gossip does not
    /// know (never joined, or forgotten), so a board that never came up is visible too.
    public static let memberStates = ["alive", "suspect", "dead", "left", "absent"]

    public struct Label: Hashable, Sendable, Comparable {
        public var key: String
        public var value: String
        public static func < (lhs: Label, rhs: Label) -> Bool { (lhs.key, lhs.value) < (rhs.key, rhs.value) }
    }

    /// One series: a metric name and its labels.
    public struct Series: Hashable, Sendable, Comparable {
        public var name: String
        public var labels: [Label]
        public init(_ name: String, _ labels: [(String, String)]) {
            self.name = name
            self.labels = labels.map { Label(key: $0.0, value: $0.1) }
        }
        public var dimensions: [(String, String)] { labels.map { ($0.key, $0.value) } }
        public static func < (lhs: Series, rhs: Series) -> Bool {
            lhs.name != rhs.name ? lhs.name < rhs.name : lhs.labels.lexicographicallyPrecedes(rhs.labels)
        }
    }

    /// Every series and its value for these VIPs and members, seen from `node`; `nodes`: the document's.
    public static func series(node: String, vips: [VIPStatus], members: [MemberStatus], nodes: [String] = []) -> [Series: Double] {
        var values: [Series: Double] = [:]
        for vip in vips {
            for state in vipStates + (vipStates.contains(vip.state) ? [] : [vip.state]) {
                values[Series("hcagent_vip_state", [("vip", vip.name), ("state", state)])] = state == vip.state ? 1 : 0
            }
            let holder = StatusHeadline.holder(of: vip, node: node, members: members)
            values[Series("hcagent_vip_has_holder", [("vip", vip.name)])] = holder == nil ? 0 : 1
            if let holder { values[Series("hcagent_vip_holder", [("vip", vip.name), ("node", holder)])] = 1 }
        }
        let absent = nodes.filter { name in !members.contains { $0.name == name } }
        for (name, current) in members.map({ ($0.name, $0.state) }) + absent.map({ ($0, "absent") }) {
            for state in memberStates + (memberStates.contains(current) ? [] : [current]) {
                values[Series("hcagent_member_state", [("member", name), ("state", state)])] = state == current ? 1 : 0
            }
        }
        return values
    }
}

/// Keeps the gauges of ClusterMetrics.series: records every value, destroys the series that went away.
final class ClusterGauges: Sendable {
    private let factory: any MetricsFactory
    private let gauges = Mutex<[ClusterMetrics.Series: Gauge]>([:])

    init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
    }

    func update(_ values: [ClusterMetrics.Series: Double]) {
        let gone: [Gauge] = gauges.withLock { gauges in
            // Made in order, so /metrics lists them the same way at every scrape.
            for series in values.keys.sorted() {
                let gauge = gauges[series] ?? Gauge(label: series.name, dimensions: series.dimensions, factory: factory)
                gauges[series] = gauge
                gauge.record(values[series]!)
            }
            let stale = gauges.keys.filter { values[$0] == nil }
            return stale.compactMap { gauges.removeValue(forKey: $0) }
        }
        for gauge in gone { gauge.destroy() }
    }
}

/// Follows the VIPs, members and documents channels and keeps ClusterGauges current.
struct ClusterMetricsService: Service {
    let node: String
    let channels: AgentChannels
    let gauges: ClusterGauges

    init(node: String, channels: AgentChannels, gauges: ClusterGauges = ClusterGauges()) {
        self.node = node
        self.channels = channels
        self.gauges = gauges
    }

    func run() async throws {
        let (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let channels = self.channels, node = self.node, gauges = self.gauges
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { for await _ in channels.vips.follow() { wake.yield() } }
                group.addTask { for await _ in channels.members.follow() { wake.yield() } }
                group.addTask { for await _ in channels.documents.follow() { wake.yield() } }
                for await _ in wakes {
                    gauges.update(ClusterMetrics.series(node: node, vips: channels.vips.value ?? [], members: channels.members.value ?? [],
                                                        nodes: channels.documents.value?.document.nodes.map(\.name) ?? []))
                }
                group.cancelAll()
            }
        }
    }
}
