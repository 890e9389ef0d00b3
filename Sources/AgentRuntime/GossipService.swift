// Runs gossip: the SWIM core over the UDP/TCP transport with every packet sealed; spreads this node's
// metadata and the desired-state document, keeps its peers for a restart, and publishes members for hcctl.
import Gossip
import HomecloudSchema
import Logging
import Metrics
import NIOCore
import ServiceLifecycle
import Trust
#if canImport(Glibc)
import Glibc
#endif

public struct GossipService: Service {
    let state: AgentState
    let transport: GossipTransport
    /// nil only with --insecure-gossip (tests).
    let keyring: GossipKeyring?
    let advertised: GossipAddress
    let logger: Logger

    /// How late a timer may fire: small against the 100 ms probe timeout.
    static let timerTolerance = Duration.milliseconds(2)
    /// After `leave`, keep ticking this long so the news of it spreads before the sockets close.
    static let leaveLinger = Duration.milliseconds(500)

    public init(state: AgentState, transport: GossipTransport, keyring: GossipKeyring?, advertised: GossipAddress, logger: Logger) {
        self.state = state
        self.transport = transport
        self.keyring = keyring
        self.advertised = advertised
        self.logger = logger
    }

    enum Input: Sendable {
        case datagram(GossipPacket)
        case tick
        /// A peer opened a push-pull stream: its frame, and where our answer goes.
        case exchange([UInt8], CheckedContinuation<[UInt8]?, Never>)
        /// Our push-pull came back with the peer's frame.
        case answered([UInt8], from: String)
        case document(DesiredState)
        case convergence(String)
        case probes(ProbeSummary)
        case heldVIPs(Set<String>)
        case handovers([String: String])
        case keys(ControlRequest.Command, [UInt8]?, CheckedContinuation<Result<String, ControlError>, Never>)
        case stop
    }

    public func run() async throws {
        let (inputs, sink) = AsyncStream.makeStream(of: Input.self)
        let driver = await GossipDriver(state: state, transport: transport, keyring: keyring, advertised: advertised, sink: sink, logger: logger)
        let documents = await state.documents()
        let convergences = await state.convergenceChanges()
        let probeSummaries = await state.probeSummaryChanges()
        let held = await state.heldVIPs()
        let handovers = await state.outgoingHandoverChanges()
        let transport = self.transport
        await state.setKeysHandler { command, key in
            await withCheckedContinuation { answer in
                if case .terminated = sink.yield(.keys(command, key, answer)) {
                    answer.resume(returning: .failure(ControlError(.failed, "gossip is stopping")))
                }
            }
        }
        await withDiscardingTaskGroup { group in
            group.addTask { for await packet in transport.packets() { sink.yield(.datagram(packet)) } }
            group.addTask {
                try? await transport.serveStreams { frame, _ in
                    await withCheckedContinuation { answer in
                        if case .terminated = sink.yield(.exchange(frame, answer)) { answer.resume(returning: nil) }
                    }
                }
            }
            group.addTask { for await document in documents { sink.yield(.document(document)) } }
            group.addTask { for await convergence in convergences { sink.yield(.convergence(convergence)) } }
            group.addTask { for await summary in probeSummaries { sink.yield(.probes(summary)) } }
            group.addTask { for await names in held { sink.yield(.heldVIPs(names)) } }
            group.addTask { for await requests in handovers { sink.yield(.handovers(requests)) } }
            await withGracefulShutdownHandler {
                // One timer, armed for the next deadline: an idle board wakes a few times a second, not 100.
                var armed: ContinuousClock.Instant?
                var timer: Task<Void, Never>?
                sink.yield(.tick)
                for await input in inputs {
                    if case .tick = input { armed = nil }
                    if await driver.step(input) == .finished { break }
                    let wake = driver.nextWake
                    if let armed, armed <= wake { continue }
                    timer?.cancel()
                    armed = wake
                    timer = Task {
                        try? await Task.sleep(until: wake, tolerance: Self.timerTolerance, clock: .continuous)
                        if !Task.isCancelled { sink.yield(.tick) }
                    }
                }
                timer?.cancel()
            } onGracefulShutdown: {
                sink.yield(.stop)
            }
            await state.setKeysHandler(nil)
            sink.finish()
            group.cancelAll()
            await transport.close()
        }
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

/// The loop's state: the core, its clock, and the shell's bookkeeping. Used by the service's own task only.
final class GossipDriver {
    enum Outcome { case running, finished }

    private var core: SWIMCore
    private let state: AgentState
    private let transport: GossipTransport
    private var keyring: GossipKeyring?
    /// Where rotations are kept (key_file may be read-only, as /etc is under the unit's sandbox); at start
    /// its keys join key_file's and its first key stays the primary.
    private let keyringPath: String
    private let sink: AsyncStream<GossipService.Input>.Continuation
    private let logger: Logger
    private let origin = ContinuousClock.now
    private let memberView = MemberViewPublisher()
    private let peersPath: String
    private let incarnationPath: String
    private var savedIncarnation: UInt64
    private var leavingUntil: Duration?
    private var membersChanged = true
    private var lastFetch: [String: Duration] = [:]
    private var lastStates: [String: GossipMember.State] = [:]
    /// Configured and cached peers: while one of them is not an active member, it is tried again, every 2 s
    /// at first and then less often (up to 30 s): a peer that started after this node, a partition longer
    /// than the core remembers the other side, a house where every board rebooted at once.
    private var seeds: [GossipAddress] = []
    private var nextRejoin: Duration = .zero
    private var rejoinInterval = Duration.seconds(2)
    private var documentGeneration: UInt64 = 0
    private var documentHash: UInt64 = 0
    private var roles: [String] = []
    private var convergence: String?
    private var probeSummary: ProbeSummary?
    private var heldVIPs: [String] = []
    private var handovers: [String: String] = [:]
    private var decodeDropsSeen = 0
    // NODE IDENTITY: seals this board's metadata, decides whose metadata is believed (Trust's MetadataSeal).
    private var identity: GossipIdentity
    private let droppedUnsealed = Counter(label: "hcagent_gossip_packets_dropped_total", dimensions: [("reason", "unsealed")])
    private let droppedUndecodable = Counter(label: "hcagent_gossip_packets_dropped_total", dimensions: [("reason", "undecodable")])
    private let aliveGauge = Gauge(label: "hcagent_gossip_members_alive")

    init(state: AgentState, transport: GossipTransport, keyring: GossipKeyring?, advertised: GossipAddress,
         sink: AsyncStream<GossipService.Input>.Continuation, logger: Logger) async {
        let config = state.config
        self.state = state
        self.transport = transport
        self.sink = sink
        self.logger = logger
        TextFile.makeDirectories(config.stateDir)
        identity = GossipIdentity(node: config.node, stateDir: config.stateDir, enforcing: !config.trustedAdminKeys.isEmpty, logger: logger)  // NODE IDENTITY
        keyringPath = config.stateDir + "/keyring"
        var ring = keyring
        if var merged = keyring, let kept = StateDirFiles.keptKeyring(at: keyringPath, logger: logger) {
            for key in kept.keys { try? merged.install(key) }
            try? merged.use(kept.keys[0])
            ring = merged
        }
        self.keyring = ring
        peersPath = config.stateDir + "/peers"
        // A restarted node outbids whatever the cluster remembers of its last run.
        let incarnationPath = config.stateDir + "/incarnation"
        self.incarnationPath = incarnationPath
        let incarnation = StateDirFiles.lastIncarnation(at: incarnationPath, logger: logger) + 1
        state.problems.keepInStateDir { try TextFile.writeAtomically(incarnationPath, "\(incarnation)\n") }
        savedIncarnation = incarnation
        var seed = SystemRandomNumberGenerator()
        core = SWIMCore(name: config.node, address: advertised, incarnation: incarnation, random: SplitMix64(seed: seed.next()))
        // Seeds: the configured peers and the ones the last run knew, so a board rejoins even when every
        // configured address is down after a power cut.
        var seeds: [GossipAddress] = config.join.compactMap { peer in
            IPAddress(peer.host).flatMap { GossipAddress(host: $0.bytes, port: UInt16(peer.port)) }
        }
        for peer in StateDirFiles.peers(at: peersPath, logger: logger) where !seeds.contains(peer) { seeds.append(peer) }
        seeds.removeAll { $0 == advertised }
        self.seeds = seeds
        logger.info("gossip on \(advertised) (incarnation \(incarnation)), joining \(seeds.isEmpty ? "no one yet" : seeds.map(\.description).joined(separator: ", "))")
        if let document = await state.document { noteDocument(document, text: await state.documentText) }
        await perform(core.join(seeds: seeds, now: now))
        nextRejoin = now + rejoinInterval
    }

    /// Metadata changes trigger a fetch at once; this catches a fetch that failed or was held back.
    private var nextDocumentCheck: Duration = .zero

    private func checkForNewerDocuments() async {
        guard now >= nextDocumentCheck else { return }
        nextDocumentCheck = now + .seconds(1)
        for member in core.members { await fetchNewerDocument(from: member) }
    }

    private func rejoinMissingSeeds() async {
        guard now >= nextRejoin, leavingUntil == nil else { return }
        let present = Set(core.members.filter { $0.isActive }.map(\.address))
        let missing = seeds.filter { !present.contains($0) }
        if missing.isEmpty {
            rejoinInterval = .seconds(2)
        } else {
            await perform(core.join(seeds: missing, now: now))
            rejoinInterval = min(rejoinInterval * 2, .seconds(30))
        }
        nextRejoin = now + rejoinInterval
    }

    private var now: Duration { origin.duration(to: .now) }

    /// When the loop must tick next: the core's next deadline, or the shell's own (rejoin, document check,
    /// the end of a leave). At once before the core's first tick.
    var nextWake: ContinuousClock.Instant {
        guard let coreDeadline = core.nextDeadline else { return .now }
        var next = min(coreDeadline, nextDocumentCheck)
        if let leavingUntil { next = min(next, leavingUntil) } else { next = min(next, nextRejoin) }
        return origin + next
    }

    func step(_ input: GossipService.Input) async -> Outcome {
        switch input {
        case .datagram(let packet):
            guard let from = Self.gossipAddress(packet.from) else { break }
            guard let plain = open(packet.bytes) else {
                droppedUnsealed.increment()
                break
            }
            await perform(core.onDatagram(plain, from: from, now: now))
        case .tick:
            await perform(core.onTick(now: now))
            await rejoinMissingSeeds()
            await checkForNewerDocuments()
            if let until = leavingUntil, now >= until { return .finished }
        case .exchange(let frame, let answer):
            answer.resume(returning: seal(await ourFrame()))
            await absorb(frame, from: "a peer")
        case .answered(let frame, let from):
            await absorb(frame, from: from)
        case .document(let document):
            noteDocument(document, text: await state.documentText)
            if let actions = try? core.setMetadata(metadata(), now: now) { await perform(actions) }
        case .convergence(let convergence):
            self.convergence = convergence
            if let actions = try? core.setMetadata(metadata(), now: now) { await perform(actions) }
        case .probes(let summary):
            probeSummary = summary
            if let actions = try? core.setMetadata(metadata(), now: now) { await perform(actions) }
        case .heldVIPs(let names):
            heldVIPs = names.sorted()
            if let actions = try? core.setMetadata(metadata(), now: now) { await perform(actions) }
        case .handovers(let requests):
            handovers = requests
            if let actions = try? core.setMetadata(metadata(), now: now) { await perform(actions) }
        case .keys(let command, let key, let answer):
            answer.resume(returning: changeKeys(command, key))
        case .stop:
            await perform(core.leave(now: now))
            leavingUntil = now + GossipService.leaveLinger
        }
        if core.droppedPackets > decodeDropsSeen {
            droppedUndecodable.increment(by: core.droppedPackets - decodeDropsSeen)
            decodeDropsSeen = core.droppedPackets
        }
        await memberView.publish(core, origin: origin, now: now, membersChanged: membersChanged, to: state)
        if membersChanged {
            membersChanged = false
            await publishMembers()
        }
        // Every incarnation this node has used (refutations, metadata changes, its leave) is kept: the next run
        // starts above it, or the cluster would go on believing the old news.
        if core.incarnation != savedIncarnation {
            savedIncarnation = core.incarnation
            state.problems.keepInStateDir { try TextFile.writeAtomically(incarnationPath, "\(savedIncarnation)\n") }
        }
        return .running
    }

    private func changeKeys(_ command: ControlRequest.Command, _ key: [UInt8]?) -> Result<String, ControlError> {
        guard var ring = keyring else { return .failure(ControlError(.failed, "gossip runs without encryption here (--insecure-gossip)")) }
        do {
            switch command {
            case .keysInstall: try ring.install(key ?? [])
            case .keysUse: try ring.use(key ?? [])
            case .keysRemove: try ring.remove(key ?? [])
            default: break
            }
        } catch {
            return .failure(ControlError(.failed, "\(error)"))
        }
        if command != .keysList {
            do {
                try TextFile.writeAtomically(keyringPath, ring.fileText)
            } catch {
                return .failure(ControlError(.failed, "cannot keep the keyring in \(keyringPath): \(error)"))
            }
            keyring = ring
            logger.notice("gossip keyring changed (\(command.rawValue)): primary \(GossipKeyring.fingerprint(ring.keys[0])), \(ring.keys.count) keys")
        }
        return .success(ring.keys.enumerated().map { index, key in
            "\(index == 0 ? "primary" : "       ") \(GossipKeyring.fingerprint(key))"
        }.joined(separator: "\n"))
    }

    // MARK: sealing and frames

    private func seal(_ bytes: [UInt8]) -> [UInt8] { keyring?.seal(bytes) ?? bytes }
    private func open(_ bytes: [UInt8]) -> [UInt8]? { keyring.map { $0.open(bytes) } ?? bytes }

    /// A push-pull frame (PushPullFrame): our member state and the document in force.
    private func ourFrame() async -> [UInt8] {
        PushPullFrame(state: core.pushPullState(), documentText: await state.documentText ?? "").encoded
    }

    private func absorb(_ sealed: [UInt8], from peer: String) async {
        guard let opened = open(sealed) else {
            droppedUnsealed.increment()
            return
        }
        guard let frame = try? PushPullFrame.decode(opened) else {
            droppedUndecodable.increment()
            return
        }
        await perform(core.onPushPull(frame.state, now: now))
        if !frame.documentText.isEmpty { await state.offerFromPeer(text: frame.documentText, from: peer) }
    }

    private func pushPull(with address: GossipAddress, name: String) async {
        guard let socket = Self.socketAddress(address) else { return }
        let frame = seal(await ourFrame())
        let transport = self.transport, sink = self.sink
        Task {
            if let answer = try? await transport.exchange(frame, with: socket) { sink.yield(.answered(answer, from: name)) }
        }
    }

    // MARK: actions

    private func perform(_ actions: [GossipAction]) async {
        for action in actions {
            switch action {
            case .send(let bytes, let to):
                if let address = Self.socketAddress(to) { transport.send(seal(bytes), to: address) }
            case .pushPull(let to):
                await pushPull(with: to, name: "\(to)")
            case .memberChanged(let member):
                membersChanged = true
                if member.name != core.name, lastStates[member.name] != member.state {
                    lastStates[member.name] = member.state
                    logger.notice("member \(member.name) (\(member.address)) is \(member.state)")
                }
                await fetchNewerDocument(from: member)
            }
        }
    }

    /// A member whose metadata says it runs a newer document (or the winning one of a conflict): fetch it
    /// now by push-pull, at most every 2 s per member.
    private func fetchNewerDocument(from member: GossipMember) async {
        guard member.state == .alive, member.name != core.name,
              let theirs = identity.read(member, now: now).metadata else { return }  // NODE IDENTITY
        let newer = theirs.generation > documentGeneration
            || (theirs.generation == documentGeneration && theirs.hash != documentHash && theirs.hash > documentHash)
        guard newer, now - (lastFetch[member.name] ?? .seconds(-10)) >= .seconds(2) else { return }
        // A document refused here (signature, policy) stays refused: do not fetch it again.
        if await state.documentWasRefused(generation: theirs.generation, hash: theirs.hash) { return }
        lastFetch[member.name] = now
        await pushPull(with: member.address, name: member.name)
    }

    private func noteDocument(_ document: DesiredState, text: String?) {
        documentGeneration = document.generation
        documentHash = text.map(DocumentHash.of) ?? 0
        roles = document.nodes.first { $0.name == core.name }?.roles ?? []
        identity.bind(document)  // NODE IDENTITY
    }

    private func metadata() -> [UInt8] {
        var metadata = NodeMetadata(version: AgentState.version, generation: documentGeneration, hash: documentHash, roles: roles,
                                    convergence: convergence)
        metadata.handovers = handovers
        metadata.probes = probeSummary
        metadata.vips = heldVIPs
        // NODE IDENTITY: sealed at the incarnation setMetadata moves to, which only grows (kept in state_dir).
        return identity.seal(metadata, sequence: core.incarnation + 1)
    }

    private func publishMembers() async {
        var wallNow = timespec()
        clock_gettime(CLOCK_REALTIME, &wallNow)
        let elapsed = now
        var believable: Set<String> = []
        let members = core.members.map { member -> MemberStatus in
            let (meta, reading) = identity.read(member, now: elapsed)  // NODE IDENTITY
            if reading.mayActOn { believable.insert(member.name) }
            var status = MemberStatus(name: member.name, address: "\(member.address)", state: "\(member.state)",
                                incarnation: member.incarnation,
                                since: Int(wallNow.tv_sec) - Int((elapsed - member.since).components.seconds),
                                roles: meta?.roles, version: meta?.version, generation: meta.map { $0.generation },
                                convergence: meta?.convergence, probes: meta?.probes?.count, failingProbes: meta?.probes?.failing,
                                vips: meta?.vips)
            status.identity = reading.standing.label  // NODE IDENTITY
            return status
        }
        aliveGauge.record(core.activeMemberCount)
        await state.publishMembers(members)
        // What live boards ask of this one.
        // NODE IDENTITY: only requests a member signed itself (believable) count.
        let asked = core.members.filter { $0.state == .alive && $0.name != core.name && believable.contains($0.name) }.flatMap { member in
            (identity.read(member, now: elapsed).metadata?.handovers ?? [:]).filter { $0.value == core.name }.map(\.key)
        }
        await state.setIncomingHandovers(Set(asked))
        let peers = core.members.filter { $0.name != core.name && $0.isActive }.map { "\($0.name) \($0.address)\n" }.joined()
        state.problems.keepInStateDir { try TextFile.writeAtomically(peersPath, peers) }
    }

    // MARK: addresses

    static func socketAddress(_ address: GossipAddress) -> SocketAddress? {
        guard let ip = IPAddress(bytes: address.host) else { return nil }
        return try? SocketAddress(ipAddress: ip.description, port: Int(address.port))
    }

    static func gossipAddress(_ address: SocketAddress) -> GossipAddress? {
        guard let text = address.ipAddress, let ip = IPAddress(text), let port = address.port else { return nil }
        return GossipAddress(host: ip.bytes, port: UInt16(port))
    }
}
