// Wires gossip to the agent state: GossipDriver runs on a thread of its own; the state's changes (document,
// convergence, probes, held VIPs, handovers) go to it, and what it reports (members, peers' documents) comes back.
import Gossip
import HomecloudSchema
import Logging
import Reactor
import Reconciler
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

public struct GossipService: Service {
    let state: AgentState
    /// Gossip's thread; the desired.yaml watcher shares it.
    public let thread: EventThread
    let driver: GossipDriver
    let reports: AsyncStream<GossipDriver.Report>
    let logger: Logger

    /// Binds gossip's sockets on a new thread; throws when they cannot be bound (the agent does not start).
    public static func bind(state: AgentState, keyring: GossipKeyring?, advertised: GossipAddress, logger: Logger) async throws -> GossipService {
        let config = state.config
        guard let host = IPAddress(config.bind.host), let bind = GossipAddress(host: host.bytes, port: UInt16(config.bind.port)) else {
            throw GossipTransportError(description: "bind: \(config.bind.host) is not an IP address")
        }
        let join: [GossipAddress] = config.join.compactMap { peer in
            IPAddress(peer.host).flatMap { GossipAddress(host: $0.bytes, port: UInt16(peer.port)) }
        }
        let problems = state.problems
        let settings = GossipDriver.Settings(node: config.node, bind: bind, advertised: advertised, join: join,
                                             stateDir: config.stateDir, version: AgentState.version,
                                             keep: { problems.keepInStateDir($0) }, checkIdentity: !config.trustedAdminKeys.isEmpty)
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
        return GossipService(state: state, thread: thread, driver: driver, reports: reports, logger: logger)
    }

    public func run() async throws {
        let state = self.state, thread = self.thread, driver = self.driver
        defer { thread.stop() }
        let documents = await state.documents()
        let convergences = await state.convergenceChanges()
        let probeSummaries = await state.probeSummaryChanges()
        let held = await state.heldVIPs()
        let handovers = await state.outgoingHandoverChanges()
        thread.execute { driver.start() }
        await state.setKeysHandler { command, key in
            await thread.submit { driver.changeKeys(command, key) } ?? .failure(ControlError(.failed, "gossip is stopping"))
        }
        await withDiscardingTaskGroup { group in
            // Each of these changes now and then, never per packet.
            group.addTask {
                for await document in documents {
                    let text = await state.documentText
                    thread.execute { driver.onDocument(document, text: text) }
                }
            }
            group.addTask { for await convergence in convergences { thread.execute { driver.onConvergence(convergence) } } }
            group.addTask { for await summary in probeSummaries { thread.execute { driver.onProbes(summary) } } }
            group.addTask { for await names in held { thread.execute { driver.onHeldVIPs(names) } } }
            group.addTask { for await requests in handovers { thread.execute { driver.onHandovers(requests) } } }
            await withGracefulShutdownHandler {
                reading: for await report in reports {
                    switch report {
                    case .members(let views): await publish(views)
                    case .document(let text, let peer):
                        // A document refused here (signature, policy) stays refused: gossip does not fetch it again.
                        if case .rejected = await state.offerFromPeer(text: text, from: peer) {
                            let hash = DocumentHash.of(text)
                            thread.execute { driver.onRefused(hash: hash) }
                        }
                    case .heard(let members, let lastHeard, let origin):
                        await state.publishMemberView(MemberView(members, lastHeard: lastHeard, origin: origin))
                    case .stopped: break reading
                    }
                }
            } onGracefulShutdown: {
                thread.execute { driver.leave() }
            }
            await state.setKeysHandler(nil)
            // However the loop ended (a stop past its budget, a cancelled group), the sockets close.
            _ = await thread.submit { driver.finish() }
            group.cancelAll()
        }
    }

    /// hcctl members, and the handovers live boards ask of this one.
    private func publish(_ views: [GossipMemberView]) async {
        let node = state.config.node
        let members = views.map { view -> MemberStatus in
            let meta = view.metadata
            var status = MemberStatus(name: view.member.name, address: "\(view.member.address)", state: "\(view.member.state)",
                                      incarnation: view.member.incarnation, since: view.since,
                                      roles: meta?.roles, version: meta?.version, generation: meta.map { $0.generation },
                                      convergence: meta?.convergence, probes: meta?.probes?.count, failingProbes: meta?.probes?.failing,
                                      vips: meta?.vips)
            status.identity = view.identity
            return status
        }
        await state.publishMembers(members)
        // Only requests a member signed itself count (node identity).
        let asked = views.filter { $0.member.state == .alive && $0.member.name != node && $0.mayActOn }.flatMap { view in
            (view.metadata?.handovers ?? [:]).filter { $0.value == node }.map(\.key)
        }
        await state.setIncomingHandovers(Set(asked))
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
