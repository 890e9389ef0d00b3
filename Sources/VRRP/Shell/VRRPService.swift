// Runs the document's VIPs: VRRPDriver on a thread of its own, fed by its typed channels (document, live peers,
// handovers asked of this board, probe weights); what the driver reports goes out on its own channels.
import HomecloudSchema
import Logging
import PartWiring
import Reactor
import PartLifecycle

public struct VRRPService: Service {
    /// What VRRP follows and what it publishes; made and connected by the agent.
    public struct Channels: Sendable {
        public var documents: LatestValue<AcceptedDocument>
        /// The other live members' addresses, for `unicast: members`.
        public var peers: LatestValue<[IPAddress]>
        /// VIPs other boards ask this board to take (gossip).
        public var incomingHandovers: LatestValue<Set<String>>
        /// VIP name → the weights of its failing tracked probes.
        public var adjustments: LatestValue<[String: Int]>
        /// This board's VIPs as hcctl shows them.
        public var vips: LatestValue<[VIPStatus]>
        /// The names of the VIPs this board holds (master), for gossip and `vip:NAME` placement.
        public var held: LatestValue<Set<String>>
        /// VIP → the node this board asked to take it, for the gossip metadata.
        public var outgoingHandovers: LatestValue<[String: String]>
        /// Whether this board is drained (hcctl drain): its VIPs handed over, priority 1.
        public var drained = LatestValue<Bool>(false)
        /// The other alive members that are not drained (gossip): a drained master steps down to the best of them.
        public var inService = LatestValue<Set<String>>([])
        /// The other live members' probe summaries (gossip): a step-down counts their failing probes' weights.
        public var peerProbes = LatestValue<[String: ProbeSummary]>([:])
        /// Every state change of a VIP's router, in order (events: each counts), for the transition hooks.
        public var transitions: AsyncStream<VIPTransition>.Continuation?

        public init(documents: LatestValue<AcceptedDocument>, peers: LatestValue<[IPAddress]>, incomingHandovers: LatestValue<Set<String>>,
                    adjustments: LatestValue<[String: Int]>, vips: LatestValue<[VIPStatus]>, held: LatestValue<Set<String>>,
                    outgoingHandovers: LatestValue<[String: String]>, transitions: AsyncStream<VIPTransition>.Continuation? = nil) {
            self.transitions = transitions
            self.documents = documents
            self.peers = peers
            self.incomingHandovers = incomingHandovers
            self.adjustments = adjustments
            self.vips = vips
            self.held = held
            self.outgoingHandovers = outgoingHandovers
        }
    }

    /// The driver and its thread, or why VRRP cannot run here.
    enum Setup: Sendable {
        case running(EventThread, VRRPDriver, AsyncStream<VRRPDriver.Report>)
        case off(String)
    }

    let node: String
    let channels: Channels
    let problems: PartProblems
    let logger: Logger
    let setup: Setup
    /// `hcctl vip handover` reaches VRRP through this.
    public let handle: VRRPHandle
    /// VIPs an in-place restart handed to this process, to resume as master (empty after any other start).
    public let resumingVIPs: Set<String>

    /// A stopping master waits this long for a successor to take the VIP before it simply lets go: up to
    /// TargetedHandover.stopStepDownWindow (1.5 s) for the best other board, then priority 0 for any board.
    /// Agent.shutdownBudget must stay above it, and the unit's TimeoutStopSec above that.
    static let stopBudget = Duration.milliseconds(3000)

    /// Opens what VRRP needs (netlink, its thread); what is missing turns VRRP off, not the agent.
    public init(node: String, stateDir: String, channels: Channels, problems: PartProblems, logger: Logger) {
        self.node = node
        self.channels = channels
        self.problems = problems
        self.logger = logger
        // Without the capabilities it needs VRRP would win elections for VIPs it cannot add: it stays off,
        // says why, and leaves the VIPs to boards that can hold them.
        if let reason = Capabilities.current()?.vrrpOffReason {
            setup = .off(reason)
        } else {
            do {
                let table = try VIPAddressTable()
                let links = try LinkWatcher()
                let thread = try EventThread(name: "hcagent-vrrp")
                let (reports, reportSink) = AsyncStream.makeStream(of: VRRPDriver.Report.self)
                let driver = VRRPDriver(thread: thread, node: node, stateDir: stateDir, table: table, links: links,
                                        reports: reportSink, problems: problems, logger: logger)
                setup = .running(thread, driver, reports)
            } catch {
                setup = .off("VRRP off: \(error)")
            }
        }
        switch setup {
        case .running(let thread, let driver, _):
            handle = VRRPHandle(thread: thread, driver: driver)
            resumingVIPs = driver.resumingNames
        case .off:
            handle = VRRPHandle(offReason: "VRRP is not running on this node")
            resumingVIPs = []
        }
    }

    public func run() async throws {
        guard case .running(let thread, let driver, let reports) = setup else {
            if case .off(let reason) = setup { await stayOff(reason) }
            return
        }
        defer { thread.stop() }
        let channels = self.channels
        thread.execute { driver.start() }
        let documents = channels.documents.follow()
        let peers = channels.peers.follow()
        let incoming = channels.incomingHandovers.follow()
        let adjustments = channels.adjustments.follow()
        let drainedFlags = channels.drained.follow()
        let inService = channels.inService.follow()
        let peerProbes = channels.peerProbes.follow()
        await withDiscardingTaskGroup { group in
            // Each of these changes now and then, never per advertisement.
            group.addTask { for await accepted in documents { thread.execute { driver.onDocument(accepted.document) } } }
            group.addTask { for await addresses in peers { thread.execute { driver.onPeers(addresses) } } }
            group.addTask { for await vips in incoming { thread.execute { driver.onHandoverRequests(vips) } } }
            group.addTask { for await changes in adjustments { thread.execute { driver.onAdjustments(changes) } } }
            group.addTask { for await drained in drainedFlags { thread.execute { driver.onDrained(drained) } } }
            group.addTask { for await names in inService { thread.execute { driver.onInService(names) } } }
            group.addTask { for await summaries in peerProbes { thread.execute { driver.onPeerProbes(summaries) } } }
            await withGracefulShutdownHandler {
                reading: for await report in reports {
                    switch report {
                    case .vips(let vips, let held): channels.publish(vips, held: held)
                    case .outgoingHandovers(let requests): channels.outgoingHandovers.publishIfChanged(requests)
                    case .transition(let transition): channels.transitions?.yield(transition)
                    case .stopped: break reading
                    }
                }
            } onGracefulShutdown: {
                thread.execute { driver.stop() }
            }
            // However the loop ended (a stop past its budget, a cancelled group), no VIP stays behind.
            if case let (vips, held)? = await thread.submit({ driver.finishAll() }) { channels.publish(vips, held: held) }
            group.cancelAll()
        }
    }

    /// VRRP cannot run here: while the document gives this board VIPs, each shows as off with the reason, and
    /// the reason is a problem of the agent's (one log line); the other parts run on. Ends with the agent.
    private func stayOff(_ reason: String) async {
        let node = self.node, problems = self.problems, channels = self.channels
        logger.warning("\(reason)")
        let documents = channels.documents.follow()
        await cancelWhenGracefulShutdown {
            for await accepted in documents {
                let document = accepted.document
                let vips = document.nodes.contains(where: { $0.name == node }) ? document.vips : []
                if vips.isEmpty {
                    problems.clear("vrrp")
                } else {
                    problems.report("vrrp", reason, alreadyLogged: true)
                }
                channels.publish(vips.map { vip in
                    var status = VIPStatus(name: vip.name, address: vip.address.description, state: "off", holder: nil, reason: reason)
                    if !vip.moreAddresses.isEmpty { status.addresses = vip.addresses.map(\.description) }
                    status.group = vip.group
                    return status
                }, held: [])
            }
        }
    }
}

extension VRRPService.Channels {
    func publish(_ vips: [VIPStatus], held names: Set<String>) {
        self.vips.publish(vips)
        held.publishIfChanged(names)
    }
}

/// What the control commands may ask of VRRP; made with the service, so it exists whether or not VRRP runs.
public struct VRRPHandle: Sendable {
    private let thread: EventThread?
    private let driver: VRRPDriver?
    private let offReason: String

    init(thread: EventThread, driver: VRRPDriver) {
        self.thread = thread
        self.driver = driver
        offReason = "VRRP is stopping"
    }

    /// A handle of a VRRP that does not run here: every request is answered with `reason`.
    public init(offReason reason: String) {
        thread = nil
        driver = nil
        offReason = reason
    }

    /// An in-place restart is about to re-execute the agent: the VIPs held as master are recorded for the new
    /// process (VRRPDriver.prepareInPlaceRestart). Without VRRP there is nothing to hand over.
    public func prepareInPlaceRestart() async -> Result<[String], ControlError> {
        guard let thread, let driver else { return .success([]) }
        return await thread.submit { driver.prepareInPlaceRestart() } ?? .failure(ControlError(.failed, offReason))
    }

    /// The re-execution failed: the record is removed, this process runs on.
    public func abandonInPlaceRestart() async {
        guard let thread, let driver else { return }
        _ = await thread.submit { driver.abandonInPlaceRestart() }
    }

    /// hcctl vip handover NAME [--to NODE]: make before break, to `target` or to whichever board wins.
    public func handover(vip name: String, to target: String?) async -> Result<String, ControlError> {
        guard let thread, let driver else { return .failure(ControlError(.failed, offReason)) }
        return await thread.submit { driver.handOver(name, to: target) } ?? .failure(ControlError(.failed, offReason))
    }
}
