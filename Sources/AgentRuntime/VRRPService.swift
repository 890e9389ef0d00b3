// Runs the document's VIPs: one VRRP router each over shared raw sockets; carries out the routers' actions
// (the VIP through netlink, advertisements, announcements) and publishes their state for hcctl and placement.
import HomecloudSchema
import Logging
import Metrics
import ServiceLifecycle
import VRRP
#if canImport(Glibc)
import Glibc
#endif

public struct VRRPService: Service {
    let state: AgentState
    let logger: Logger

    /// A stopping master waits this long for a successor to take the VIP before it simply lets go.
    static let stopBudget = Duration.milliseconds(2500)

    public init(state: AgentState, logger: Logger) {
        self.state = state
        self.logger = logger
    }

    enum Input: Sendable {
        case document(DesiredState)
        /// The other live gossip members' addresses, for `unicast: members`.
        case peers([IPAddress])
        case packet(VRRPDriver.ChannelKey, VRRPChannel.Received)
        case link(LinkWatcher.Change)
        case timer
        case handover(String, to: String?, CheckedContinuation<Result<String, ControlError>, Never>)
        /// VIPs other boards ask this one to take (gossip).
        case handoverRequests(Set<String>)
        /// VIP → the weights of its failing tracked probes.
        case adjustments([String: Int])
        case stop
        case stopDeadline
    }

    public func run() async throws {
        let table: VIPAddressTable
        let links: LinkWatcher
        do {
            table = try VIPAddressTable()
            links = try LinkWatcher()
        } catch {
            logger.warning("VRRP off: \(error)")
            try? await gracefulShutdown()
            return
        }
        defer { links.close() }
        let (inputs, sink) = AsyncStream.makeStream(of: Input.self)
        let driver = VRRPDriver(node: state.config.node, stateDir: state.config.stateDir, table: table, state: state, sink: sink, logger: logger)
        let documents = await state.documents()
        let peers = await state.peerAddressChanges()
        let incoming = await state.incomingHandoverChanges()
        let adjustments = await state.priorityAdjustmentChanges()
        await state.setHandoverHandler { name, target in
            await withCheckedContinuation { answer in
                if case .terminated = sink.yield(.handover(name, to: target, answer)) {
                    answer.resume(returning: .failure(ControlError(.failed, "VRRP is stopping")))
                }
            }
        }
        await withDiscardingTaskGroup { group in
            group.addTask { for await document in documents { sink.yield(.document(document)) } }
            group.addTask { for await change in links.changes() { sink.yield(.link(change)) } }
            group.addTask { for await addresses in peers { sink.yield(.peers(addresses)) } }
            group.addTask { for await vips in incoming { sink.yield(.handoverRequests(vips)) } }
            group.addTask { for await changes in adjustments { sink.yield(.adjustments(changes)) } }
            await withGracefulShutdownHandler {
                for await input in inputs {
                    if await driver.step(input) == .finished { break }
                }
            } onGracefulShutdown: {
                sink.yield(.stop)
            }
            await state.setHandoverHandler(nil)
            // However the loop ended (a stop past its budget, a cancelled group), no VIP stays behind.
            await driver.finishAll()
            driver.closeChannels()
            group.cancelAll()
        }
    }
}

/// The loop's state: routers by VIP name, their sockets and the timer. Used by the service's own task only.
final class VRRPDriver {
    struct ChannelKey: Hashable, Sendable {
        var interface: String
        var family: IPAddress.Family
    }

    struct Router {
        var vip: VirtualIP
        var instance: VRRPInstance
        var channel: ChannelKey
        var linkIndex: Int32
        var announcer: NeighbourAnnouncer?
        /// Set when the interface or its address is missing: the router stays in fault and says why.
        var problem: String?
    }

    enum Outcome { case running, finished }

    private let node: String
    private let table: VIPAddressTable
    private var owned: OwnedVIPs
    private let state: AgentState
    private let sink: AsyncStream<VRRPService.Input>.Continuation
    private let logger: Logger
    private var routers: [String: Router] = [:]
    private var channels: [ChannelKey: VRRPChannel] = [:]
    private var timer: Task<Void, Never>?
    private var stopping = false
    private var memberPeers: [IPAddress] = []
    /// Handovers this board asked for: VIP → (successor, until when it may take over).
    private var askedOfOthers: [String: (node: String, until: Duration)] = [:]
    /// VIPs other boards ask this board to take, and those it has raised its priority for.
    private var requestedOfMe: Set<String> = []
    private var boosted: Set<String> = []
    /// VIP → the weights of its failing tracked probes, added to the document's priority.
    private var adjustments: [String: Int] = [:]
    /// The priority a chosen successor advertises: above any configured one (1-254), so it wins.
    static let successorPriority = 254
    static let successorWindow = Duration.seconds(10)

    /// Carries targeted handovers forward after every input: the successor raises its priority while asked
    /// (and keeps it while it holds the VIP, or the others would preempt it back); the old master forgets
    /// its request once it has stepped down, or after the window.
    private func settleHandovers() async {
        for (name, request) in askedOfOthers {
            guard let router = routers[name] else { askedOfOthers[name] = nil; continue }
            if router.instance.state != .master {
                askedOfOthers[name] = nil
            } else if now > request.until {
                logger.warning("VIP \(name): \(request.node) did not take over within \(VRRPDriver.successorWindow); keeping it")
                routers[name]!.instance.stopDeferring()
                askedOfOthers[name] = nil
            }
        }
        await state.setOutgoingHandovers(askedOfOthers.mapValues(\.node))
        for name in routers.keys {
            let base = max(1, min(254, routers[name]!.vip.priority.of(node) + (adjustments[name] ?? 0)))
            let state = routers[name]!.instance.state
            let wanted = requestedOfMe.contains(name) && (state == .backup || state == .master)
            let keep = boosted.contains(name) && state == .master
            if wanted || keep {
                if !boosted.contains(name) { logger.notice("VIP \(name): taking over as the chosen successor") }
                boosted.insert(name)
                perform(routers[name]!.instance.setPriority(Self.successorPriority, now: now), for: name)
            } else {
                boosted.remove(name)
                perform(routers[name]!.instance.setPriority(base, now: now), for: name)
            }
        }
    }

    /// Where a router's advertisements go and whom it hears: the listed peers, the live gossip members, or
    /// (neither) the multicast group and anyone.
    private func unicastPeers(_ router: Router) -> [IPAddress]? {
        if router.vip.unicastToMembers {
            return memberPeers.filter { $0.family == router.channel.family }
        }
        return router.vip.unicast.isEmpty ? nil : router.vip.unicast
    }
    private let origin = ContinuousClock.now
    private let transitionsCounter = Counter(label: "hcagent_vrrp_transitions_total")

    init(node: String, stateDir: String, table: VIPAddressTable, state: AgentState, sink: AsyncStream<VRRPService.Input>.Continuation, logger: Logger) {
        self.node = node
        self.table = table
        self.state = state
        self.sink = sink
        self.logger = logger
        TextFile.makeDirectories(stateDir)
        owned = OwnedVIPs(path: stateDir + "/owned-vips")
        // A crashed run may have left VIPs behind: another board may hold them by now.
        for entry in owned.removeStale(using: table) {
            logger.warning("removed \(entry.prefix) from \(entry.interface), left by an earlier run")
        }
    }

    deinit { timer?.cancel() }

    private var now: Duration { origin.duration(to: .now) }

    func step(_ input: VRRPService.Input) async -> Outcome {
        switch input {
        case .document(let document):
            if !stopping { await reconfigure(document) }
        case .peers(let addresses):
            memberPeers = addresses
        case .packet(let key, let received):
            receive(received, on: key)
        case .link(let change):
            for name in routers.keys where routers[name]!.linkIndex == change.index && routers[name]!.problem == nil {
                perform(routers[name]!.instance.onLink(up: change.up, now: now), for: name)
            }
            // An interface that was missing (a USB adapter, a late rename) may be there now.
            for (name, router) in routers where router.problem != nil {
                let retry = makeRouter(router.vip, quiet: true)
                guard retry.problem == nil else { continue }
                routers[name] = retry
                logger.info("VIP \(name): \(router.vip.interface) is there now")
                perform(routers[name]!.instance.start(linkUp: (try? LinkFacts.read(interface: router.vip.interface))?.up ?? false, now: now), for: name)
            }
        case .timer:
            let time = now
            for name in routers.keys {
                if let deadline = routers[name]!.instance.nextDeadline, deadline <= time {
                    perform(routers[name]!.instance.onTimer(now: time), for: name)
                }
            }
        case .handover(let name, let target, let answer):
            answer.resume(returning: handOver(name, to: target))
        case .handoverRequests(let vips):
            requestedOfMe = vips
        case .adjustments(let changes):
            adjustments = changes
        case .stop:
            stopping = true
            for name in routers.keys { perform(routers[name]!.instance.stop(now: now), for: name) }
            let sink = self.sink
            Task {
                try? await Task.sleep(for: VRRPService.stopBudget)
                sink.yield(.stopDeadline)
            }
        case .stopDeadline:
            for name in routers.keys { perform(routers[name]!.instance.finishStop(now: now), for: name) }
        }
        await settleHandovers()
        await publish()
        if stopping, routers.values.allSatisfy({ $0.instance.state == .stopped }) { return .finished }
        armTimer()
        return .running
    }

    // MARK: routers

    private func reconfigure(_ document: DesiredState) async {
        let wanted = document.nodes.contains(where: { $0.name == node }) ? document.vips : []
        // A VIP whose `track` list alone changed keeps its router: the tracked probes' weights arrive as
        // adjustments; a new router would hand the VIP to a backup and preempt it back, for nothing.
        func sameRouter(_ a: VirtualIP, _ b: VirtualIP) -> Bool {
            var a = a
            a.track = b.track
            return a == b
        }
        for (name, router) in routers where !wanted.contains(where: { sameRouter($0, router.vip) }) {
            // Gone from the document, or changed: let go now (priority 0 tells the others to take over).
            perform(routers[name]!.instance.finishStop(now: now), for: name)
            routers[name] = nil
            logger.info("VIP \(name) (\(router.vip.address)) no longer runs here as it was")
        }
        for vip in wanted where routers[vip.name] != nil { routers[vip.name]!.vip = vip }
        for vip in wanted where routers[vip.name] == nil {
            routers[vip.name] = makeRouter(vip)
            logger.info("VIP \(vip.name): \(vip.address) on \(vip.interface), vrid \(vip.vrid), priority \(vip.priority.of(node))")
            let linkUp = routers[vip.name]!.problem == nil && ((try? LinkFacts.read(interface: vip.interface))?.up ?? false)
            perform(routers[vip.name]!.instance.start(linkUp: linkUp, now: now), for: vip.name)
        }
        let used = Set(routers.values.map(\.channel))
        for (key, channel) in channels where !used.contains(key) {
            channel.close()
            channels[key] = nil
        }
    }

    private func makeRouter(_ vip: VirtualIP, quiet: Bool = false) -> Router {
        let family = vip.address.address.family
        let key = ChannelKey(interface: vip.interface, family: family)
        var problem: String?
        var primary = vip.address.address
        var link = LinkFacts(index: 0, up: false, hardwareAddress: [])
        do {
            link = try LinkFacts.read(interface: vip.interface)
            let own = try table.addresses(on: vip.interface).map(\.address).filter { $0.family == family && $0 != vip.address.address }
            // RFC 5798 §5.1.2.1: IPv6 advertisements come from the link-local address.
            if let address = family == .ipv4 ? own.first : own.first(where: { $0.bytes.starts(with: [0xfe, 0x80]) }) {
                primary = address
            } else {
                problem = "\(vip.interface) has no \(family == .ipv4 ? "IPv4" : "link-local IPv6") address of its own"
            }
            if channels[key] == nil, problem == nil {
                let channel = try VRRPChannel(interface: vip.interface, family: family)
                channels[key] = channel
                let sink = self.sink
                Task { for await packet in channel.packets() { sink.yield(.packet(key, packet)) } }
            }
        } catch {
            problem = "\(error)"
        }
        if let problem, !quiet { logger.error("VIP \(vip.name): \(problem)") }
        let settings = VRRPInstance.Settings(
            vrid: UInt8(vip.vrid), addresses: [vip.address.address], advertInterval: vip.advert, priority: vip.priority.of(node),
            preempt: vip.preempt, preemptDelay: vip.preemptDelay, primaryAddress: primary)
        return Router(vip: vip, instance: VRRPInstance(settings: settings), channel: key, linkIndex: link.index,
                      announcer: NeighbourAnnouncer(interface: vip.interface, index: link.index, hardwareAddress: link.hardwareAddress),
                      problem: problem)
    }

    private func handOver(_ name: String, to target: String?) -> Result<String, ControlError> {
        guard let router = routers[name] else {
            let known = routers.keys.sorted().joined(separator: ", ")
            return .failure(ControlError(.failed, "no VIP named \(name) runs here\(known.isEmpty ? "" : " (known: \(known))")"))
        }
        guard router.instance.state == .master else {
            return .failure(ControlError(.failed, "this node does not hold \(name) (it is \(router.instance.state.rawValue)); ask the holder"))
        }
        if let target {
            guard target != node else { return .failure(ControlError(.failed, "this node already holds \(name)")) }
            routers[name]!.instance.deferToSuccessor()
            askedOfOthers[name] = (target, now + Self.successorWindow)
            return .success("handing \(name) over to \(target): it stays here until \(target) announces it")
        }
        perform(routers[name]!.instance.handOver(now: now), for: name)
        return .success("handing \(name) over: it stays here until another board announces it")
    }

    // MARK: packets

    private let droppedCounters = [VRRPPacketError.truncated, .notVersion3, .notAnAdvertisement, .addressCountMismatch,
                                   .wrongAddressFamily, .zeroInterval, .badChecksum].map {
        ($0, Counter(label: "hcagent_vrrp_packets_dropped_total", dimensions: [("reason", $0.description)]))
    }
    private let hopLimitCounter = Counter(label: "hcagent_vrrp_packets_dropped_total", dimensions: [("reason", "hop_limit")])
    private let strangerCounter = Counter(label: "hcagent_vrrp_packets_dropped_total", dimensions: [("reason", "not_a_peer")])

    private func receive(_ received: VRRPChannel.Received, on key: ChannelKey) {
        // §7.1: a packet that crossed a router cannot come from this LAN.
        guard received.hopLimit == 255 else {
            hopLimitCounter.increment()
            return
        }
        let destination = received.destination ?? (key.family == .ipv4 ? VRRPChannel.ipv4Group : VRRPChannel.ipv6Group)
        let advertisement: VRRPAdvertisement
        do {
            advertisement = try VRRPAdvertisement.decode(received.payload, source: received.source, destination: destination).0
        } catch {
            droppedCounters.first { $0.0 == error }?.1.increment()
            return
        }
        guard let name = routers.first(where: { $0.value.channel == key && $0.value.instance.settings.vrid == advertisement.vrid })?.key else { return }
        guard unicastPeers(routers[name]!).map({ $0.contains(received.source) }) ?? true else {
            strangerCounter.increment()
            return
        }
        perform(routers[name]!.instance.onAdvertisement(advertisement, from: received.source, now: now), for: name)
    }

    // MARK: actions

    private func perform(_ actions: [VRRPInstance.Action], for name: String) {
        guard let router = routers[name] else { return }
        let entry = OwnedVIPs.Entry(interface: router.vip.interface, prefix: router.vip.address)
        for action in actions {
            do {
                switch action {
                case .addAddresses:
                    try owned.record(entry)
                    try table.add(router.vip.address, interface: router.vip.interface)
                case .removeAddresses:
                    try table.remove(router.vip.address, interface: router.vip.interface)
                    try owned.forget(entry)
                case .sendAdvertisement(let advertisement):
                    guard let channel = channels[router.channel] else { continue }
                    let source = router.instance.settings.primaryAddress
                    let destinations = unicastPeers(router) ?? [router.channel.family == .ipv4 ? VRRPChannel.ipv4Group : VRRPChannel.ipv6Group]
                    for destination in destinations {
                        try channel.send(advertisement.encoded(source: source, destination: destination), to: destination, from: source)
                    }
                case .announce:
                    try router.announcer?.announce([router.vip.address.address])
                case .transition(let from, let to, let reason):
                    transitionsCounter.increment()
                    logger.notice("VIP \(name): \(from.rawValue) -> \(to.rawValue): \(reason)")
                }
            } catch {
                logger.error("VIP \(name): \(error)")
            }
        }
    }

    private func armTimer() {
        timer?.cancel()
        guard let deadline = routers.values.compactMap({ $0.instance.nextDeadline }).min() else { return }
        let sink = self.sink
        let at = origin + deadline
        timer = Task {
            try? await Task.sleep(until: at, tolerance: .milliseconds(1), clock: .continuous)
            if !Task.isCancelled { sink.yield(.timer) }
        }
    }

    private func publish() async {
        var wallNow = timespec()
        clock_gettime(CLOCK_REALTIME, &wallNow)
        let elapsed = now
        let vips = routers.values.sorted { $0.vip.name < $1.vip.name }.map { router -> VIPStatus in
            let instance = router.instance
            let holder: String? = instance.state == .master ? node : instance.masterAddress?.description
            let since = instance.lastTransition.map { Int(wallNow.tv_sec) - Int((elapsed - $0.at).components.seconds) }
            return VIPStatus(name: router.vip.name, address: router.vip.address.description, state: instance.state.rawValue,
                             holder: holder, priority: instance.priority, since: since,
                             reason: router.problem ?? instance.lastTransition?.reason)
        }
        await state.publishVIPs(vips)
    }

    func finishAll() async {
        for name in routers.keys { perform(routers[name]!.instance.finishStop(now: now), for: name) }
        timer?.cancel()
        await publish()
    }

    func closeChannels() {
        for channel in channels.values { channel.close() }
        channels = [:]
    }
}
