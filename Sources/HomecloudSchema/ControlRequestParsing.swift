// A control request line read into a ControlRequest, and the arguments each command needs: every mistake
// gets a precise error (bad JSON, another protocol version, an unknown command, a missing argument).

/// Why a request line was refused, with the request's id when it had one so the reply can carry it.
public struct ControlRequestRefusal: Error, Sendable, Equatable {
    public var error: ControlError
    public var id: Int?
}

extension ControlRequest {
    /// The request on one line, or why it is refused. The version and the command are checked first, for their
    /// own error codes; then the members are read by the request's one definition (ControlProtocolJSON.swift):
    /// a member of the wrong type is a located bad request, and members this version does not know are ignored.
    public static func parse(_ line: [UInt8]) -> Result<ControlRequest, ControlRequestRefusal> {
        guard let value = try? JSONValue.parse(line), case .object = value else {
            return .failure(ControlRequestRefusal(error: ControlError(.badRequest, "a request is one JSON object on one line, such as {\"v\":1,\"command\":\"status\"}")))
        }
        let id = value["id"]?.int
        let version = value["v"]?.int
        guard version == ControlProtocol.version else {
            return .failure(ControlRequestRefusal(error: ControlError(.unsupportedVersion, "this agent speaks protocol version \(ControlProtocol.version); the request has \(version.map(String.init) ?? "none")"), id: id))
        }
        let name = value["command"]?.string ?? ""
        guard Command(rawValue: name) != nil else {
            let known = Command.allCases.map(\.rawValue).joined(separator: ", ")
            return .failure(ControlRequestRefusal(error: ControlError(.unknownCommand, "unknown command \"\(name)\"; known: \(known)"), id: id))
        }
        do {
            return .success(try ControlRequest(json: value))
        } catch {
            return .failure(ControlRequestRefusal(error: ControlError(.badRequest, error.description), id: id))
        }
    }

    /// What the command lacks to run (handover's VIP, a key of 32 bytes in base64, plan's and apply's
    /// document), nil when it has all it needs.
    public var missingArgument: ControlError? {
        switch command {
        case .handover where vip == nil:
            return ControlError(.badRequest, "handover needs \"vip\": the VIP's name")
        case .keysInstall, .keysUse, .keysRemove:
            guard let key, let decoded = Base64.decode(key), decoded.count == 32 else {
                return ControlError(.badRequest, "\(command.rawValue) needs \"key\": 32 bytes in base64")
            }
            return nil
        case .restart where (target ?? "").isEmpty:
            return ControlError(.badRequest, "restart needs \"target\": a unit or a role")
        case .restart where (timeout ?? 1) < 1:
            return ControlError(.badRequest, "restart's \"timeout\" is a number of seconds, at least 1")
        case .plan where document == nil, .apply where document == nil:
            return ControlError(.badRequest, "\(command.rawValue) needs \"document\": the document's text")
        default:
            return nil
        }
    }
}
