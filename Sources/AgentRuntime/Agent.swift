// Starts the agent: loads agent.yaml, builds its parts and connects them (AgentChannels, PartHandles), binds its
// sockets, says READY=1, and runs the parts as one ServiceGroup.
#if canImport(Glibc)
import Glibc
#endif
import Gossip
import HomecloudSchema
import HomecloudYAML
import Logging
import Metrics
import NIOCore
import NIOPosix
import PartWiring
import Probes
import Reconciler
import PartLifecycle
import UnixSignals
import VRRP

public enum Agent {
    /// A graceful stop (SIGTERM) must be done within this; past it the parts are cancelled. VRRP uses most of
    /// it at worst: a stopping master waits for a successor to announce the VIP (VRRPService.stopBudget, 3 s).
    /// With the 300 ms of cancellation after it, the process ends within 3.8 s: below the unit's TimeoutStopSec (5 s).
    public static let shutdownBudget = Duration.milliseconds(3500)

    /// Loads and checks agent.yaml; the error carries every located problem.
    public static func loadConfig(path: String) -> Result<AgentConfig, FileRejected> {
        let text: String
        do {
            text = try TextFile.read(path)
        } catch {
            return .failure(FileRejected([Diagnostic(file: path, mark: nil, path: "", message: error.reason)]))
        }
        switch AgentConfig.parse(text, file: path, hostname: hostname()) {
        case .failure(let rejected): return .failure(rejected)
        case .success(let config):
            if case .failure(let rejected) = TrustSetup.verifier(for: config, file: path) { return .failure(rejected) }
            return .success(config)
        }
    }

    /// `hcagent --check`: agent.yaml and the document it names. Returns the lines to print and whether all is well.
    public static func check(configPath: String) -> (lines: [String], ok: Bool) {
        let config: AgentConfig
        switch loadConfig(path: configPath) {
        case .failure(let rejected): return (rejected.diagnostics.map(\.description), false)
        case .success(let loaded): config = loaded
        }
        var lines = ["\(configPath): ok (node \(config.node))"]
        var document: DesiredState?, documentText: String?
        do {
            let text = try TextFile.read(config.desired)
            switch DesiredStateParser.parse(text, file: config.desired) {
            case .failure(let rejected): return (lines + rejected.diagnostics.map(\.description), false)
            case .success(let parsed):
                (document, documentText) = (parsed, text)
                lines.append("\(config.desired): ok (cluster \(parsed.cluster), generation \(parsed.generation), \(parsed.nodes.count) nodes)")
                if !parsed.nodes.contains(where: { $0.name == config.node }) {
                    lines.append("\(config.desired): note: node \(config.node) is not in nodes; it will run no units")
                }
            }
        } catch {
            if TextFile.stamp(config.desired) != nil { return (lines + ["\(error)"], false) }
            lines.append("\(config.desired): not there yet; the agent starts and waits for one")
        }
        let trust = TrustSetup.check(config: config, configPath: configPath, document: document, text: documentText)
        return (lines + trust.lines, trust.ok)
    }

    /// Runs until SIGTERM or SIGINT. Throws only for a failure to start (a socket that cannot be bound).
    /// The gossip keyring from `key_file`. Without one the agent refuses to start, unless `insecure` (the
    /// --insecure-gossip flag, for tests): gossip carries the desired state, so it is never open by accident.
    public static func loadKeyring(config: AgentConfig, insecure: Bool) -> Result<GossipKeyring?, FileRejected> {
        guard let path = config.keyFile else {
            if insecure { return .success(nil) }
            return .failure(FileRejected([Diagnostic(file: AgentConfig.defaultPath, mark: nil, path: "key_file", message:
                "not set: gossip is always encrypted; set key_file to a file with 32 random bytes in base64 (head -c 32 /dev/urandom | base64), the same on every board, or start with --insecure-gossip (tests only)")]))
        }
        do {
            return .success(try GossipKeyring.parse(try TextFile.read(path), file: path))
        } catch let error as TextFile.Failure {
            return .failure(FileRejected([Diagnostic(file: path, mark: nil, path: "", message: "\(error.reason); create it with head -c 32 /dev/urandom | base64 > \(path) and copy it to every board")]))
        } catch {
            return .failure(FileRejected([Diagnostic(file: path, mark: nil, path: "", message: "\(error)")]))
        }
    }

    /// `configPath` is where agent.yaml was read from: an in-place restart (SIGUSR2) checks it before re-executing.
    public static func run(config: AgentConfig, keyring: GossipKeyring?, logger: Logger, registry: MetricsRegistry,
                           configPath: String = AgentConfig.defaultPath) async throws {
        let notifier = SystemdNotifier()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            try await serve(config: config, configPath: configPath, keyring: keyring, logger: logger, registry: registry, notifier: notifier, group: group)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try? await group.shutdownGracefully()
        logger.info("hcagent stopped")
    }

    private static func serve(config: AgentConfig, configPath: String, keyring: GossipKeyring?, logger: Logger, registry: MetricsRegistry,
                              notifier: SystemdNotifier, group: MultiThreadedEventLoopGroup) async throws {

        let channels = AgentChannels()
        let problems = PartProblems(logger: logger)
        let keeper = DocumentKeeper(config: config, logger: logger, documents: channels.documents, problems: problems)
        await keeper.restorePersisted()
        await keeper.reloadDesired()

        // Each part is built with its channels; what the control commands may ask of it is its handle.
        var reconcilerChannels = ReconcilerService.Channels(
            documents: channels.documents, heldVIPs: channels.heldVIPs, memberView: channels.memberView, unitHealth: channels.unitHealth,
            units: channels.units, convergence: channels.convergence)
        // Serial restarts: the reconciler says when this board's are finished, gossip carries it as "sr".
        let serialDone = LatestValue<UInt64?>(nil)
        reconcilerChannels.serialDone = serialDone
        // `placement: one`: the reconciler's claims on its units, carried in gossip as "oc" (SingletonFastStart).
        let singletonClaims = LatestValue<SingletonClaims?>(nil)
        reconcilerChannels.singletonClaims = singletonClaims
        reconcilerChannels.secrets = channels.secretValues
        // Per-board facts: gossip reads and hears them, templates print them.
        let factValues = LatestValue<NodeFactValues>(NodeFactValues())
        reconcilerChannels.facts = factValues
        let reconciler = ReconcilerService(node: config.node, address: config.advertisedAddress?.host, channels: reconcilerChannels,
                                           problems: problems, logger: logger)
        let reconcilerHandle = reconciler.handle
        let probes = ProbeService(group: group, channels: ProbeService.Channels(
            documents: channels.documents, adjustments: channels.priorityAdjustments, summary: channels.probeSummary,
            unitHealth: channels.unitHealthSink, unitState: { await reconcilerHandle.activeState(of: $0) }), problems: problems, logger: logger)
        // hcctl drain: kept in state_dir, followed by VRRP and gossip.
        let drainAsked = LatestValue<DrainAsk?>(nil)
        let drain = DrainKeeper(stateDir: config.stateDir, problems: problems, logger: logger, node: config.node, asks: drainAsked)
        var vrrpChannels = VRRPService.Channels(
            documents: channels.documents, peers: channels.peerAddresses, incomingHandovers: channels.incomingHandovers,
            adjustments: channels.priorityAdjustments, vips: channels.vips, held: channels.heldVIPs,
            outgoingHandovers: channels.outgoingHandovers, transitions: channels.vipTransitionSink)
        vrrpChannels.drained = drain.drained
        let inService = LatestValue<Set<String>>([])
        vrrpChannels.inService = inService
        let peerProbes = LatestValue<[String: ProbeSummary]>([:])
        vrrpChannels.peerProbes = peerProbes
        let vrrp = VRRPService(node: config.node, stateDir: config.stateDir, channels: vrrpChannels, problems: problems, logger: logger)
        // After an in-place restart, the VIPs about to resume count as held from the start: no `vip:` unit stops.
        if !vrrp.resumingVIPs.isEmpty { _ = channels.heldVIPs.publishIfChanged(vrrp.resumingVIPs) }
        guard let advertised = GossipService.advertisedAddress(for: config) else {
            throw GossipTransportError(description: "cannot tell which address peers should use for this board: set advertise in agent.yaml")
        }
        var gossipChannels = GossipService.Channels(
            documents: channels.documents, convergence: channels.convergence, probes: channels.probeSummary, heldVIPs: channels.heldVIPs,
            outgoingHandovers: channels.outgoingHandovers, members: channels.members, memberView: channels.memberView,
            peerAddresses: channels.peerAddresses, incomingHandovers: channels.incomingHandovers,
            offerDocument: { text, peer in
                if case .rejected = await keeper.offerFromPeer(text: text, from: peer) { return true }
                return false
            })
        gossipChannels.drained = drain.drained
        gossipChannels.inService = inService
        gossipChannels.peerProbes = peerProbes
        gossipChannels.serialDone = serialDone
        gossipChannels.singletonClaims = singletonClaims
        gossipChannels.drainAsked = drainAsked
        gossipChannels.secretValues = channels.secretValues
        gossipChannels.secretStatus = channels.secretStatus
        gossipChannels.factValues = factValues
        gossipChannels.factStatus = channels.factStatus
        let restarts = RestartKeeper(node: config.node, stateDir: config.stateDir, channels: RestartKeeper.Channels(
            documents: channels.documents, members: channels.members, held: channels.heldVIPs, units: channels.units,
            outgoing: gossipChannels.restarts, asked: gossipChannels.restartsAsked, reports: gossipChannels.restartReports),
            vrrp: vrrp.handle, reconciler: reconcilerHandle, logger: logger)
        let gossip = try await GossipService.bind(
            settings: try gossipSettings(config: config, advertised: advertised, problems: problems), keyring: keyring,
            channels: gossipChannels, logger: logger)
        let handles = PartHandles(vrrp: vrrp.handle, gossip: gossip.handle, reconciler: reconcilerHandle, probes: probes.handle, drain: drain,
                                  restarts: restarts)
        let status = AgentStatus(keeper: keeper, channels: channels, probes: probes.handle)

        let events = EventHub(node: config.node, channels: channels, refusals: keeper.refusals)
        let control = try await ControlServer.bind(path: config.socket, commands: ControlCommands(keeper: keeper, channels: channels, handles: handles, events: events),
                                                   group: group, logger: logger)
        // Metrics are a part like the others: a port taken by something else turns them off, not the agent.
        let metrics: [any Service]
        do {
            metrics = [try await MetricsServer.bind(host: config.metrics.host, port: config.metrics.port, registry: registry, group: group, logger: logger)]
        } catch {
            problems.report("metrics", "metrics off: cannot listen on \(config.metrics): \(error)")
            metrics = []
        }
        let webhook = WebhookService(node: config.node, hub: events, documents: channels.documents, members: channels.members,
                                     group: group, probes: probes.handle, problems: problems, logger: logger)
        var services: [any Service] = [control, events, webhook] + metrics + [
            reconciler, probes, vrrp, StateDirService(keeper: keeper), drain, restarts,
            TransitionHookService(node: config.node, policy: config.policy, policyFile: config.policyFile ?? AgentConfig.defaultPath,
                                  documents: channels.documents, transitions: channels.vipTransitions, probes: probes.handle,
                                  problems: problems, logger: logger),
            StatusLineService(status: status, channels: channels, notifier: notifier),
            ClusterMetricsService(node: config.node, channels: channels),
            InPlaceRestartService(configPath: configPath, vrrp: vrrp.handle, notifier: notifier,
                                  statusLine: { StatusHeadline.line(for: await status.report()) }, logger: logger),
        ]
        // Gossip last: a graceful stop ends it first, so the others hear this node leave before its VIPs move.
        services.append(DesiredStateWatcher(keeper: keeper, path: config.desired, thread: gossip.thread, logger: logger))
        services.append(gossip)
        if let interval = notifier.watchdogInterval {
            let loop = group.next()
            services.append(WatchdogService(notifier: notifier, interval: interval) {
                (try? await loop.submit { true }.get()) ?? false
            })
        }

        // Sockets are bound: only now is the agent ready.
        notifier.ready(status: StatusHeadline.line(for: await status.report()))
        logger.info("hcagent started", metadata: [
            "node": "\(config.node)", "socket": "\(config.socket)", "metrics": "\(config.metrics)",
        ])

        let serviceGroup = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint],
                                        gracefulBudget: shutdownBudget, cancellationBudget: .milliseconds(300), logger: logger) {
            // A part that ignores cancellation must not keep the process: systemd would wait for its stop timeout.
            exit(1)
        }
        enum Finished { case group, signalWatcher }
        try await withThrowingTaskGroup(of: Finished.self) { tasks in
            tasks.addTask {
                try await serviceGroup.run()
                return .group
            }
            tasks.addTask {
                // STOPPING=1 as soon as the stop begins, so `systemctl status` says so.
                for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                    notifier.stopping()
                    break
                }
                return .signalWatcher
            }
            // The service group ends the run (its graceful stop may take a while: VRRP hands the VIP over);
            // the signal watcher only reports that the stop has begun.
            while let finished = try await tasks.next() {
                if finished == .group { break }
            }
            tasks.cancelAll()
        }
    }

    /// Gossip's settings from agent.yaml; its writes to state_dir go through the agent's problem list.
    static func gossipSettings(config: AgentConfig, advertised: GossipAddress, problems: PartProblems) throws -> GossipDriver.Settings {
        guard let host = IPAddress(config.bind.host), let bind = GossipAddress(host: host.bytes, port: UInt16(config.bind.port)) else {
            throw GossipTransportError(description: "bind: \(config.bind.host) is not an IP address")
        }
        let join: [GossipAddress] = config.join.compactMap { peer in
            IPAddress(peer.host).flatMap { GossipAddress(host: $0.bytes, port: UInt16(peer.port)) }
        }
        var settings = GossipDriver.Settings(node: config.node, bind: bind, advertised: advertised, join: join,
                                             stateDir: config.stateDir, version: AgentStatus.version,
                                             keep: { problems.keepInStateDir($0) }, checkIdentity: !config.trustedAdminKeys.isEmpty)
        settings.policy = config.policy
        settings.policyFile = config.policyFile ?? AgentConfig.defaultPath
        settings.reportFactProblem = { name, reason in
            if let reason { problems.report("fact \(name)", reason, alreadyLogged: true) } else { problems.clear("fact \(name)") }
        }
        return settings
    }

    static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return String(name.prefix { $0 != "." })
    }
}
