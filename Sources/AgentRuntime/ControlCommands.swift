// Answers one control request line: parses it, checks the caller's right to it, and runs it.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HomecloudSchema

public struct ControlCommands: Sendable {
    let state: AgentState

    public init(state: AgentState) { self.state = state }

    /// The first fields of any request, read before the command is known so that every mistake gets a precise
    /// reply (bad JSON, other protocol version, unknown command).
    private struct Envelope: Decodable {
        var v: Int?
        var id: Int?
        var command: String?
    }

    /// Never throws: whatever the bytes, the answer is a reply.
    public func reply(to line: [UInt8], uid: UInt32) async -> ControlReply {
        guard let envelope = try? JSONDecoder().decode(Envelope.self, from: Data(line)) else {
            return .failure(ControlError(.badRequest, "a request is one JSON object on one line, such as {\"v\":1,\"command\":\"status\"}"))
        }
        guard envelope.v == ControlProtocol.version else {
            return .failure(ControlError(.unsupportedVersion, "this agent speaks protocol version \(ControlProtocol.version); the request has \(envelope.v.map(String.init) ?? "none")"), id: envelope.id)
        }
        guard let name = envelope.command, let command = ControlRequest.Command(rawValue: name) else {
            let known = ControlRequest.Command.allCases.map(\.rawValue).joined(separator: ", ")
            return .failure(ControlError(.unknownCommand, "unknown command \"\(envelope.command ?? "")\"; known: \(known)"), id: envelope.id)
        }
        if command.changesState && uid != 0 {
            return .failure(ControlError(.forbidden, "\(name) changes the agent's state and needs root"), id: envelope.id)
        }
        switch command {
        case .status:
            return .success(id: envelope.id, status: await state.status())
        case .reload:
            switch await state.reloadDesired() {
            case .accepted(let generation):
                return .success(id: envelope.id, message: "generation \(generation) accepted")
            case .unchanged:
                return .success(id: envelope.id, message: "unchanged")
            case .rejected(let diagnostics):
                return .failure(ControlError(.failed, diagnostics.map(\.description).joined(separator: "\n")), id: envelope.id)
            }
        }
    }
}
