// Managed files in `hcctl status`: each file this board keeps, whether it is as the document says, and why not.

public struct FileStatus: Sendable, Equatable {
    public var path: String
    /// The role that gives this board the file.
    public var role: String
    /// converged, converging or degraded (a template fact missing here, a validate refusal, a failed write).
    public var state: String
    public var reason: String?
    /// How many times this agent wrote it: for a new document and for each repaired drift.
    public var writes: Int

    public init(path: String, role: String, state: String, reason: String? = nil, writes: Int = 0) {
        self.path = path
        self.role = role
        self.state = state
        self.reason = reason
        self.writes = writes
    }
}

extension FileStatus: JSONRecord {
    public init() { self.init(path: "", role: "", state: "") }
    public mutating func fields<Visitor: JSONFieldVisitor>(_ visitor: inout Visitor) throws(Visitor.Failure) {
        try visitor.required("path", &path)
        try visitor.required("role", &role)
        try visitor.required("state", &state)
        try visitor.optional("reason", &reason)
        try visitor.defaulted("writes", &writes, absent: 0)
    }
}
