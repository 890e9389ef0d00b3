// Runs gossip: GossipDriver on a thread of its own, fed by its typed channels (document, convergence, probes,
// held VIPs, handovers asked of others); what it hears (members, peers' documents) goes out on its own channels.
import HomecloudSchema
import Logging
import PartWiring
import Reactor
import ReconcilerCore
import PartLifecycle
#if canImport(Glibc)
import Glibc
#endif

public struct GossipService: Service {
    /// What gossip follows and what it publishes; made and connected by the agent.
    public struct Channels: Sendable {
        public var documents: LatestValue<AcceptedDocument>
        public var convergence: LatestValue<ReconcileCore.Convergence>
        public var probes: LatestValue<ProbeSummary>
        public var heldVIPs: LatestValue<Set<String>>
        /// VIP → the node this board asked to take it (VRRP), carried in this board's metadata.
        public var outgoingHandovers: LatestValue<[String: String]>
        /// hcctl members: every member, this node included, as shown.
        public var members: LatestValue<[MemberStatus]>
        /// Members' typed states and when each was last heard from (placement, handover checks).
        public var memberView: LatestValue<MemberView>
        /// The other alive or suspect members' addresses (VRRP's `unicast: members`).
        public var peerAddresses: LatestValue<[IPAddress]>
        /// The VIPs live boards ask this board to take (VRRP).
        public var incomingHandovers: LatestValue<Set<String>>
        /// A peer's document, for the agent's store to judge: true when it refused it (gossip does not fetch it again).
        public var offerDocument: @Sendable (_ text: String, _ peer: String) async -> Bool
        /// Whether this board is drained (hcctl drain), carried in its metadata.
        public var drained = LatestValue<Bool>(false)
        /// The other alive members whose metadata does not say drained (VRRP: where a drain steps down to).
        public var inService = LatestValue<Set<String>>([])
        /// The other alive members' probe summaries, for those that gossip one (VRRP: a step-down counts their weights).
        public var peerProbes = LatestValue<[String: ProbeSummary]>([:])
        /// The generation this board's serial restarts are finished for (the reconciler's), carried as "sr".
        public var serialDone = LatestValue<UInt64?>(nil)
        /// The reconciler's claims on this board's `placement: one` units, carried as "oc".
        public var singletonClaims = LatestValue<SingletonClaims?>(nil)
        /// What other boards ask of this one (hcctl drain NODE there), counting only requests they signed.
        public var drainAsked = LatestValue<DrainAsk?>(nil)
        /// The shared secrets this board holds (→ reconciler: templates, `wait_for: secret`) and what status shows
        /// of them (never a value).
        public var secretValues = LatestValue<SharedSecretValues>(SharedSecretValues())
        public var secretStatus = LatestValue<[SecretStatus]>([])
        /// The per-board facts known of the document's boards (→ reconciler: templates' `N.facts.NAME`).
        public var factValues = LatestValue<NodeFactValues>(NodeFactValues())
        /// What hcctl status shows of the facts: each board's value and since when this board knows it.
        public var factStatus = LatestValue<[FactStatus]>([])
        /// hcctl restart: what this board asks and reports (its metadata), the restarts members ask of it (only
        /// those they signed), and each member's last restart report.
        public var restarts = LatestValue<RestartMetadata>(RestartMetadata())
        public var restartsAsked = LatestValue<[RestartAsk]>([])
        public var restartReports = LatestValue<[String: RestartReport]>([:])

        public init(documents: LatestValue<AcceptedDocument>, convergence: LatestValue<ReconcileCore.Convergence>,
                    probes: LatestValue<ProbeSummary>, heldVIPs: LatestValue<Set<String>>, outgoingHandovers: LatestValue<[String: String]>,
                    members: LatestValue<[MemberStatus]>, memberView: LatestValue<MemberView>, peerAddresses: LatestValue<[IPAddress]>,
                    incomingHandovers: LatestValue<Set<String>>, offerDocument: @escaping @Sendable (String, String) async -> Bool) {
            self.documents = documents
            self.convergence = convergence
            self.probes = probes
            self.heldVIPs = heldVIPs
            self.outgoingHandovers = outgoingHandovers
            self.members = members
            self.memberView = memberView
            self.peerAddresses = peerAddresses
            self.incomingHandovers = incomingHandovers
            self.offerDocument = offerDocument
        }
    }

    /// Gossip's thread; the desired.yaml watcher shares it.
    public let thread: EventThread
    let driver: GossipDriver
    let reports: AsyncStream<GossipDriver.Report>
    let node: String
    let channels: Channels
    let logger: Logger
    /// `hcctl keys` reaches the keyring through this.
    public var handle: GossipHandle { GossipHandle(thread: thread, driver: driver) }

    /// Binds gossip's sockets on a new thread; throws when they cannot be bound (the agent does not start).
    public static func bind(settings: GossipDriver.Settings, keyring: GossipKeyring?, channels: Channels, logger: Logger) async throws -> GossipService {
        let thread = try EventThread(name: "hcagent-gossip")
        let (reports, sink) = AsyncStream.makeStream(of: GossipDriver.Report.self)
        let made = await thread.submit { () -> Result<GossipDriver, GossipTransportError> in
            do {
                return .success(try GossipDriver(thread: thread, settings: settings, keyring: keyring, reports: sink, logger: logger))
            } catch {
                return .failure(error as? GossipTransportError ?? GossipTransportError(description: "\(error)"))
            }
        }
        guard case .success(let driver)? = made else {
            thread.stop()
            if case .failure(let error)? = made { throw error }
            throw GossipTransportError(description: "the gossip thread stopped")
        }
        return GossipService(thread: thread, driver: driver, reports: reports, node: settings.node, channels: channels, logger: logger)
    }

    public func run() async throws {
        let channels = self.channels, thread = self.thread, driver = self.driver
        defer { thread.stop() }
        let documents = channels.documents.follow()
        let convergences = channels.convergence.follow()
        let probeSummaries = channels.probes.follow()
        let held = channels.heldVIPs.follow()
        let handovers = channels.outgoingHandovers.follow()
        let drainedFlags = channels.drained.follow()
        let serialDoneValues = channels.serialDone.follow()
        let claimValues = channels.singletonClaims.follow()
        let restarts = channels.restarts.follow()
        thread.execute { driver.start() }
        await withDiscardingTaskGroup { group in
            // Each of these changes now and then, never per packet.
            group.addTask {
                for await accepted in documents { thread.execute { driver.onDocument(accepted.document, text: accepted.text) } }
            }
            group.addTask { for await convergence in convergences { thread.execute { driver.onConvergence(convergence.rawValue) } } }
            group.addTask { for await summary in probeSummaries { thread.execute { driver.onProbes(summary) } } }
            group.addTask { for await names in held { thread.execute { driver.onHeldVIPs(names) } } }
            group.addTask { for await requests in handovers { thread.execute { driver.onHandovers(requests) } } }
            group.addTask { for await drained in drainedFlags { thread.execute { driver.onDrained(drained) } } }
            group.addTask { for await done in serialDoneValues { thread.execute { driver.onSerialDone(done) } } }
            group.addTask { for await claims in claimValues { thread.execute { driver.onSingletonClaims(claims) } } }
            group.addTask { for await value in restarts { thread.execute { driver.onRestarts(value) } } }
            // Placement's view: who is alive and heard from (.heard) with what the metadata of .members says: who is
            // drained, how far each board's serial restarts are, and its probes (wait_for starts a unit as soon as a
            // probe there passes).
            typealias Heard = (members: [GossipMember], lastHeard: [String: Duration], confirmed: [String: Duration], origin: ContinuousClock.Instant)
            var heard: Heard?
            var drained: Set<String> = []
            var serialDone: [String: UInt64] = [:]
            var probes: [String: ProbeSummary] = [:]
            var claims: [String: SingletonClaims] = [:]
            func view(_ heard: Heard) -> MemberView {
                var view = MemberView(heard.members, lastHeard: heard.lastHeard, origin: heard.origin, drained: drained, probes: probes)
                view.serialDone = serialDone
                view.confirmed = heard.confirmed.mapValues { MonotonicTime.time(heard.origin + $0) }
                view.singletonClaims = claims
                return view
            }
            await withGracefulShutdownHandler {
                reading: for await report in reports {
                    switch report {
                    case .members(let views):
                        publish(views)
                        let now = DrainedMembers.names(in: views.lazy.map { ($0.member, $0.metadata) })
                        let doneNow = Dictionary(views.compactMap { view in view.metadata?.serialDone.map { (view.member.name, $0) } },
                                                 uniquingKeysWith: { first, _ in first })
                        var summaries: [String: ProbeSummary] = [:]
                        for view in views { if let summary = view.metadata?.probes { summaries[view.member.name] = summary } }
                        // Claims only from metadata the member says now (SingletonFastStart: stale ones could hide a run).
                        let claimsNow = Dictionary(views.compactMap { view in
                            view.metadataIsCurrent ? view.metadata?.singletonClaims.map { (view.member.name, $0) } : nil
                        },
                                                   uniquingKeysWith: { first, _ in first })
                        let changed = now != drained || doneNow != serialDone || summaries != probes || claimsNow != claims
                        drained = now
                        serialDone = doneNow
                        probes = summaries
                        claims = claimsNow
                        if changed, let heard { channels.memberView.publishIfChanged(view(heard)) }
                    case .document(let text, let peer):
                        // A document refused here (signature, policy) stays refused: gossip does not fetch it again.
                        if await channels.offerDocument(text, peer) {
                            let hash = DocumentHash.of(text)
                            thread.execute { driver.onRefused(hash: hash) }
                        }
                    case .heard(let members, let lastHeard, let confirmed, let origin):
                        heard = (members, lastHeard, confirmed, origin)
                        channels.memberView.publishIfChanged(view((members, lastHeard, confirmed, origin)))
                    case .secrets(let values, let statuses):
                        channels.secretValues.publishIfChanged(values)
                        channels.secretStatus.publish(statuses)
                    case .facts(let values, let statuses):
                        channels.factValues.publishIfChanged(values)
                        channels.factStatus.publish(statuses)
                    case .stopped: break reading
                    }
                }
            } onGracefulShutdown: {
                thread.execute { driver.leave() }
            }
            // However the loop ended (a stop past its budget, a cancelled group), the sockets close.
            _ = await thread.submit { driver.finish() }
            group.cancelAll()
        }
    }

    /// hcctl members, the live peers' addresses, and the handovers live boards ask of this one.
    private func publish(_ views: [GossipMemberView]) {
        let node = self.node
        let members = views.map { view -> MemberStatus in
            let meta = view.metadata
            var status = MemberStatus(name: view.member.name, address: "\(view.member.address)", state: "\(view.member.state)",
                                      incarnation: view.member.incarnation, since: view.since,
                                      roles: meta?.roles, version: meta?.version, generation: meta.map { $0.generation },
                                      convergence: meta?.convergence, probes: meta?.probes?.count, failingProbes: meta?.probes?.failing,
                                      vips: meta?.vips)
            status.identity = view.identity
            if meta?.drained == true { status.drained = true }
            return status
        }
        channels.members.publish(members)
        let live = views.map(\.member).filter { ($0.state == .alive || $0.state == .suspect) && $0.name != node }
        channels.peerAddresses.publishIfChanged(live.compactMap { IPAddress(bytes: $0.address.host) })
        channels.inService.publishIfChanged(Set(views.lazy.filter { $0.member.state == .alive && $0.member.name != node && $0.metadata?.drained != true }
            .map(\.member.name)))
        var probes: [String: ProbeSummary] = [:]
        for view in views where view.member.state == .alive && view.member.name != node {
            if let summary = view.metadata?.probes { probes[view.member.name] = summary }
        }
        channels.peerProbes.publishIfChanged(probes)
        // Only requests a member signed itself count (node identity).
        let asked = HandoverRequests.asked(of: node, by: views.lazy.map { ($0.member, $0.metadata, $0.mayActOn) })
        channels.incomingHandovers.publishIfChanged(asked)
        channels.drainAsked.publishIfChanged(DrainRequests.asked(of: node, by: views.lazy.map { ($0.member, $0.metadata, $0.mayActOn) }))
        channels.restartsAsked.publishIfChanged(RestartRequests.asked(of: node, by: views.lazy.map { ($0.member, $0.metadata, $0.mayActOn) }))
        channels.restartReports.publishIfChanged(RestartRequests.reports(in: views.lazy.map { ($0.member, $0.metadata) }))
    }

    /// The address peers use for this node: `advertise`, else `bind` when it is not a wildcard, else the first
    /// IPv4 address of `interface` (or of any interface that is up and not loopback).
    public static func advertisedAddress(for config: AgentConfig) -> GossipAddress? {
        if let chosen = config.advertisedAddress {
            return IPAddress(chosen.host).flatMap { GossipAddress(host: $0.bytes, port: UInt16(chosen.port)) }
        }
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return nil }
        defer { freeifaddrs(list) }
        var candidates: [(name: String, bytes: [UInt8])] = []
        var entry = list
        while let current = entry {
            defer { entry = current.pointee.ifa_next }
            guard let address = current.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                  current.pointee.ifa_flags & UInt32(IFF_LOOPBACK) == 0, current.pointee.ifa_flags & UInt32(IFF_UP) != 0 else { continue }
            let bytes = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                withUnsafeBytes(of: pointer.pointee.sin_addr) { Array($0) }
            }
            candidates.append((String(cString: current.pointee.ifa_name), bytes))
        }
        let pick = candidates.first { $0.name == config.interface } ?? candidates.first
        return pick.flatMap { GossipAddress(host: $0.bytes, port: UInt16(config.bind.port)) }
    }
}

/// What the control commands may ask of gossip: the keyring (hcctl keys). Made with the service.
public struct GossipHandle: Sendable {
    private let thread: EventThread?
    private let driver: GossipDriver?

    init(thread: EventThread, driver: GossipDriver) {
        self.thread = thread
        self.driver = driver
    }

    /// A handle of a gossip that does not run (tests of the control commands).
    public static let notRunning = GossipHandle()
    private init() {
        thread = nil
        driver = nil
    }

    /// The fingerprints, the primary first.
    public func listKeys() async -> Result<String, ControlError> { await change(.keysList, nil) }
    /// Opens packets sealed with `key` from now on; seals with it once used.
    public func installKey(_ key: [UInt8]) async -> Result<String, ControlError> { await change(.keysInstall, key) }
    /// Seals with `key` (installed) from now on.
    public func useKey(_ key: [UInt8]) async -> Result<String, ControlError> { await change(.keysUse, key) }
    /// hcctl drain NODE or undrain NODE: asked of NODE in this board's signed metadata.
    public func requestDrain(of node: String, drained: Bool) async -> Bool {
        guard let thread, let driver else { return false }
        return await thread.submit { driver.requestDrain(of: node, drained: drained) } != nil
    }

    /// Forgets `key` (not the primary).
    public func removeKey(_ key: [UInt8]) async -> Result<String, ControlError> { await change(.keysRemove, key) }

    private func change(_ command: ControlRequest.Command, _ key: [UInt8]?) async -> Result<String, ControlError> {
        guard let thread, let driver else { return .failure(ControlError(.failed, "gossip is not running on this node")) }
        return await thread.submit { driver.changeKeys(command, key) } ?? .failure(ControlError(.failed, "gossip is stopping"))
    }
}
