// The typed channels between the agent's parts, made once by Agent: each has one publisher (named below) and
// is followed by the parts that act on it. Domain values only: member states as enums, addresses as IPAddress.
import Gossip
import HomecloudSchema
import PartWiring
import Probes
import Reconciler
import VRRP

public struct AgentChannels: Sendable {
    /// DocumentKeeper → gossip, VRRP, reconciler, probes.
    public let documents = LatestValue<AcceptedDocument>()
    /// Gossip → hcctl status/members.
    public let members = LatestValue<[MemberStatus]>()
    /// Gossip → reconciler (`one` placement) and the handover check of the control commands.
    public let memberView = LatestValue<MemberView>()
    /// Gossip → VRRP (`unicast: members`).
    public let peerAddresses = LatestValue<[IPAddress]>([])
    /// Gossip → VRRP: VIPs live boards ask this board to take.
    public let incomingHandovers = LatestValue<Set<String>>([])
    /// VRRP → gossip: VIPs this board asked others to take, and to whom.
    public let outgoingHandovers = LatestValue<[String: String]>([:])
    /// VRRP → hcctl status.
    public let vips = LatestValue<[VIPStatus]>()
    /// VRRP → gossip, reconciler (`vip:NAME` placement).
    public let heldVIPs = LatestValue<Set<String>>([])
    /// Reconciler → hcctl status.
    public let units = LatestValue<ReconcilerService.UnitsReport>()
    /// Reconciler → gossip, the systemd status line.
    public let convergence = LatestValue<ReconcileCore.Convergence>()
    /// Probes → VRRP: VIP name → the weights of its failing tracked probes.
    public let priorityAdjustments = LatestValue<[String: Int]>([:])
    /// Probes → gossip.
    public let probeSummary = LatestValue<ProbeSummary>()
    /// Gossip → reconciler: the shared secrets this board holds (their names: `secretValues.value?.names`).
    public let secretValues = LatestValue<SharedSecretValues>(SharedSecretValues())
    /// Gossip → hcctl status: each secret's state, fingerprint and age (never a value).
    public let secretStatus = LatestValue<[SecretStatus]>()
    /// Gossip → hcctl status: each board's value of each fact (facts are public) and since when it is known.
    public let factStatus = LatestValue<[FactStatus]>()
    /// Probes → reconciler: restarts asked (events: each counts).
    public let unitHealth: AsyncStream<UnitHealthReport>
    public let unitHealthSink: AsyncStream<UnitHealthReport>.Continuation
    /// VRRP → the transition hooks: every state change of a VIP's router (events: each counts).
    public let vipTransitions: AsyncStream<VIPTransition>
    public let vipTransitionSink: AsyncStream<VIPTransition>.Continuation

    public init() {
        (unitHealth, unitHealthSink) = AsyncStream.makeStream(of: UnitHealthReport.self, bufferingPolicy: .bufferingNewest(256))
        (vipTransitions, vipTransitionSink) = AsyncStream.makeStream(of: VIPTransition.self, bufferingPolicy: .bufferingNewest(256))
    }
}

/// The handles through which the control commands reach the parts that own what they ask for.
public struct PartHandles: Sendable {
    public var vrrp: VRRPHandle
    public var gossip: GossipHandle
    public var reconciler: ReconcilerHandle
    public var probes: ProbeHandle
    /// hcctl drain and undrain; nil where the agent keeps no drained state (control commands tested alone).
    public var drain: DrainKeeper?
    /// hcctl restart; nil where the agent runs no restarts (control commands tested alone).
    public var restarts: RestartKeeper?

    public init(vrrp: VRRPHandle, gossip: GossipHandle, reconciler: ReconcilerHandle, probes: ProbeHandle, drain: DrainKeeper? = nil,
                restarts: RestartKeeper? = nil) {
        self.restarts = restarts
        self.vrrp = vrrp
        self.gossip = gossip
        self.reconciler = reconciler
        self.probes = probes
        self.drain = drain
    }

    /// No part runs (an agent's control commands tested alone).
    public static let notRunning = PartHandles(vrrp: VRRPHandle(offReason: "VRRP is not running on this node"), gossip: .notRunning,
                                               reconciler: .notRunning, probes: .notRunning)
}
