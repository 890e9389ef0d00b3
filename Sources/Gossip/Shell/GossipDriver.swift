// Runs gossip on one EventThread: the SWIM core over GossipSockets with every packet sealed, one timer for the
// next deadline; spreads this node's metadata and document, keeps its peers and incarnation for a restart.
import HomecloudSchema
import HomecloudYAML
import Logging
import Metrics
import Reactor
#if canImport(Glibc)
import Glibc
#endif

/// A member as the agent shows it: the core's view, its metadata decoded, and since when (wall clock, seconds).
public struct GossipMemberView: Sendable, Equatable {
    public var member: GossipMember
    /// As this board believes it: under node identity, the last metadata the member's own key sealed.
    public var metadata: NodeMetadata?
    public var since: Int
    /// verified, unbound, refused (...), or unchecked where no admin keys are trusted (hcctl members).
    public var identity: String?
    /// Whether its requests (handovers) count: it signed them itself, or nothing is checked here.
    public var mayActOn: Bool
    /// Whether `metadata` is what the member says now (its current bytes, verified or unchecked), not a last
    /// verified one kept in place of bytes refused or not there yet: the `one` units' claims count only then.
    public var metadataIsCurrent = false
}

/// Everything runs on `thread`: the events below are called there (the owner hands them over with
/// `thread.execute` or `thread.submit`), and the socket and timer handlers run there; nothing is locked.
public final class GossipDriver: @unchecked Sendable {
    public enum Report: Sendable {
        /// The member list changed (this node included).
        case members([GossipMemberView])
        /// Who is alive and when each was last heard from directly (`origin` + the duration), for the lease of
        /// `placement: one`: at every membership change and otherwise at most once a second.
        /// `confirmed`: when each member's metadata here was last proven its latest (SWIMCore.confirmed).
        case heard(members: [GossipMember], lastHeard: [String: Duration], confirmed: [String: Duration], origin: ContinuousClock.Instant)
        /// A peer sent a document that may be newer than the one in force: for the agent's store to judge.
        case document(text: String, from: String)
        /// The shared secrets this board holds (values, for templates) and what status shows of each (no value).
        case secrets(SharedSecretValues, [SecretStatus])
        /// The per-board facts known of the document's boards (NodeFactKeeper), for templates, and what status
        /// shows of them.
        case facts(NodeFactValues, [FactStatus])
        /// The leave has lingered and the sockets are closed: gossip is done.
        case stopped
    }

    public struct Settings: Sendable {
        public var node: String
        /// Where to bind (a wildcard host is fine) and what peers are told.
        public var bind: GossipAddress
        public var advertised: GossipAddress
        public var join: [GossipAddress]
        public var stateDir: String
        public var version: String
        /// Carries out a write to state_dir; a failure (a full or read-only disk) is the agent's to report, and
        /// gossip runs on what it holds in memory.
        public var keep: @Sendable (() throws -> Void) -> Void
        /// agent.yaml trusts admin keys: metadata is sealed with the node key and members' is checked (node identity).
        public var checkIdentity: Bool
        /// agent.yaml's policy (nil: none) and its file: which shared secrets this board may read and publish.
        public var policy: LocalPolicy?
        public var policyFile = "agent.yaml"
        /// A fact this board cannot publish now (name, reason), or can again (name, nil): for hcctl status.
        public var reportFactProblem: @Sendable (_ name: String, _ reason: String?) -> Void = { _, _ in }

        public init(node: String, bind: GossipAddress, advertised: GossipAddress, join: [GossipAddress], stateDir: String,
                    version: String, keep: @escaping @Sendable (() throws -> Void) -> Void = { try? $0() }, checkIdentity: Bool = false) {
            self.checkIdentity = checkIdentity
            self.node = node
            self.bind = bind
            self.advertised = advertised
            self.join = join
            self.stateDir = stateDir
            self.version = version
            self.keep = keep
        }
    }

    /// After `leave`, keep gossiping this long so the news of it spreads before the sockets close.
    public static let leaveLinger = Duration.milliseconds(500)

    private let thread: EventThread
    private let settings: Settings
    private let reports: AsyncStream<Report>.Continuation
    private let logger: Logger
    private var sockets: GossipSockets?
    private var core: SWIMCore
    private var keyring: GossipKeyring?
    /// Where rotations are kept (key_file may be read-only, as /etc is under the unit's sandbox); at start
    /// its keys join key_file's and its first key stays the primary.
    private let keyringPath: String
    private let origin = ContinuousClock.now
    private let peersPath: String
    /// What the peers file says: live members and the document's boards that are down (PeerBook).
    private var peerBook: PeerBook
    /// The document's node names (nil before the first document).
    private var documentNodes: Set<String>?
    private let incarnationPath: String
    private var savedIncarnation: UInt64
    private var leavingUntil: Duration?
    private var finished = false
    private var membersChanged = true
    private var lastStates: [String: GossipMember.State] = [:]
    /// Configured and cached peers, joined again while one is missing (RejoinBackoff decides when).
    private var rejoin = RejoinBackoff(seeds: [])
    /// Which peers' documents to fetch, and when.
    private var fetches = DocumentFetchPolicy()
    private var documentText = ""
    private var roles: [String] = []
    private var convergence: String?
    private var probeSummary: ProbeSummary?
    private var heldVIPs: [String] = []
    private var handovers: [String: String] = [:]
    private var drained = false
    private var serialDone: UInt64?
    private var singletonClaims: SingletonClaims?
    /// Drains this board asks of others (hcctl drain NODE), and the members' drained flags as last seen.
    private var drainRequests = DrainRequests()
    private var drainedOf: [String: Bool] = [:]
    /// hcctl restart: the request this board coordinates and its report of the last one asked of it.
    private var restarts = RestartMetadata()
    private var unopened = UnopenedPackets()
    /// Seals this board's metadata and decides whose metadata is believed (Trust's MetadataSeal).
    private var identity: GossipIdentity
    /// Shared secrets: this board's sources, the copies it holds and relays (SharedSecretKeeper).
    private var secrets: SharedSecretKeeper
    private var publishedSecrets: (SharedSecretValues, [SecretStatus])?
    /// Per-board facts: this board's fact files, the others' from their metadata, state_dir/facts.
    private var facts: NodeFactKeeper
    private var publishedFacts: (values: NodeFactValues, statuses: [FactStatus])?
    private var reportedFactProblems: [String: String] = [:]
    /// inotify on the secrets' and facts' source files (made at the first document); no periodic stat.
    private var sourceWatchers: SourceFileWatchers?
    private var decodeDropsSeen = 0
    private var armed: ContinuousClock.Instant?
    private let droppedUnsealed = Counter(label: "hcagent_gossip_packets_dropped_total", dimensions: [("reason", "unsealed")])
    private let droppedUndecodable = Counter(label: "hcagent_gossip_packets_dropped_total", dimensions: [("reason", "undecodable")])
    private let keyMismatches = Counter(label: "hcagent_gossip_key_mismatches_total")
    private let aliveGauge = Gauge(label: "hcagent_gossip_members_alive")

    /// Reads the state files, binds the sockets and joins. On the thread; throws when the sockets cannot be bound.
    public init(thread: EventThread, settings: Settings, keyring: GossipKeyring?, reports: AsyncStream<Report>.Continuation,
                logger: Logger) throws {
        thread.preconditionInThread()
        self.thread = thread
        self.settings = settings
        self.reports = reports
        self.logger = logger
        TextFile.makeDirectories(settings.stateDir)
        identity = GossipIdentity(node: settings.node, stateDir: settings.stateDir, enforcing: settings.checkIdentity, logger: logger)
        secrets = SharedSecretKeeper(node: settings.node, stateDir: settings.stateDir, enforcing: settings.checkIdentity,
                                     policy: settings.policy, policyFile: settings.policyFile, logger: logger)
        facts = NodeFactKeeper(node: settings.node, stateDir: settings.stateDir, policy: settings.policy, policyFile: settings.policyFile,
                               logger: logger, keep: settings.keep)
        keyringPath = settings.stateDir + "/keyring"
        var ring = keyring
        if var merged = keyring, let kept = GossipStateFiles.keptKeyring(at: keyringPath, logger: logger) {
            for key in kept.keys { try? merged.install(key) }
            try? merged.use(kept.keys[0])
            ring = merged
        }
        self.keyring = ring
        peersPath = settings.stateDir + "/peers"
        // A restarted node outbids whatever the cluster remembers of its last run.
        let incarnationPath = settings.stateDir + "/incarnation"
        self.incarnationPath = incarnationPath
        let incarnation = GossipStateFiles.lastIncarnation(at: incarnationPath, logger: logger) + 1
        settings.keep { try TextFile.writeAtomically(incarnationPath, "\(incarnation)\n") }
        savedIncarnation = incarnation
        var seed = SystemRandomNumberGenerator()
        core = SWIMCore(name: settings.node, address: settings.advertised, incarnation: incarnation, random: SplitMix64(seed: seed.next()))
        // Seeds: the configured peers and the ones the last run knew, so a board rejoins even when every
        // configured address is down after a power cut.
        var seeds = settings.join
        let kept = GossipStateFiles.namedPeers(at: peersPath, logger: logger)
        peerBook = PeerBook(own: settings.node, kept: kept)
        for (_, peer) in kept where !seeds.contains(peer) { seeds.append(peer) }
        seeds.removeAll { $0 == settings.advertised }
        rejoin = RejoinBackoff(seeds: seeds)
        sockets = try GossipSockets(thread: thread, host: settings.bind.host, port: settings.bind.port,
                                    onDatagram: { [unowned self] bytes, from in self.onDatagram(bytes, from: from) },
                                    onRequest: { [unowned self] frame, from in self.onRequest(frame, from: from) })
    }

    /// The port the sockets are bound to (the configured one, or the one picked for port 0).
    public var boundPort: UInt16 { sockets?.localAddress.port ?? settings.bind.port }

    private var now: Duration { origin.duration(to: .now) }

    // MARK: events, each on the thread and each ending with settle()

    /// Joins the seeds. Once, after init.
    public func start() {
        let seeds = rejoin.seeds
        logger.info("gossip on \(settings.advertised) (incarnation \(core.incarnation)), joining \(seeds.isEmpty ? "no one yet" : seeds.map(\.description).joined(separator: ", "))")
        joinAgain(rejoin.onStart(now: now))
        settle()
    }

    /// The document in force changed: its generation and text go into the metadata and the push-pull frames.
    public func onDocument(_ document: DesiredState, text: String?) {
        fetches.runs(generation: document.generation, hash: text.map(DocumentHash.of) ?? 0)
        documentText = text ?? ""
        roles = document.nodes.first { $0.name == settings.node }?.roles ?? []
        documentNodes = Set(document.nodes.map(\.name))
        identity.bind(document)
        _ = secrets.bind(document)
        _ = secrets.pollSources(wallMillis: Self.wallMillis())
        publishSecrets()
        _ = facts.bind(document)
        _ = facts.pollSources()
        publishFacts()
        watchSources()
        metadataChanged()
    }

    /// The source files this board reads now, watched; read at once by the caller.
    private func watchSources() {
        if sourceWatchers == nil {
            sourceWatchers = SourceFileWatchers(thread: thread, logger: logger) { [unowned self] in self.onSourceEvent() }
        }
        sourceWatchers?.watch(secrets.sourceFiles + facts.sourceFiles)
    }

    /// Something happened near a source file: read them all shortly (SourceFileWatchPlan.settleDelay).
    private func onSourceEvent() {
        guard !finished else { return }
        sourceWatchers?.onChanged(now: now)
        settle()
    }

    /// Stats this board's source files, reads those that changed, publishes what is new.
    private func readSources() {
        sourceWatchers?.checkWatches()
        let polled = secrets.pollSources(wallMillis: Self.wallMillis())
        if polled.made || polled.problemsChanged { publishSecrets() }
        if polled.made { metadataChanged() }
        let read = facts.pollSources()
        publishFacts()  // itself only when something changed
        if read.changed { metadataChanged() }
    }

    public func onConvergence(_ convergence: String) {
        self.convergence = convergence
        metadataChanged()
    }

    public func onProbes(_ summary: ProbeSummary) {
        probeSummary = summary
        metadataChanged()
    }

    public func onHeldVIPs(_ names: Set<String>) {
        heldVIPs = names.sorted()
        metadataChanged()
    }

    /// The agent refused a document a peer sent (signature, policy, invalid): it is not fetched again.
    public func onRefused(hash: UInt64) {
        fetches.refused(hash: hash)
    }

    public func onHandovers(_ requests: [String: String]) {
        handovers = requests
        metadataChanged()
    }

    /// hcctl drain NODE (or undrain) on this board: asked in its metadata until NODE shows it or the window ends.
    public func requestDrain(of node: String, drained value: Bool) {
        drainRequests.onRequest(node: node, drained: value, now: now)
        stepDrainRequests()
    }

    private func stepDrainRequests() {
        if drainRequests.onStep(drainedOf: drainedOf, now: now) != nil { metadataChanged() }
    }

    /// This board finished its serial restarts for a generation (SerialRestarts): the others hear it as "sr".
    public func onSerialDone(_ generation: UInt64?) {
        guard generation != serialDone else { return }
        serialDone = generation
        metadataChanged()
    }

    /// The reconciler's claims on its `placement: one` units changed: the others hear them as "oc".
    public func onSingletonClaims(_ claims: SingletonClaims?) {
        guard claims != singletonClaims else { return }
        singletonClaims = claims
        metadataChanged()
    }

    /// hcctl restart: what this board asks (as coordinator) and reports (as asked board) changed.
    public func onRestarts(_ value: RestartMetadata) {
        guard value != restarts else { return }
        restarts = value
        metadataChanged()
    }

    /// This board was drained or undrained (hcctl drain): the others hear it in its metadata.
    public func onDrained(_ value: Bool) {
        guard value != drained else { return }
        drained = value
        metadataChanged()
    }

    /// Tells the others this node leaves, gossips a little longer, then closes and reports `.stopped`.
    public func leave() {
        guard leavingUntil == nil, !finished else { return }
        perform(core.leave(now: now))
        rejoin.onLeave()
        leavingUntil = now + Self.leaveLinger
        settle()
    }

    /// Closes everything at once (a stop past its budget): no more reports.
    public func finish() {
        guard !finished else { return }
        finished = true
        thread.schedule(at: nil)
        sourceWatchers?.close()
        sourceWatchers = nil
        sockets?.close()
        sockets = nil
        reports.yield(.stopped)
        reports.finish()
    }

    private func metadataChanged() {
        if !finished, let actions = try? core.setMetadata(metadata(), now: now) { perform(actions) }
        settle()
    }

    private func onTimer() {
        armed = nil
        sockets?.expire()
        guard !finished else { return }
        perform(core.onTick(now: now))
        if sourceWatchers?.onTimer(now: now) == true { readSources() }
        rejoinMissingSeeds()
        checkForNewerDocuments()
        if !drainRequests.pending.isEmpty { stepDrainRequests() }
        if let until = leavingUntil, now >= until {
            finish()
            return
        }
        settle()
    }

    private func onDatagram(_ bytes: [UInt8], from: GossipAddress) {
        guard !finished else { return }
        guard let plain = open(bytes, from: from) else { return }
        perform(core.onDatagram(plain, from: from, now: now))
        settle()
    }

    /// A peer's push-pull: our frame back, and theirs absorbed.
    private func onRequest(_ sealed: [UInt8], from: GossipAddress) -> [UInt8]? {
        guard !finished else { return nil }
        // Absorbed first: which key the asker used decides the key of the answer.
        let asker = absorb(sealed, from: nil, at: from)
        let answer = asker.map { seal(ourFrame(withDocument: true, to: $0), to: from) }
        settle()
        return answer
    }

    /// Every step ends here: counters, the member list, the incarnation file, the timer.
    private func settle() {
        guard !finished else { return }
        if core.droppedPackets > decodeDropsSeen {
            droppedUndecodable.increment(by: core.droppedPackets - decodeDropsSeen)
            decodeDropsSeen = core.droppedPackets
        }
        publishHeard(membersChanged: membersChanged)
        if membersChanged {
            membersChanged = false
            publishMembers()
        }
        // Every incarnation this node has used (refutations, metadata changes, its leave) is kept: the next run
        // starts above it, or the cluster would go on believing the old news.
        if core.incarnation != savedIncarnation {
            savedIncarnation = core.incarnation
            let path = incarnationPath, incarnation = savedIncarnation
            settings.keep { try TextFile.writeAtomically(path, "\(incarnation)\n") }
        }
        armTimer()
    }

    /// One timer for the earliest deadline: the core's, the shell's own (rejoin, document check, the end of a
    /// leave) and the open connections'. An idle board wakes a few times a second, not a hundred.
    /// The shell's housekeeping (the document check every second, the rejoin check every few) needs no wake-up
    /// of its own: it is done at a timer the core needs anyway (its probe round, each second) when due within
    /// `housekeepingEarly` of it, and otherwise `housekeepingLate` after its deadline at the latest. On an idle
    /// board of a cluster that is 1.5 wake-ups a second fewer (of about 4.5) and the same checks.
    static let housekeepingEarly = Duration.milliseconds(100)
    static let housekeepingLate = Duration.milliseconds(500)

    private func armTimer() {
        var next = core.nextDeadline ?? .zero
        if let leavingUntil { next = min(next, leavingUntil) }
        var housekeeping = fetches.nextCheck
        if let rejoinDeadline = rejoin.nextDeadline { housekeeping = min(housekeeping, rejoinDeadline) }
        next = min(next, housekeeping + Self.housekeepingLate)
        if let readAt = sourceWatchers?.readAt { next = min(next, readAt) }
        var wake = origin + next
        if let connections = sockets?.nextDeadline { wake = min(wake, connections) }
        guard wake != armed else { return }
        armed = wake
        thread.schedule(at: wake) { [unowned self] in self.onTimer() }
    }

    // MARK: the shell's own rules

    private func checkForNewerDocuments() {
        guard fetches.onCheckTimer(now: now + Self.housekeepingEarly) else { return }
        for member in core.members {
            fetchNewerDocument(from: member)
            fetchNewerSecrets(from: member)
        }
        // This board's source files: inotify says when to look; a stat each, once a second, only where a file
        // cannot be watched (SourceFileWatchers says so in the log).
        if sourceWatchers?.plan.polls == true { readSources() }
    }

    /// Values to the reconciler when they changed; this board's fact problems to status.
    private func publishFacts() {
        let values = facts.book.values
        // Without ages (hcctl status adds them): a report only when something else changed.
        let statuses = facts.book.statuses(learnedAt: facts.learnedAt, ownProblems: facts.sourceProblems, wallSeconds: nil)
        if publishedFacts?.values != values || publishedFacts?.statuses != statuses {
            publishedFacts = (values, statuses)
            reports.yield(.facts(values, statuses))
        }
        // A file that is not there yet (Syncthing not started yet) is no problem, only not known yet (the log says it).
        let problems = facts.sourceProblems.filter { !$0.value.hasPrefix(NodeFactKeeper.waitingPrefix) }
        guard problems != reportedFactProblems else { return }
        for (name, reason) in problems where reportedFactProblems[name] != reason {
            settings.reportFactProblem(name, "fact \(name): \(reason)\(facts.book.announced[name] != nil ? "; publishing its last value" : "")")
        }
        for name in reportedFactProblems.keys where problems[name] == nil { settings.reportFactProblem(name, nil) }
        reportedFactProblems = problems
    }

    /// A member whose metadata announces a newer copy of a secret this board wants: a push-pull with it (both
    /// frames carry the secrets each side holds).
    private func fetchNewerSecrets(from member: GossipMember) {
        guard member.state == .alive, member.name != core.name else { return }
        let time = now
        guard let theirs = identity.read(member, now: time).metadata?.secretVersions, !theirs.isEmpty,
              secrets.book.shouldFetch(from: member.name, announced: theirs, now: time) else { return }
        pushPull(with: member.address, name: member.name, withDocument: false)
    }

    /// Values to the reconciler, statuses to hcctl status: only when either changed.
    private func publishSecrets() {
        var wall = timespec()
        clock_gettime(CLOCK_REALTIME, &wall)
        let values = secrets.book.values
        let statuses = secrets.report(clusterKey: keyring?.keys.first, wallSeconds: Int(wall.tv_sec))
        // Ages grow every second: only the rest decides whether anything changed.
        let comparable = statuses.map { status -> SecretStatus in
            var copy = status
            copy.age = nil
            return copy
        }
        if let published = publishedSecrets, published.0 == values, published.1 == comparable { return }
        publishedSecrets = (values, comparable)
        reports.yield(.secrets(values, statuses))
    }

    static func wallMillis() -> UInt64 {
        var wall = timespec()
        clock_gettime(CLOCK_REALTIME, &wall)
        return UInt64(max(0, wall.tv_sec)) * 1000 + UInt64(max(0, wall.tv_nsec)) / 1_000_000
    }

    private func rejoinMissingSeeds() {
        joinAgain(rejoin.onTimer(now: now + Self.housekeepingEarly, members: { core.members }))
    }

    private func joinAgain(_ actions: [RejoinBackoff.Action]) {
        for case .join(let seeds) in actions { perform(core.join(seeds: seeds, now: now)) }
    }

    /// A member whose metadata announces a newer document: fetched now by push-pull (DocumentFetchPolicy decides).
    private func fetchNewerDocument(from member: GossipMember) {
        let time = now
        guard fetches.shouldFetch(from: member, myself: core.name, now: time, announced: {
            identity.read(member, now: time).metadata.map { ($0.generation, $0.hash) }
        }) else { return }
        // The peer is ahead: our own older text would only cost it a hash.
        pushPull(with: member.address, name: member.name, withDocument: false)
    }

    public func changeKeys(_ command: ControlRequest.Command, _ key: [UInt8]?) -> Result<String, ControlError> {
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

    /// Hosts whose packets last opened with an installed key other than the primary, and that key: what is sent
    /// to them is sealed with it. A board that was down while the others installed and used a new key comes back
    /// with the old one only; answered with the new primary it could never open a reply, and would stay alone
    /// for as long as the old key is still installed everywhere. Once it uses the primary, the entry goes.
    private var olderKeyHosts: [[UInt8]: [UInt8]] = [:]

    private func seal(_ bytes: [UInt8], to address: GossipAddress) -> [UInt8] {
        guard let keyring else { return bytes }
        if let key = olderKeyHosts[address.host] { return keyring.seal(bytes, key: key) }
        return keyring.seal(bytes)
    }

    private func open(_ bytes: [UInt8], noting address: GossipAddress) -> [UInt8]? {
        guard let keyring else { return bytes }
        guard let (plain, key) = keyring.opening(bytes) else { return nil }
        olderKeyHosts[address.host] = key == keyring.keys[0] ? nil : key
        return plain
    }

    /// Opens a peer's packet; one that does not open is counted, and a peer whose packets keep failing is
    /// named once in the log (UnopenedPackets): most likely it uses a key this board lacks.
    private func open(_ bytes: [UInt8], from address: GossipAddress, stream: Bool = false) -> [UInt8]? {
        if let plain = open(bytes, noting: address) {
            unopened.opened(from: address)
            return plain
        }
        droppedUnsealed.increment()
        if unopened.failed(from: address, now: now) {
            keyMismatches.increment()
            let count = keyring?.keys.count ?? 0
            let peer = stream ? IPAddress(bytes: address.host).map { "\($0)" } ?? "\(address)" : "\(address)"
            logger.warning("packets from \(peer) do not open with any of this board's \(count) key\(count == 1 ? "" : "s"): it may use a key this board lacks (hcctl keys)")
        }
        return nil
    }

    /// A push-pull frame: the member state's length (4 bytes, big-endian), the state, then the document in
    /// force as text (possibly empty). Documents ride the TCP exchange: they are larger than a datagram.
    /// `peer`: the member's name (or the address asked, before its name is known), for whether it reads secrets.
    private func ourFrame(withDocument: Bool, to peer: String) -> [UInt8] {
        let member = core.members.first { $0.name == peer || "\($0.address)" == peer }
        let shared = SharedSecretWire.records(secrets.book.current, forPeer: member.flatMap { GossipIdentity.peek($0.metadata) })
        return PushPullFrame(state: core.pushPullState(), documentText: withDocument ? documentText : "", secrets: shared).encoded
    }

    /// A peer's frame: its state goes to the core, its document (when it may be newer) to the agent.
    /// `name`: who we asked; nil when the peer asked us (its state says who it is).
    /// Returns the sender's name, nil when the frame was not absorbed.
    @discardableResult
    private func absorb(_ sealed: [UInt8], from name: String?, at address: GossipAddress) -> String? {
        guard let frame = open(sealed, from: address, stream: true) else { return nil }
        guard let decoded = try? PushPullFrame.decode(frame) else {
            droppedUndecodable.increment()
            return nil
        }
        let remote = decoded.state
        perform(core.onPushPull(remote, now: now))
        if !decoded.secrets.isEmpty, secrets.receive(decoded.secrets, from: name ?? remote.from, now: now) {
            publishSecrets()
            metadataChanged()
        }
        if !decoded.documentText.isEmpty {
            let text = decoded.documentText
            let announced = remote.members.first { $0.name == remote.from }.flatMap { GossipIdentity.peek($0.metadata) }
            if fetches.shouldOffer(textHash: DocumentHash.of(text), announced: announced.map { ($0.generation, $0.hash) }) {
                reports.yield(.document(text: text, from: name ?? remote.from))
            }
        }
        return remote.from
    }

    private func pushPull(with address: GossipAddress, name: String, withDocument: Bool) {
        guard let sockets else { return }
        sockets.exchange(seal(ourFrame(withDocument: withDocument, to: name), to: address), with: address) { [unowned self] result in
            guard !self.finished else { return }
            switch result {
            case .success(let answer):
                let absorbed = self.absorb(answer, from: name, at: address) != nil
                self.fetches.fetchEnded(from: name, succeeded: absorbed, now: self.now)
            case .failure(let error):
                self.logger.debug("push-pull with \(name): \(error)")
                self.fetches.fetchEnded(from: name, succeeded: false, now: self.now)
            }
            self.settle()
        }
    }

    // MARK: actions

    private func perform(_ actions: [GossipAction]) {
        for action in actions {
            switch action {
            case .send(let bytes, let to):
                sockets?.send(seal(bytes, to: to), to: to)
            case .pushPull(let to):
                pushPull(with: to, name: "\(to)", withDocument: true)
            case .memberChanged(let member):
                membersChanged = true
                if member.name != core.name, lastStates[member.name] != member.state {
                    lastStates[member.name] = member.state
                    logger.notice("member \(member.name) (\(member.address)) is \(member.state)")
                }
                fetchNewerDocument(from: member)
                fetchNewerSecrets(from: member)
            }
        }
    }

    private func metadata() -> [UInt8] {
        var metadata = NodeMetadata(version: settings.version, generation: fetches.generation, hash: fetches.hash, roles: roles,
                                    convergence: convergence)
        metadata.handovers = handovers
        metadata.probes = probeSummary
        metadata.vips = heldVIPs
        metadata.drained = drained
        metadata.drainRequests = drainRequests.outgoing
        metadata.serialDone = serialDone
        metadata.secretVersions = secrets.book.announced
        metadata.restartRequest = restarts.request
        metadata.restartReport = restarts.report
        metadata.readsSecretFrames = true
        metadata.singletonClaims = singletonClaims
        metadata.facts = facts.book.announced
        // Sealed at the incarnation setMetadata moves to, which only grows (kept in state_dir).
        return identity.seal(metadata, sequence: core.incarnation + 1)
    }

    private var heardPublished: Duration?

    /// A fresher "heard from" only matters to a lease of several seconds, and an older one errs towards
    /// stopping; alone at start, the join's answer is usually milliseconds away, and a view of this node alone
    /// would stop the `one` units a restarted agent runs: a board that stays alone is reported after 5 s.
    private func publishHeard(membersChanged: Bool) {
        if !membersChanged, let last = heardPublished, now - last < .seconds(1) { return }
        if core.activeMemberCount < 2 && now < .seconds(5) { return }
        heardPublished = now
        reports.yield(.heard(members: core.members, lastHeard: core.lastHeard, confirmed: core.confirmed, origin: origin))
    }

    private func publishMembers() {
        var wallNow = timespec()
        clock_gettime(CLOCK_REALTIME, &wallNow)
        let elapsed = now
        let views = core.members.map { member in
            let (metadata, reading) = identity.read(member, now: elapsed)
            var view = GossipMemberView(member: member, metadata: metadata,
                                        since: Int(wallNow.tv_sec) - Int((elapsed - member.since).components.seconds),
                                        identity: reading.standing.label, mayActOn: reading.mayActOn)
            view.metadataIsCurrent = !member.metadata.isEmpty && (reading.standing == .verified || reading.standing == .unchecked)
            return view
        }
        aliveGauge.record(core.activeMemberCount)
        drainedOf = Dictionary(views.map { ($0.member.name, $0.metadata?.drained ?? false) }, uniquingKeysWith: { a, _ in a })
        reports.yield(.members(views))
        // Also when no value changed: a value kept from the last run and said again gets its age (status).
        _ = facts.absorb(views)
        publishFacts()
        if peerBook.update(members: core.members, documentNodes: documentNodes) {
            let path = peersPath, peers = peerBook.fileText
            settings.keep { try TextFile.writeAtomically(path, peers) }
        }
        if !drainRequests.pending.isEmpty { stepDrainRequests() }
    }
}
