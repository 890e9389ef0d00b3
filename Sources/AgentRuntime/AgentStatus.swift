// Assembles `hcctl status` from the latest value of each part's channel, the document keeper and the probes.
#if canImport(Glibc)
import Glibc
#endif
import HomecloudSchema
import PartWiring
import Probes
import Reconciler

public struct AgentStatus: Sendable {
    public static let version = AgentVersion.current.description
    let keeper: DocumentKeeper
    let channels: AgentChannels
    let probes: ProbeHandle

    public init(keeper: DocumentKeeper, channels: AgentChannels, probes: ProbeHandle) {
        self.keeper = keeper
        self.channels = channels
        self.probes = probes
    }

    public func report() async -> StatusReport {
        let probes = await self.probes.report()
        let config = keeper.config
        let document = await keeper.document
        let unitReport = channels.units.value
        let address = config.advertisedAddress?.description ?? config.bind.description
        // Until the reconciler has read systemd: desired from the document, active unknown.
        let units = unitReport?.units ?? (document.map { UnitsForNode.units(of: config.node, in: $0) } ?? []).map {
            UnitStatus(name: $0.name, desired: $0.state.rawValue, active: "unknown")
        }
        var report = StatusReport(
            node: config.node,
            cluster: document?.cluster,
            version: Self.version,
            desired: await keeper.summary,
            members: channels.members.value ?? [MemberStatus(name: config.node, address: address, state: "alive")],
            // Until VRRP reports, every VIP of the document is in VRRP's Initialize state.
            vips: channels.vips.value ?? (document?.vips ?? []).map { VIPStatus(name: $0.name, address: $0.address.description, state: "init", holder: nil) },
            units: units,
            convergence: unitReport?.convergence.rawValue,
            probes: probes
        )
        report.problems = keeper.problems.all
        if let files = unitReport?.files, !files.isEmpty { report.files = files }
        report.secrets = Self.secrets(document: document, reported: channels.secretStatus.value)
        report.facts = Self.facts(document: document, reported: channels.factStatus.value)
        report.explainUnknowns()
        report.headline = StatusHeadline.line(for: report)
        return report
    }

    /// The document's secrets as gossip last reported them, ages as of now; nil when the document names none.
    static func secrets(document: DesiredState?, reported: [SecretStatus]?) -> [SecretStatus]? {
        guard let document, !document.secrets.isEmpty else { return nil }
        var wall = timespec()
        clock_gettime(CLOCK_REALTIME, &wall)
        return document.secrets.map { spec in
            guard var status = reported?.first(where: { $0.name == spec.name && $0.from == spec.from }) else {
                return SecretStatus(name: spec.name, from: spec.from, state: "waiting", reason: "gossip has not reported yet")
            }
            if let madeAt = status.madeAt { status.age = max(0, Int(wall.tv_sec) - madeAt) }
            return status
        }
    }

    /// The document's facts as gossip last reported them, ages as of now; nil when the document names none.
    static func facts(document: DesiredState?, reported: [FactStatus]?) -> [FactStatus]? {
        guard let document, !document.facts.isEmpty else { return nil }
        var wall = timespec()
        clock_gettime(CLOCK_REALTIME, &wall)
        return (reported ?? []).filter { status in document.facts.contains { $0.name == status.name } }.map { status in
            var status = status
            if let since = status.since { status.age = max(0, Int(wall.tv_sec) - since) }
            return status
        }
    }
}
