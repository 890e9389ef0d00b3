// The control protocol's replies written as JSON by the agent, key for key what their Codable form decodes.

public protocol JSONWritable {
    var json: JSONValue { get }
}

extension Optional where Wrapped: JSONWritable {
    var json: JSONValue { map(\.json) ?? .null }
}

extension String: JSONWritable {
    public var json: JSONValue { .string(self) }
}

extension Array: JSONWritable where Element: JSONWritable {
    public var json: JSONValue { .array(map(\.json)) }
}

extension ControlReply: JSONWritable {
    public var json: JSONValue {
        var members: [(String, JSONValue)] = [("v", .integer(v))]
        if let id { members.append(("id", .integer(id))) }
        members.append(("ok", .bool(ok)))
        if let error { members.append(("error", error.json)) }
        if let status { members.append(("status", status.json)) }
        if let plan { members.append(("plan", plan.json)) }
        if let message { members.append(("message", .string(message))) }
        return .object(members)
    }
}

extension ControlError: JSONWritable {
    public var json: JSONValue { .object([("code", .string(code.rawValue)), ("message", .string(message))]) }
}

extension StatusReport: JSONWritable {
    public var json: JSONValue {
        .object([
            ("node", .string(node)), ("cluster", cluster.json), ("version", .string(version)),
            ("desired", desired.json), ("members", members.json), ("vips", vips.json), ("units", units.json),
            ("convergence", convergence.json), ("probes", .array(probes.map(\.json))), ("problems", problems.json),
        ])
    }
}

extension ProbeStatus: JSONWritable {
    public var json: JSONValue {
        var members: [(String, JSONValue)] = [("name", .string(name)), ("state", .string(state)), ("last", last.json)]
        if let latencyMs { members.append(("latencyMs", JSONValue.integer(latencyMs))) }
        members += [("passes", JSONValue.integer(passes)), ("failures", JSONValue.integer(failures)), ("since", JSONValue.integer(since))]
        return .object(members)
    }
}

extension DesiredSummary: JSONWritable {
    public var json: JSONValue {
        var members: [(String, JSONValue)] = [("generation", generation.map { .integer($0) } ?? .null), ("file", .string(file)), ("rejected", rejected.json)]
        if let signedBy { members.append(("signedBy", .string(signedBy))) }
        if let trustedKeys { members.append(("trustedKeys", .array(trustedKeys.map { .string($0) }))) }
        if let policy { members.append(("policy", .string(policy))) }
        if let refused { members.append(("refused", .array(refused.map(\.json)))) }
        return .object(members)
    }
}

extension DocumentRefusal: JSONWritable {
    public var json: JSONValue {
        .object([("reason", .string(reason)), ("generation", generation.map { .integer($0) } ?? .null), ("source", .string(source)),
                 ("messages", messages.json)])
    }
}

extension Diagnostic: JSONWritable {
    public var json: JSONValue {
        var members: [(String, JSONValue)] = [("file", .string(file))]
        if let line { members.append(("line", .integer(line))) }
        if let column { members.append(("column", .integer(column))) }
        members += [("path", .string(path)), ("message", .string(message))]
        return .object(members)
    }
}

extension MemberStatus: JSONWritable {
    public var json: JSONValue {
        var members: [(String, JSONValue)] = [("name", .string(name)), ("address", .string(address)), ("state", .string(state))]
        if let incarnation { members.append(("incarnation", JSONValue.integer(incarnation))) }
        if let since { members.append(("since", JSONValue.integer(since))) }
        if let roles { members.append(("roles", .array(roles.map { .string($0) }))) }
        if let version { members.append(("version", .string(version))) }
        if let generation { members.append(("generation", JSONValue.integer(generation))) }
        if let convergence { members.append(("convergence", .string(convergence))) }
        if let probes { members.append(("probes", JSONValue.integer(probes))) }
        if let failingProbes { members.append(("failingProbes", .array(failingProbes.map { .string($0) }))) }
        if let vips { members.append(("vips", .array(vips.map { .string($0) }))) }
        if let identity { members.append(("identity", .string(identity))) }
        return .object(members)
    }
}

extension VIPStatus: JSONWritable {
    public var json: JSONValue {
        var members: [(String, JSONValue)] = [("name", .string(name)), ("address", .string(address)), ("state", .string(state)), ("holder", holder.json)]
        if let priority { members.append(("priority", JSONValue.integer(priority))) }
        if let since { members.append(("since", JSONValue.integer(since))) }
        if let reason { members.append(("reason", .string(reason))) }
        return .object(members)
    }
}

extension UnitStatus: JSONWritable {
    public var json: JSONValue {
        var members: [(String, JSONValue)] = [("name", .string(name)), ("desired", .string(desired)), ("active", .string(active))]
        if let state { members.append(("state", .string(state))) }
        if let reason { members.append(("reason", .string(reason))) }
        return .object(members)
    }
}

extension PlanReport: JSONWritable {
    public var json: JSONValue {
        .object([("generation", .integer(generation)), ("nodes", nodes.json), ("node", .string(node)),
                 ("steps", steps.map(\.json) ?? .null)] + (refusals.map { [("refusals", $0.json)] } ?? []))
    }
}

extension NodePlan: JSONWritable {
    public var json: JSONValue { .object([("node", .string(node)), ("changes", changes.json)]) }
}
