// `hcctl status`'s facts section on the wire: for each fact of the document and each board of its role, the value
// this board knows (facts are public: a Syncthing device ID, a short line) and how long it has known it.

public struct FactStatus: Sendable, Equatable {
    public var name: String
    /// The board that publishes it (a board of the fact's role).
    public var node: String
    /// known (a value is known, maybe the last one of a board that is down), waiting (none published yet).
    public var state: String
    /// The whole value (at most NodeFactSpec.maxValueBytes); hcctl's text shortens a long one.
    public var value: String?
    /// When this board learned this value (unix seconds); nil for a value kept from its last run.
    public var since: Int?
    /// Seconds since then, at the time of the report.
    public var age: Int?
    /// Why a value is missing, or this board's own file's problem (it publishes its last value meanwhile).
    public var reason: String?

    public init(name: String, node: String, state: String, value: String? = nil, since: Int? = nil, age: Int? = nil,
                reason: String? = nil) {
        self.name = name
        self.node = node
        self.state = state
        self.value = value
        self.since = since
        self.age = age
        self.reason = reason
    }
}

extension FactStatus: JSONRecord {
    public init() { self.init(name: "", node: "", state: "") }
    public mutating func fields<Visitor: JSONFieldVisitor>(_ visitor: inout Visitor) throws(Visitor.Failure) {
        try visitor.required("name", &name)
        try visitor.required("node", &node)
        try visitor.required("state", &state)
        try visitor.optional("value", &value)
        try visitor.optional("since", &since)
        try visitor.optional("age", &age)
        try visitor.optional("reason", &reason)
    }
}
