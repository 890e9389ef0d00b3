// The control protocol's JSON form, one definition per type: each `fields` lists the members in wire order,
// and the agent's writer, hcctl's reader and hcctl's printed JSON all run it (JSONFields.swift).
// A member's presence is part of the wire: `required` always, `optional` absent when nil, `nullWhenNil` for
// keys scripts rely on (a VIP's holder, the desired generation), `defaulted` for what older agents leave out.

extension ControlRequest.Command: JSONNamedCase {}
extension ControlError.Code: JSONNamedCase {}

extension ControlRequest: JSONRecord {
    public init() { self.init(command: .status) }
    public mutating func fields<Visitor: JSONFieldVisitor>(_ visitor: inout Visitor) throws(Visitor.Failure) {
        try visitor.required("v", &v)
        try visitor.optional("id", &id)
        try visitor.required("command", &command)
        try visitor.optional("document", &document)
        try visitor.optional("file", &file)
        try visitor.optional("vip", &vip)
        try visitor.optional("key", &key)
        try visitor.optional("to", &to)
        try visitor.optional("node", &node)
        try visitor.optional("target", &target)
        try visitor.optional("rolling", &rolling)
        try visitor.optional("timeout", &timeout)
    }
}

extension ControlReply: JSONRecord {
    public init() { self.init(v: ControlProtocol.version, id: nil, ok: false) }
    public mutating func fields<Visitor: JSONFieldVisitor>(_ visitor: inout Visitor) throws(Visitor.Failure) {
        try visitor.required("v", &v)
        try visitor.optional("id", &id)
        try visitor.required("ok", &ok)
        try visitor.optional("error", &error)
        try visitor.optional("status", &status)
        try visitor.optional("plan", &plan)
        try visitor.optional("message", &message)
        try visitor.optional("event", &event)
        try visitor.optional("last", &last)
    }
}

extension ControlError: JSONRecord {
    public init() { self.init(.failed, "") }
    public mutating func fields<Visitor: JSONFieldVisitor>(_ visitor: inout Visitor) throws(Visitor.Failure) {
        try visitor.required("code", &code)
        try visitor.required("message", &message)
    }
}

extension StatusReport: JSONRecord {
    public init() { self.init(node: "", cluster: nil, version: "", desired: DesiredSummary()) }
    public mutating func fields<Visitor: JSONFieldVisitor>(_ visitor: inout Visitor) throws(Visitor.Failure) {
        try visitor.required("node", &node)
        try visitor.optional("cluster", &cluster)
        try visitor.required("version", &version)
        try visitor.required("desired", &desired)
        try visitor.required("members", &members)
        try visitor.required("vips", &vips)
        try visitor.required("units", &units)
        try visitor.optional("convergence", &convergence)
        try visitor.defaulted("probes", &probes, absent: [])
        try visitor.defaulted("problems", &problems, absent: [])
        try visitor.optional("files", &files)
        try visitor.optional("headline", &headline)
        try visitor.optional("drained", &drained)
        try visitor.optional("secrets", &secrets)
        try visitor.optional("restart", &restart)
        try visitor.optional("facts", &facts)
    }
}

extension DesiredSummary: JSONRecord {
    public init() { self.init(generation: nil, file: "") }
    public mutating func fields<Visitor: JSONFieldVisitor>(_ visitor: inout Visitor) throws(Visitor.Failure) {
        try visitor.optional("generation", &generation, nullWhenNil: true)
        try visitor.required("file", &file)
        try visitor.required("rejected", &rejected)
        try visitor.optional("signedBy", &signedBy)
        try visitor.optional("trustedKeys", &trustedKeys)
        try visitor.optional("policy", &policy)
        try visitor.optional("refused", &refused)
    }
}

extension DocumentRefusal: JSONRecord {
    public init() { self.init(reason: "", generation: nil, source: "", messages: []) }
    public mutating func fields<Visitor: JSONFieldVisitor>(_ visitor: inout Visitor) throws(Visitor.Failure) {
        try visitor.required("reason", &reason)
        try visitor.optional("generation", &generation)
        try visitor.required("source", &source)
        try visitor.required("messages", &messages)
    }
}

extension Diagnostic: JSONRecord {
    public init() { self.init(file: "", mark: nil, path: "", message: "") }
    public mutating func fields<Visitor: JSONFieldVisitor>(_ visitor: inout Visitor) throws(Visitor.Failure) {
        try visitor.required("file", &file)
        try visitor.optional("line", &line)
        try visitor.optional("column", &column)
        try visitor.required("path", &path)
        try visitor.required("message", &message)
    }
}

extension PartProblem: JSONRecord {
    public init() { self.init(part: "", reason: "") }
    public mutating func fields<Visitor: JSONFieldVisitor>(_ visitor: inout Visitor) throws(Visitor.Failure) {
        try visitor.required("part", &part)
        try visitor.required("reason", &reason)
    }
}

extension MemberStatus: JSONRecord {
    public init() { self.init(name: "", address: "", state: "") }
    public mutating func fields<Visitor: JSONFieldVisitor>(_ visitor: inout Visitor) throws(Visitor.Failure) {
        try visitor.required("name", &name)
        try visitor.required("address", &address)
        try visitor.required("state", &state)
        try visitor.optional("incarnation", &incarnation)
        try visitor.optional("since", &since)
        try visitor.optional("roles", &roles)
        try visitor.optional("version", &version)
        try visitor.optional("generation", &generation)
        try visitor.optional("convergence", &convergence)
        try visitor.optional("probes", &probes)
        try visitor.optional("failingProbes", &failingProbes)
        try visitor.optional("vips", &vips)
        try visitor.optional("identity", &identity)
        try visitor.optional("drained", &drained)
    }
}

extension VIPStatus: JSONRecord {
    public init() { self.init(name: "", address: "", state: "", holder: nil) }
    public mutating func fields<Visitor: JSONFieldVisitor>(_ visitor: inout Visitor) throws(Visitor.Failure) {
        try visitor.required("name", &name)
        try visitor.required("address", &address)
        try visitor.required("state", &state)
        try visitor.optional("holder", &holder, nullWhenNil: true)
        try visitor.optional("priority", &priority)
        try visitor.optional("since", &since)
        try visitor.optional("reason", &reason)
        try visitor.optional("priorityReason", &priorityReason)
        try visitor.optional("addresses", &addresses)
        try visitor.optional("group", &group)
    }
}

extension UnitStatus: JSONRecord {
    public init() { self.init(name: "", desired: "", active: "") }
    public mutating func fields<Visitor: JSONFieldVisitor>(_ visitor: inout Visitor) throws(Visitor.Failure) {
        try visitor.required("name", &name)
        try visitor.required("desired", &desired)
        try visitor.required("active", &active)
        try visitor.optional("state", &state)
        try visitor.optional("reason", &reason)
        try visitor.optional("waitingFor", &waitingFor)
        try visitor.optional("waitingForTurn", &waitingForTurn)
    }
}

extension ProbeStatus: JSONRecord {
    public init() { self.init(name: "", state: "", last: nil, latencyMs: nil, passes: 0, failures: 0, since: 0) }
    public mutating func fields<Visitor: JSONFieldVisitor>(_ visitor: inout Visitor) throws(Visitor.Failure) {
        try visitor.required("name", &name)
        try visitor.required("state", &state)
        try visitor.optional("last", &last)
        try visitor.optional("latencyMs", &latencyMs)
        try visitor.required("passes", &passes)
        try visitor.required("failures", &failures)
        try visitor.required("since", &since)
    }
}

extension PlanReport: JSONRecord {
    public init() { self.init(generation: 0, nodes: [], node: "", steps: nil) }
    public mutating func fields<Visitor: JSONFieldVisitor>(_ visitor: inout Visitor) throws(Visitor.Failure) {
        try visitor.required("generation", &generation)
        try visitor.required("nodes", &nodes)
        try visitor.required("node", &node)
        try visitor.optional("steps", &steps)
        try visitor.optional("refusals", &refusals)
        try visitor.optional("warnings", &warnings)
    }
}

extension NodePlan: JSONRecord {
    public init() { self.init(node: "", changes: []) }
    public mutating func fields<Visitor: JSONFieldVisitor>(_ visitor: inout Visitor) throws(Visitor.Failure) {
        try visitor.required("node", &node)
        try visitor.required("changes", &changes)
    }
}
