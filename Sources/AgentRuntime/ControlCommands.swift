// Answers one control request line: parses it, checks the caller's right to it, and runs it.
import HomecloudSchema

public struct ControlCommands: Sendable {
    let state: AgentState

    public init(state: AgentState) { self.state = state }

    /// Never throws: whatever the bytes, the answer is a reply. The fields are read one by one so that every
    /// mistake gets a precise reply (bad JSON, another protocol version, an unknown command).
    public func reply(to line: [UInt8], uid: UInt32) async -> ControlReply {
        guard let request = try? JSONValue.parse(line), case .object = request else {
            return .failure(ControlError(.badRequest, "a request is one JSON object on one line, such as {\"v\":1,\"command\":\"status\"}"))
        }
        let id = request["id"]?.int
        let version = request["v"]?.int
        guard version == ControlProtocol.version else {
            return .failure(ControlError(.unsupportedVersion, "this agent speaks protocol version \(ControlProtocol.version); the request has \(version.map(String.init) ?? "none")"), id: id)
        }
        let name = request["command"]?.string ?? ""
        guard let command = ControlRequest.Command(rawValue: name) else {
            let known = ControlRequest.Command.allCases.map(\.rawValue).joined(separator: ", ")
            return .failure(ControlError(.unknownCommand, "unknown command \"\(name)\"; known: \(known)"), id: id)
        }
        if command.changesState && uid != 0 {
            return .failure(ControlError(.forbidden, "\(name) changes the agent's state and needs root"), id: id)
        }
        switch command {
        case .status:
            return .success(id: id, status: await state.status())
        case .reload:
            switch await state.reloadDesired() {
            case .accepted(let generation):
                return .success(id: id, message: "generation \(generation) accepted")
            case .unchanged:
                return .success(id: id, message: "unchanged")
            case .stale(let generation):
                return .success(id: id, message: "the file has generation \(generation), older than the one in force: not taken")
            case .rejected(let diagnostics):
                return .failure(ControlError(.failed, diagnostics.map(\.description).joined(separator: "\n")), id: id)
            }
        case .handover:
            guard let vip = request["vip"]?.string else {
                return .failure(ControlError(.badRequest, "handover needs \"vip\": the VIP's name"), id: id)
            }
            switch await state.handOver(vip: vip, to: request["to"]?.string) {
            case .success(let message): return .success(id: id, message: message)
            case .failure(let error): return .failure(error, id: id)
            }
        case .keysList, .keysInstall, .keysUse, .keysRemove:
            var key: [UInt8]?
            if command != .keysList {
                guard let text = request["key"]?.string, let decoded = Base64.decode(text), decoded.count == 32 else {
                    return .failure(ControlError(.badRequest, "\(name) needs \"key\": 32 bytes in base64"), id: id)
                }
                key = decoded
            }
            switch await state.keys(command, key: key) {
            case .success(let message): return .success(id: id, message: message)
            case .failure(let error): return .failure(error, id: id)
            }
        case .plan, .apply:
            guard let text = request["document"]?.string else {
                return .failure(ControlError(.badRequest, "\(name) needs \"document\": the document's text"), id: id)
            }
            let file = request["file"]?.string ?? "(\(name) request)"
            if command == .plan {
                switch await state.plan(text: text, file: file) {
                case .success(let plan): return .success(id: id, plan: plan)
                case .failure(let refusal): return .failure(ControlError(.failed, refusal.description), id: id)
                }
            }
            switch await state.apply(text: text, file: file) {
            case .accepted(let generation): return .success(id: id, message: "generation \(generation) accepted")
            case .rejected(let diagnostics):
                return .failure(ControlError(.failed, diagnostics.map(\.description).joined(separator: "\n")), id: id)
            case .unchanged, .stale: return .success(id: id, message: "unchanged")
            }
        }
    }
}
