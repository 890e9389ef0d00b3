// Runs the document's VIPs: VRRPDriver on a thread of its own, fed the agent state's changes; what the driver
// reports (VIP states, handovers asked of others) goes back to the agent state, for hcctl, gossip and placement.
import HomecloudSchema
import Logging
import Reactor
import ServiceLifecycle
import VRRP

public struct VRRPService: Service {
    let state: AgentState
    let logger: Logger

    /// A stopping master waits this long for a successor to take the VIP before it simply lets go.
    static let stopBudget = Duration.milliseconds(2500)

    public init(state: AgentState, logger: Logger) {
        self.state = state
        self.logger = logger
    }

    public func run() async throws {
        // Without the capabilities it needs VRRP would win elections for VIPs it cannot add: it stays off,
        // says why, and leaves the VIPs to boards that can hold them.
        if let reason = Capabilities.current()?.vrrpOffReason {
            await stayOff(reason)
            return
        }
        let table: VIPAddressTable
        let links: LinkWatcher
        let thread: EventThread
        do {
            table = try VIPAddressTable()
            links = try LinkWatcher()
            thread = try EventThread(name: "hcagent-vrrp")
        } catch {
            await stayOff("VRRP off: \(error)")
            return
        }
        defer { thread.stop() }
        let state = self.state
        let (reports, reportSink) = AsyncStream.makeStream(of: VRRPDriver.Report.self)
        let driver = VRRPDriver(thread: thread, node: state.config.node, stateDir: state.config.stateDir, table: table,
                                links: links, reports: reportSink, problems: state.problems, logger: logger)
        thread.execute { driver.start() }
        let documents = await state.documents()
        let peers = await state.peerAddressChanges()
        let incoming = await state.incomingHandoverChanges()
        let adjustments = await state.priorityAdjustmentChanges()
        await state.setHandoverHandler { name, target in
            await thread.submit { driver.handOver(name, to: target) } ?? .failure(ControlError(.failed, "VRRP is stopping"))
        }
        await withDiscardingTaskGroup { group in
            // Each of these changes now and then, never per advertisement.
            group.addTask { for await document in documents { thread.execute { driver.onDocument(document) } } }
            group.addTask { for await addresses in peers { thread.execute { driver.onPeers(addresses) } } }
            group.addTask { for await vips in incoming { thread.execute { driver.onHandoverRequests(vips) } } }
            group.addTask { for await changes in adjustments { thread.execute { driver.onAdjustments(changes) } } }
            await withGracefulShutdownHandler {
                reading: for await report in reports {
                    switch report {
                    case .vips(let vips): await state.publishVIPs(vips)
                    case .outgoingHandovers(let requests): await state.setOutgoingHandovers(requests)
                    case .stopped: break reading
                    }
                }
            } onGracefulShutdown: {
                thread.execute { driver.stop() }
            }
            await state.setHandoverHandler(nil)
            // However the loop ended (a stop past its budget, a cancelled group), no VIP stays behind.
            if let vips = await thread.submit({ driver.finishAll() }) { await state.publishVIPs(vips) }
            group.cancelAll()
        }
    }

    /// VRRP cannot run here: while the document gives this board VIPs, each shows as off with the reason, and
    /// the reason is a problem of the agent's (one log line); the other parts run on. Ends with the agent.
    private func stayOff(_ reason: String) async {
        let state = self.state
        let node = state.config.node
        logger.warning("\(reason)")
        let documents = await state.documents()
        await cancelWhenGracefulShutdown {
            for await document in documents {
                let vips = document.nodes.contains(where: { $0.name == node }) ? document.vips : []
                if vips.isEmpty {
                    state.problems.clear("vrrp")
                } else {
                    state.problems.report("vrrp", reason, alreadyLogged: true)
                }
                await state.publishVIPs(vips.map { VIPStatus(name: $0.name, address: $0.address.description, state: "off", holder: nil, reason: reason) })
            }
        }
    }
}

