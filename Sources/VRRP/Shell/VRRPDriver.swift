// The VRRP routers of this board, confined to one EventThread: timers, packets and link changes are handled
// where they happen; the service hears only of changes (VIP states, handovers asked of others).
import HomecloudSchema
import HomecloudYAML
import Logging
import Metrics
import PartWiring
import Reactor
#if canImport(Glibc)
import Glibc
#endif

/// Routers by VIP name, their sockets and the one timer. Every method runs on `thread` (so no lock); what the
/// agent state must know leaves as a Report, and only when it changed: an advertisement sent or heard costs
/// one wake-up of the thread and nothing else.
final class VRRPDriver: @unchecked Sendable {
    enum Report: Sendable {
        /// The VIPs as hcctl shows them, and the names of those this board holds (master).
        case vips([VIPStatus], held: Set<String>)
        /// VIP → the node this board asked to take it, for the gossip metadata.
        case outgoingHandovers([String: String])
        /// A graceful stop is done: every router has stopped.
        case stopped
        /// One state change of a VIP's router, as it happened (the transition hooks run on these).
        case transition(VIPTransition)
    }

    struct ChannelKey: Hashable, Sendable {
        var interface: String
        var family: IPAddress.Family
    }

    /// A class, so that driving one router never copies the others: a dictionary of values mutated while
    /// being iterated is copied whole, and that happened on every advertisement.
    final class Router {
        var vip: VirtualIP
        var instance: VRRPInstance
        let channel: ChannelKey
        /// The channel's socket (nil with a problem): looked up once, not at every advertisement.
        let socket: VRRPChannel?
        let linkIndex: Int32
        let announcer: NeighbourAnnouncer?
        /// Set when the interface or its address is missing: the router stays in fault and says why.
        let problem: String?
        /// The last advertisement sent and its bytes: a master sends the same one at every interval.
        var lastSent: (advertisement: VRRPAdvertisement, destination: IPAddress, bytes: [UInt8])?
        /// The instance's `shownRevision` when the agent state was last told of this router.
        var publishedRevision = -1

        init(vip: VirtualIP, instance: VRRPInstance, channel: ChannelKey, socket: VRRPChannel?, linkIndex: Int32,
             announcer: NeighbourAnnouncer?, problem: String?) {
            self.vip = vip
            self.instance = instance
            self.channel = channel
            self.socket = socket
            self.linkIndex = linkIndex
            self.announcer = announcer
            self.problem = problem
        }
    }

    /// A VIP as the agent state is told of it, as it comes from the router.
    private struct Shown {
        var name: String
        var addresses: [IPPrefix]
        var group: String?
        var state: VRRPInstance.State
        var master: IPAddress?
        var priority: Int
        var problem: String?
        var transition: VRRPInstance.Transition?
        var priorityReason: String?

        init(_ router: Router, drained: Bool) {
            priorityReason = drained ? TargetedHandover.drainedReason : nil
            name = router.vip.name
            addresses = router.vip.addresses
            group = router.vip.group
            state = router.instance.state
            master = router.instance.masterAddress
            priority = router.instance.priority
            problem = router.problem
            transition = router.instance.lastTransition
        }
    }

    private let thread: EventThread
    private let node: String
    private let table: VIPAddressTable
    private let links: LinkWatcher
    private var owned: OwnedVIPs
    private var nextOwnedRetry: Duration = .zero
    private let reports: AsyncStream<Report>.Continuation
    private let logger: Logger
    /// A VIP that cannot run (its interface missing, its address refused) is a problem of the agent's too.
    private let problems: PartProblems
    private var routers: [String: Router] = [:]
    private var channels: [ChannelKey: VRRPChannel] = [:]
    private var stopping = false
    /// A graceful stop lets go of the VIPs at this time at the latest.
    private var stopDeadline: Duration?
    /// The timer's callback, made once rather than at every arming.
    private lazy var fire: () -> Void = { [weak self] in self?.onTimer() }
    /// What the last report was made with besides the routers' revisions (publish()).
    private var publishedDrained: Bool?
    private var publishedCount = 0
    private var memberPeers: [IPAddress] = []
    /// The other alive, undrained members (gossip) and the document's nodes: where a drain steps down to.
    private var inService: Set<String> = []
    private var documentNodes: Set<String> = []
    /// The document's probes (their weights) and what the other live members gossip of theirs ("pn"/"pf"): where a
    /// step-down aims counts the other boards' failing probes as they do.
    private var documentProbes: [Probe] = []
    private var peerProbes: [String: ProbeSummary] = [:]
    /// Targeted handovers asked by and of this board, and the priorities they set (the rule is in the core).
    private var handovers = TargetedHandover()
    /// The document's VIP groups: a VIP that leaves master here takes its group's others with it (SyncGroups).
    private var groups = SyncGroups()
    /// VIP → the weights of its failing tracked probes, added to the document's priority.
    private var adjustments: [String: Int] = [:]
    /// Where an in-place restart leaves the VIPs it held for the new process (InPlaceHandoff).
    private let handoffPath: String
    /// The record the previous process left, while fresh: the first document's VIPs may resume from it.
    private var handoff: InPlaceHandoff?
    /// The VIPs that fresh record names, read at construction (before the thread runs): the agent tells the
    /// reconciler they are held before the first report, so no `vip:` unit stops for the restart.
    let resumingNames: Set<String>

    /// Carries targeted handovers forward after every event (TargetedHandover decides, this carries it out).
    private func settleHandovers(now: Duration) {
        guard !handovers.isQuiet else { return }
        // A grouped VIP advertises its group's priority here (SyncGroups), so the group's elections agree.
        let priorities = AdvertisedPriorities.of(node: node, vips: routers.values.map(\.vip), groups: groups, adjustments: adjustments)
        let facts = routers.mapValues { router in
            TargetedHandover.Router(state: router.instance.state, basePriority: priorities[router.vip.name] ?? 1)
        }
        for action in handovers.onStep(routers: facts, now: now) { carryOut(action, now: now) }
    }

    private func carryOut(_ action: TargetedHandover.Action, now: Duration) {
        switch action {
        case .deferToSuccessor(let name):
            routers[name]?.instance.deferToSuccessor()
        case .handOver(let name):
            if let router = routers[name] { perform(router.instance.handOver(now: now), for: router) }
        case .successorMissed(let name, let successor):
            logger.warning("VIP \(name): \(successor) did not take over within \(TargetedHandover.window); keeping it")
            routers[name]?.instance.stopDeferring()
        case .becomeSuccessor(let name):
            logger.notice("VIP \(name): taking over as the chosen successor")
            routers[name]?.instance.stopDeferring()
        case .setPriority(let name, let priority):
            if let router = routers[name] { perform(router.instance.setPriority(priority, now: now), for: router) }
        case .publishRequests(let outgoing):
            reports.yield(.outgoingHandovers(outgoing))
        case .resumePreempting(let name):
            routers[name]?.instance.stopDeferring()
        case .stop(let name, let handOver):
            if let router = routers[name] { perform(router.instance.stop(now: now, handOver: handOver), for: router) }
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

    init(thread: EventThread, node: String, stateDir: String, table: VIPAddressTable, links: LinkWatcher,
         reports: AsyncStream<Report>.Continuation, problems: PartProblems, logger: Logger) {
        self.thread = thread
        self.problems = problems
        self.node = node
        self.table = table
        self.links = links
        self.reports = reports
        self.logger = logger
        TextFile.makeDirectories(stateDir)
        owned = OwnedVIPs(path: stateDir + "/owned-vips")
        handoffPath = stateDir + "/upgrade-handoff"
        // Read once and removed: a record speaks only to the process started right after it was written.
        let record = (try? TextFile.read(handoffPath)).flatMap(InPlaceHandoff.parse)
        unlink(handoffPath)
        var keeping: Set<OwnedVIPs.Entry> = []
        if let record, record.isFresh(bootID: BootClock.bootID, now: BootClock.now) {
            handoff = record
            resumingNames = Set(record.held.map(\.name))
            keeping = Set(record.held.flatMap { vip in vip.addresses.map { OwnedVIPs.Entry(interface: vip.interface, prefix: $0) } })
            logger.notice("in-place restart: the previous process held \(record.held.map(\.name).joined(separator: ", ")); keeping their addresses")
        } else {
            resumingNames = []
            if record != nil { logger.notice("in-place restart: the handoff record is stale; starting every VIP as backup") }
        }
        // A crashed run may have left VIPs behind: another board may hold them by now.
        for entry in owned.removeStale(using: table, keeping: keeping) {
            logger.warning("removed \(entry.prefix) from \(entry.interface), left by an earlier run")
        }
    }

    private var now: Duration { origin.duration(to: .now) }

    // MARK: events, each on the thread and each ending with settle()

    /// Before any other event. Nothing to report yet: the VIPs come with the document.
    func start() {
        do {
            try thread.watch(links.descriptor) { self.onLinkChanges() }
        } catch {
            logger.error("VRRP will not see links go up or down: \(error)")
        }
    }

    func onDocument(_ document: DesiredState) {
        if !stopping { reconfigure(document) }
        handovers.onPrioritiesChanged()
        settle()
    }

    /// The other live gossip members' addresses, for `unicast: members`.
    func onPeers(_ addresses: [IPAddress]) {
        memberPeers = addresses
        settle()
    }

    /// The other alive members that are not drained (gossip): read when this board steps down (drain, handover, stop).
    func onInService(_ names: Set<String>) {
        inService = names
    }

    /// The other live members' probe summaries (gossip): read when this board steps down.
    func onPeerProbes(_ summaries: [String: ProbeSummary]) {
        peerProbes = summaries
    }

    /// VIPs other boards ask this one to take (gossip).
    func onHandoverRequests(_ vips: Set<String>) {
        handovers.onRequestsOfMe(vips)
        settle()
    }

    /// VIP → the weights of its failing tracked probes.
    func onAdjustments(_ changes: [String: Int]) {
        adjustments = changes
        handovers.onPrioritiesChanged()
        settle()
    }

    /// hcctl drain or undrain (TargetedHandover decides what each router does).
    func onDrained(_ value: Bool) {
        if value != handovers.drained {
            logger.notice(value ? "drained: handing this board's VIPs over, priority \(TargetedHandover.drainedPriority) until undrained"
                                : "undrained: VIP priorities as the document says again")
        }
        let facts = routers.mapValues { TargetedHandover.Router(state: $0.instance.state, basePriority: 0) }
        let time = now
        let actions = handovers.onDrained(value, routers: facts, best: value ? bestOtherPriorities() : [:],
                                          preemptDelays: routers.mapValues(\.vip.preemptDelay), now: time)
        for action in actions { carryOut(action, now: time) }
        settle()
    }

    /// VIP → the highest priority any other live, undrained board advertises, for the VIPs that preempt (only a
    /// preempting board takes a VIP from a lower master): as the board itself computes it (AdvertisedPriorities),
    /// the weights of the probes it gossips as failing counted, its group's priority for a grouped VIP. A board
    /// whose probes are not known (an older agent, no metadata yet) counts at the document's priority.
    private func bestOtherPriorities() -> [String: Int] {
        let others = inService.intersection(documentNodes).subtracting([node])
        var states: [String: AdvertisedPriorities.ProbeState] = [:]
        for other in others { states[other] = AdvertisedPriorities.ProbeState(peerProbes[other]) }
        return AdvertisedPriorities.best(among: others, vips: routers.values.map(\.vip), probes: documentProbes, groups: groups, states: states)
    }

    /// A VIP of a group takes its group with it: the others this board holds are handed over to the same node.
    func handOver(_ name: String, to target: String?) -> Result<String, ControlError> {
        defer { settle() }
        let result = requestHandover(name, to: target)
        guard case .success(let message) = result else { return result }
        let companions = groups.companions(of: name).filter { routers[$0]?.instance.state == .master }
        var moved: [String] = []
        for companion in companions {
            if case .success = requestHandover(companion, to: target) { moved.append(companion) }
        }
        guard !moved.isEmpty, let group = groups.group(of: name) else { return result }
        return .success(message + " (with group \(group): \(moved.joined(separator: ", ")))")
    }

    /// A graceful stop: masters step down to the best other live board (or hand over at priority 0), and let go
    /// when a successor has announced the VIP or the budget is up (TargetedHandover.onStop decides).
    func stop() {
        guard !stopping else { return }
        stopping = true
        let time = now
        stopDeadline = time + VRRPService.stopBudget
        let facts = routers.mapValues { TargetedHandover.Router(state: $0.instance.state, basePriority: 0) }
        for action in handovers.onStop(routers: facts, best: bestOtherPriorities(), now: time) { carryOut(action, now: time) }
        settle()
    }

    private func onTimer() {
        let time = now
        if let deadline = stopDeadline, deadline <= time {
            stopDeadline = nil
            for router in routers.values { perform(router.instance.finishStop(now: time), for: router) }
        }
        // A router with nothing due does nothing.
        for router in routers.values { perform(router.instance.onTimer(now: time), for: router) }
        settle()
    }

    private func onPackets(on key: ChannelKey) {
        channels[key]?.receivePending { receive($0, on: key) }
        settle()
    }

    private func onLinkChanges() {
        let pending = links.receivePending()
        for change in pending.links {
            for router in routers.values where router.linkIndex == change.index && router.problem == nil {
                perform(router.instance.onLink(up: change.up, now: now), for: router)
            }
        }
        for removed in pending.removedAddresses {
            for router in routers.values where router.linkIndex == removed.index && router.vip.addresses.contains(where: { $0.address == removed.address }) {
                restore(router)
            }
        }
        if pending.overflowed { reread() }
        // An interface that was missing (a USB adapter, a late rename) may be there now.
        for (name, router) in routers where router.problem != nil {
            let retry = makeRouter(router.vip, quiet: true)
            guard retry.problem == nil else { continue }
            routers[name] = retry
            handovers.onPrioritiesChanged()
            problems.clear("vip:\(name)", message: "VIP \(name): \(router.vip.interface) is there now")
            perform(retry.instance.start(linkUp: (try? LinkFacts.read(interface: router.vip.interface))?.up ?? false, now: now), for: retry)
        }
        settle()
    }

    private let restoredCounter = Counter(label: "hcagent_vrrp_vips_restored_total")

    /// A VIP removed by another tool: the master puts it back and announces it again.
    private func restore(_ router: Router) {
        let actions = router.instance.onAddressesLost(now: now)
        guard !actions.isEmpty else { return }
        restoredCounter.increment()
        logger.warning("VIP \(router.vip.name): \(Self.text(router.vip.addresses)) was removed from \(router.vip.interface) by something else; putting it back")
        perform(actions, for: router)
    }

    /// Link and address notifications were lost (ENOBUFS): ask the kernel what they would have said.
    private func reread() {
        logger.notice("VRRP missed link or address notifications (the kernel's buffer overflowed); reading links and addresses again")
        for router in routers.values where router.problem == nil {
            guard let link = try? LinkFacts.read(interface: router.vip.interface) else { continue }
            perform(router.instance.onLink(up: link.up, now: now), for: router)
            if router.instance.state == .master,
               let present = try? table.addresses(on: router.vip.interface), !router.vip.addresses.allSatisfy(present.contains) {
                restore(router)
            }
        }
    }

    /// After every event: handovers carried forward, the agent state told what changed, the timer armed.
    private func settle() {
        if !handovers.isQuiet { settleHandovers(now: now) }
        // The VIP record state_dir could not keep (a full disk) is written again once it can: a master may
        // add nothing more for hours, and a crash meanwhile would leave its address on the interface for good.
        if owned.behind, now >= nextOwnedRetry {
            nextOwnedRetry = now + .seconds(5)
            problems.keepInStateDir { try owned.saveIfBehind() }
        }
        publish()
        if stopping, routers.values.allSatisfy({ $0.instance.state == .stopped }) {
            thread.schedule(at: nil)
            reports.yield(.stopped)
            return
        }
        armTimer()
    }

    // MARK: routers

    private func reconfigure(_ document: DesiredState) {
        let wanted = document.nodes.contains(where: { $0.name == node }) ? document.vips : []
        // A VIP whose `track` list or `notify` hooks alone changed keeps its router: the tracked probes' weights
        // arrive as adjustments, the hooks are run elsewhere; a new router would hand the VIP to a backup and
        // preempt it back, for nothing.
        // Priorities and preemption change in place too (RFC 5798 lets both change while a router runs): the
        // handover rule sets the new priorities at the next step, and the routers take the new preempt at once.
        func sameRouter(_ a: VirtualIP, _ b: VirtualIP) -> Bool {
            var a = a
            a.track = b.track
            a.notify = b.notify
            a.priority = b.priority
            a.preempt = b.preempt
            a.preemptDelay = b.preemptDelay
            return a == b
        }
        documentNodes = Set(document.nodes.map(\.name))
        documentProbes = document.probes
        for (name, router) in routers where !wanted.contains(where: { sameRouter($0, router.vip) }) {
            // Gone from the document, or changed: let go now (priority 0 tells the others to take over).
            perform(router.instance.finishStop(now: now), for: router)
            routers[name] = nil
            problems.clear("vip:\(name)")
            logger.info("VIP \(name) (\(Self.text(router.vip.addresses))) no longer runs here as it was")
        }
        for vip in wanted {
            guard let router = routers[vip.name] else { continue }
            let (old, new) = (router.vip.priority.of(node), vip.priority.of(node))
            if old != new || router.vip.preempt != vip.preempt || router.vip.preemptDelay != vip.preemptDelay {
                logger.info("VIP \(vip.name): priority \(new)\(old != new ? " (was \(old))" : ""), preempt \(vip.preempt ? "on" : "off"), changed in place")
            }
            perform(router.instance.setPreempt(vip.preempt, delay: vip.preemptDelay, now: now), for: router)
            router.vip = vip
        }
        groups = SyncGroups(document: wanted)
        for vip in wanted where routers[vip.name] == nil {
            let router = makeRouter(vip)
            routers[vip.name] = router
            logger.info("VIP \(vip.name): \(Self.text(vip.addresses)) on \(vip.interface)\(vip.group.map { " (group \($0))" } ?? ""), vrid \(vip.vrid), priority \(vip.priority.of(node))")
            let linkUp = router.problem == nil && ((try? LinkFacts.read(interface: vip.interface))?.up ?? false)
            if let handoff, handoff.mayResume(.init(vip, node: node), bootID: BootClock.bootID, now: BootClock.now) {
                perform(router.instance.resume(linkUp: linkUp, now: now), for: router)
            } else {
                perform(router.instance.start(linkUp: linkUp, now: now), for: router)
            }
        }
        // Only the first document's VIPs resume: by a later one the record is stale anyway.
        handoff = nil
        let used = Set(routers.values.map(\.channel))
        for (key, channel) in channels where !used.contains(key) {
            thread.unwatch(channel.descriptor)
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
            let own = try table.addresses(on: vip.interface).map(\.address).filter { own in own.family == family && !vip.addresses.contains { $0.address == own } }
            // RFC 5798 §5.1.2.1: IPv6 advertisements come from the link-local address.
            if let address = family == .ipv4 ? own.first : own.first(where: { $0.bytes.starts(with: [0xfe, 0x80]) }) {
                primary = address
            } else {
                problem = "\(vip.interface) has no \(family == .ipv4 ? "IPv4" : "link-local IPv6") address of its own"
            }
            if channels[key] == nil, problem == nil {
                let channel = try VRRPChannel(interface: vip.interface, family: family)
                try thread.watch(channel.descriptor) { self.onPackets(on: key) }
                channels[key] = channel
            }
        } catch {
            problem = "\(error)"
        }
        if let problem, !quiet { problems.report("vip:\(vip.name)", "VIP \(vip.name) off: \(problem)") }
        let settings = VRRPInstance.Settings(
            vrid: UInt8(vip.vrid), addresses: vip.addresses.map(\.address), advertInterval: vip.advert, priority: vip.priority.of(node),
            preempt: vip.preempt, preemptDelay: vip.preemptDelay, primaryAddress: primary)
        return Router(vip: vip, instance: VRRPInstance(settings: settings), channel: key, socket: problem == nil ? channels[key] : nil, linkIndex: link.index,
                      announcer: NeighbourAnnouncer(interface: vip.interface, index: link.index, hardwareAddress: link.hardwareAddress),
                      problem: problem)
    }

    private func requestHandover(_ name: String, to target: String?) -> Result<String, ControlError> {
        let time = now
        switch handovers.onRequest(vip: name, to: target, node: node, holder: routers[name]?.instance.state,
                                   known: Array(routers.keys), best: target == nil ? bestOtherPriorities()[name] : nil, now: time) {
        case .failure(let refusal):
            return .failure(ControlError(.failed, refusal.description))
        case .success(let actions):
            for action in actions { carryOut(action, now: time) }
            return .success(TargetedHandover.accepted(name, to: target))
        }
    }

    // MARK: packets

    private let droppedCounters = Dictionary(uniqueKeysWithValues: AdvertisementAdmission.Drop.all.map {
        ($0, Counter(label: "hcagent_vrrp_packets_dropped_total", dimensions: [("reason", $0.description)]))
    })

    /// AdvertisementAdmission decides which router hears it, or why none does (counted by reason).
    private func receive(_ received: VRRPChannel.Received, on key: ChannelKey) {
        let destination = received.destination ?? (key.family == .ipv4 ? VRRPChannel.ipv4Group : VRRPChannel.ipv6Group)
        let verdict = AdvertisementAdmission.judge(
            payload: received.payload, source: received.source, destination: destination, hopLimit: received.hopLimit,
            routers: routers.values.lazy.filter { $0.channel == key }, vrid: { $0.instance.settings.vrid }, peers: unicastPeers)
        switch verdict {
        case .drop(let reason):
            droppedCounters[reason]?.increment()
        case .accept(let advertisement, let router):
            perform(router.instance.onAdvertisement(advertisement, from: received.source, now: now), for: router)
        }
    }

    // MARK: actions

    private func perform(_ actions: [VRRPInstance.Action], for router: Router) {
        guard !actions.isEmpty else { return }
        let name = router.vip.name
        var groupActions: [SyncGroups.Action] = []
        for action in actions {
            do {
                switch action {
                case .addAddresses:
                    var failure: (any Error)?
                    for prefix in router.vip.addresses {
                        let entry = OwnedVIPs.Entry(interface: router.vip.interface, prefix: prefix)
                        // Recorded in memory even when state_dir cannot keep it: the VIP goes on all the same.
                        problems.keepInStateDir { try owned.record(entry) }
                        do {
                            try table.add(prefix, interface: router.vip.interface)
                        } catch {
                            failure = failure ?? error
                        }
                    }
                    if let failure {
                        problems.report("vip:\(name)", "VIP \(name): \(failure)")
                        continue
                    }
                    problems.clear("vip:\(name)", message: "VIP \(name): \(Self.text(router.vip.addresses)) is on \(router.vip.interface) again")
                case .removeAddresses:
                    // Every address is tried: one refused must not leave the others behind.
                    var failure: (any Error)?
                    for prefix in router.vip.addresses {
                        do {
                            try table.remove(prefix, interface: router.vip.interface)
                            problems.keepInStateDir { try owned.forget(OwnedVIPs.Entry(interface: router.vip.interface, prefix: prefix)) }
                        } catch {
                            failure = failure ?? error
                        }
                    }
                    if let failure { throw failure }
                case .sendAdvertisement(let advertisement):
                    if let peers = unicastPeers(router) {
                        for destination in peers { try send(advertisement, to: destination, by: router) }
                    } else {
                        try send(advertisement, to: router.channel.family == .ipv4 ? VRRPChannel.ipv4Group : VRRPChannel.ipv6Group, by: router)
                    }
                case .announce:
                    try router.announcer?.announce(router.vip.addresses.map(\.address))
                case .transition(let from, let to, let reason):
                    transitionsCounter.increment()
                    logger.notice("VIP \(name): \(from.rawValue) -> \(to.rawValue): \(reason)")
                    reports.yield(.transition(VIPTransition(vip: name, from: from.rawValue, to: to.rawValue, reason: reason)))
                    groupActions += groups.onTransition(vip: name, from: from, to: to, states: routers.mapValues(\.instance.state))
                }
            } catch {
                logger.error("VIP \(name): \(error)")
            }
        }
        // After this router's actions, so that its addresses are gone before its group's others are let go.
        for case .handOver(let companion, let because) in groupActions {
            // A companion stepping down to the best board goes there by itself: priority 0 would let any board race.
            guard let other = routers[companion], handovers.steppingDown[companion] == nil else { continue }
            logger.notice("VIP \(companion): handing over: \(because)")
            perform(other.instance.handOver(now: now), for: other)
        }
    }

    /// Addresses as logs show them: one, or a list.
    static func text(_ addresses: [IPPrefix]) -> String {
        addresses.count == 1 ? addresses[0].description : "[" + addresses.map(\.description).joined(separator: ", ") + "]"
    }

    /// Encoded once for as long as the advertisement and its destination stay the same.
    private func send(_ advertisement: VRRPAdvertisement, to destination: IPAddress, by router: Router) throws {
        guard let socket = router.socket else { return }
        let source = router.instance.settings.primaryAddress
        let bytes: [UInt8]
        if let last = router.lastSent, last.destination == destination, last.advertisement == advertisement {
            bytes = last.bytes
        } else {
            bytes = advertisement.encoded(source: source, destination: destination)
            router.lastSent = (advertisement, destination, bytes)
        }
        try socket.send(bytes, to: destination, from: source)
    }

    private func armTimer() {
        var next = stopDeadline
        for router in routers.values {
            if let deadline = router.instance.nextDeadline, next.map({ deadline < $0 }) ?? true { next = deadline }
        }
        thread.schedule(at: next.map { origin + $0 }, fire)
    }

    /// Tells the agent state of the VIPs when what hcctl shows of them changed: a state, a holder, a priority.
    private func publish() {
        // Compared by revision, not by value: this runs after every advertisement, which changes none of it. A
        // new router starts at revision -1; one gone changes the count.
        if publishedDrained == handovers.drained, publishedCount == routers.count,
           routers.values.allSatisfy({ $0.publishedRevision == $0.instance.shownRevision }) { return }
        publishedDrained = handovers.drained
        publishedCount = routers.count
        for router in routers.values { router.publishedRevision = router.instance.shownRevision }
        let next = snapshot()
        reports.yield(.vips(statuses(next), held: held(next)))
    }

    private func held(_ shown: [Shown]) -> Set<String> {
        Set(shown.filter { $0.state == .master }.map(\.name))
    }

    private func snapshot() -> [Shown] {
        routers.values.sorted { $0.vip.name < $1.vip.name }.map { Shown($0, drained: handovers.drained) }
    }

    private func statuses(_ shown: [Shown]) -> [VIPStatus] {
        var wallNow = timespec()
        clock_gettime(CLOCK_REALTIME, &wallNow)
        let elapsed = now
        return shown.map { vip in
            var status = VIPStatus(name: vip.name, address: vip.addresses[0].description, state: vip.state.rawValue,
                                   holder: vip.state == .master ? node : vip.master?.description, priority: vip.priority,
                                   since: vip.transition.map { Int(wallNow.tv_sec) - Int((elapsed - $0.at).components.seconds) },
                                   reason: vip.problem ?? vip.transition?.reason)
            status.priorityReason = vip.priorityReason
            if vip.addresses.count > 1 { status.addresses = vip.addresses.map(\.description) }
            status.group = vip.group
            return status
        }
    }

    /// Before an in-place restart (SIGUSR2, `systemctl reload`): records the VIPs this board holds as master for
    /// the new process, then each master advertises once more so its backups wait a full master down interval
    /// from now. Nothing is let go: no priority 0, the addresses stay. Returns the held VIPs' names.
    func prepareInPlaceRestart() -> Result<[String], ControlError> {
        guard !stopping else { return .failure(ControlError(.failed, "VRRP is stopping")) }
        let held = routers.values.filter { $0.instance.state == .master && $0.problem == nil }.map { InPlaceHandoff.Held($0.vip, node: node) }
        let record = InPlaceHandoff(bootID: BootClock.bootID, writtenAt: BootClock.now, held: held)
        do {
            try TextFile.writeAtomically(handoffPath, record.text)
        } catch {
            return .failure(ControlError(.failed, "cannot write the handoff record: \(error)"))
        }
        let time = now
        for router in routers.values { perform(router.instance.advertiseBeforeRestart(now: time), for: router) }
        armTimer()
        return .success(held.map(\.name).sorted())
    }

    /// The re-execution failed and this process runs on: the record must not outlive it.
    func abandonInPlaceRestart() {
        unlink(handoffPath)
    }

    /// The end, however it came: every VIP let go, the sockets closed, no more reports; the VIPs as left.
    func finishAll() -> ([VIPStatus], held: Set<String>) {
        for router in routers.values { perform(router.instance.finishStop(now: now), for: router) }
        thread.schedule(at: nil)
        for channel in channels.values {
            thread.unwatch(channel.descriptor)
            channel.close()
        }
        channels = [:]
        thread.unwatch(links.descriptor)
        links.close()
        reports.finish()
        let last = snapshot()
        return (statuses(last), held(last))
    }
}
