// A control request line read into a ControlRequest, and the arguments each command needs: every mistake
// gets a precise error (bad JSON, another protocol version, an unknown command, a missing argument).

/// Why a request line was refused, with the request's id when it had one so the reply can carry it.
public struct ControlRequestRefusal: Error, Sendable, Equatable {
    public var error: ControlError
    public var id: Int?
}

extension ControlRequest {
    /// The request on one line, or why it is refused. The fields are read one by one; a field of the wrong
    /// type counts as absent, and members this version does not know are ignored.
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
        guard let command = Command(rawValue: name) else {
            let known = Command.allCases.map(\.rawValue).joined(separator: ", ")
            return .failure(ControlRequestRefusal(error: ControlError(.unknownCommand, "unknown command \"\(name)\"; known: \(known)"), id: id))
        }
        return .success(ControlRequest(command: command, id: id, document: value["document"]?.string, file: value["file"]?.string,
                                       vip: value["vip"]?.string, key: value["key"]?.string, to: value["to"]?.string))
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
        case .plan where document == nil, .apply where document == nil:
            return ControlError(.badRequest, "\(command.rawValue) needs \"document\": the document's text")
        default:
            return nil
        }
    }

    /// The request as the line hcctl sends (without the newline): what `parse` reads back.
    public var json: JSONValue {
        var members: [(String, JSONValue)] = [("v", .integer(v))]
        if let id { members.append(("id", .integer(id))) }
        members.append(("command", .string(command.rawValue)))
        for (name, field) in [("document", document), ("file", file), ("vip", vip), ("key", key), ("to", to)] {
            if let field { members.append((name, .string(field))) }
        }
        return .object(members)
    }
}
