// Answers one control request line: parses it, checks the caller's right to it, and hands it to the part that
// owns it (the document keeper, or a part's handle).
import HomecloudSchema

public struct ControlCommands: Sendable {
    let keeper: DocumentKeeper
    let channels: AgentChannels
    let handles: PartHandles
    /// The cluster's events for `events`; nil: this agent does not follow them.
    let events: EventHub?

    public init(keeper: DocumentKeeper, channels: AgentChannels, handles: PartHandles, events: EventHub? = nil) {
        self.keeper = keeper
        self.channels = channels
        self.handles = handles
        self.events = events
    }

    /// A request that asks for a stream (`events`, `restart`): its first reply and the replies to write after it,
    /// one per line, until the stream ends; nil for every other request, and for a restart that `reply` refuses
    /// (not root, an argument missing, no restarts here).
    public func stream(for line: [UInt8], uid: UInt32) -> (ControlReply, AsyncStream<ControlReply>)? {
        guard case .success(let request) = ControlRequest.parse(line) else { return nil }
        switch request.command {
        case .events:
            guard let events else { return nil }
            let followed = events.follow()
            let (replies, sink) = AsyncStream.makeStream(of: ControlReply.self, bufferingPolicy: .bufferingNewest(256))
            let carrier = Task {
                for await event in followed { sink.yield(ControlReply.success(id: nil).with(event: event)) }
                sink.finish()
            }
            sink.onTermination = { _ in carrier.cancel() }
            return (.success(id: request.id, message: "following the cluster's events as \(keeper.config.node) sees them"), replies)
        case .restart:
            guard uid == 0, request.missingArgument == nil, let restarts = handles.restarts else { return nil }
            return restarts.start(target: request.target ?? "", rolling: request.rolling ?? false,
                                  timeout: request.timeout.map { .seconds($0) }, id: request.id)
        default:
            return nil
        }
    }

    /// Never throws: whatever the bytes, the answer is a reply. The fields are read one by one so that every
    /// mistake gets a precise reply (bad JSON, another protocol version, an unknown command).
    public func reply(to line: [UInt8], uid: UInt32) async -> ControlReply {
        let request: ControlRequest
        switch ControlRequest.parse(line) {
        case .success(let parsed): request = parsed
        case .failure(let refusal): return .failure(refusal.error, id: refusal.id)
        }
        let id = request.id, command = request.command, name = command.rawValue
        if command.changesState && uid != 0 {
            return .failure(ControlError(.forbidden, "\(name) changes the agent's state and needs root"), id: id)
        }
        if let missing = request.missingArgument { return .failure(missing, id: id) }
        switch command {
        case .status:
            var status = await AgentStatus(keeper: keeper, channels: channels, probes: handles.probes).report()
            status.drained = handles.drain?.isDrained
            status.restart = handles.restarts?.status()
            return .success(id: id, status: status)
        case .drain, .undrain:
            if let node = request.node, node != keeper.config.node {
                switch await askDrain(of: node, drained: command == .drain) {
                case .success(let message): return .success(id: id, message: message)
                case .failure(let error): return .failure(error, id: id)
                }
            }
            guard let drain = handles.drain else { return .failure(ControlError(.failed, "this agent keeps no drained state"), id: id) }
            return .success(id: id, message: drain.set(command == .drain, node: keeper.config.node))
        case .reload:
            switch await keeper.reloadDesired() {
            case .accepted(let generation):
                return .success(id: id, message: "generation \(generation) accepted")
            case .unchanged:
                return .success(id: id, message: "unchanged")
            case .stale(let generation):
                return .success(id: id, message: "the file has generation \(generation), older than the one in force: not taken")
            case .rejected(let diagnostics):
                return .failure(ControlError(.failed, diagnostics.map(\.description).joined(separator: "\n")), id: id)
            }
        case .events:
            // Reached only without an event hub: with one, the server streams (see `stream(for:)`).
            return .failure(ControlError(.failed, "this agent does not follow events"), id: id)
        case .restart:
            // Reached only without restarts here: with them, the server streams (see `stream(for:uid:)`).
            return .failure(ControlError(.failed, "this agent runs no restarts"), id: id)
        case .handover:
            switch await handOver(vip: request.vip ?? "", to: request.to) {
            case .success(let message): return .success(id: id, message: message)
            case .failure(let error): return .failure(error, id: id)
            }
        case .keysList, .keysInstall, .keysUse, .keysRemove:
            // missingArgument has checked the key: 32 bytes in base64 for all but keys-list.
            let key = command == .keysList ? [] : request.key.flatMap(Base64.decode) ?? []
            let gossip = handles.gossip
            let outcome = switch command {
            case .keysInstall: await gossip.installKey(key)
            case .keysUse: await gossip.useKey(key)
            case .keysRemove: await gossip.removeKey(key)
            default: await gossip.listKeys()
            }
            switch outcome {
            case .success(let message): return .success(id: id, message: message)
            case .failure(let error): return .failure(error, id: id)
            }
        case .plan, .apply:
            let text = request.document ?? ""
            let file = request.file ?? "(\(name) request)"
            if command == .plan {
                let reconciler = handles.reconciler
                switch await keeper.plan(text: text, file: file, members: channels.members.value ?? [], steps: { await reconciler.plan($0) }) {
                case .success(let plan): return .success(id: id, plan: plan)
                case .failure(let refusal): return .failure(ControlError(.failed, refusal.description), id: id)
                }
            }
            switch await keeper.apply(text: text, file: file) {
            case .accepted(let generation): return .success(id: id, message: "generation \(generation) accepted")
            case .rejected(let diagnostics):
                return .failure(ControlError(.failed, diagnostics.map(\.description).joined(separator: "\n")), id: id)
            case .unchanged, .stale: return .success(id: id, message: "unchanged")
            }
        }
    }

    /// hcctl drain NODE (undrain NODE): asked through this board's gossip metadata, signed with its node key
    /// where node identity is on; NODE acts on it only if it believes this board (DrainRequests.asked).
    private func askDrain(of node: String, drained: Bool) async -> Result<String, ControlError> {
        guard let view = channels.memberView.value, view.states[node] == .alive else {
            return .failure(ControlError(.failed, "\(node) is not an alive member (see hcctl members)"))
        }
        guard await handles.gossip.requestDrain(of: node, drained: drained) else {
            return .failure(ControlError(.failed, "gossip is not running on this node"))
        }
        return .success("asked \(node) \(drained ? "to drain" : "to come back in service") through gossip (signed with this board's node key where node identity is on); hcctl members shows it once \(node) has")
    }

    /// hcctl vip handover NAME [--to NODE]: a named successor must be an alive member, as gossip sees it.
    private func handOver(vip name: String, to target: String?) async -> Result<String, ControlError> {
        if let target, target != keeper.config.node, let view = channels.memberView.value, view.states[target] != .alive {
            return .failure(ControlError(.failed, "\(target) is not an alive member (see hcctl members)"))
        }
        return await handles.vrrp.handover(vip: name, to: target)
    }
}
