// One thing that happened in the cluster as this board saw it (hcctl events): a member's state, a VIP's
// transition, a unit degraded or recovered, a probe failing or healthy, a document accepted or refused.

public struct ClusterEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case memberJoined = "member-joined"
        case memberAlive = "member-alive"
        case memberSuspect = "member-suspect"
        case memberDead = "member-dead"
        case memberLeft = "member-left"
        case vipTransition = "vip-transition"
        /// Another board took or lost a VIP this board is backup for: its holder changed, its state did not.
        case vipHolder = "vip-holder"
        case unitDegraded = "unit-degraded"
        case unitRecovered = "unit-recovered"
        case probeFailing = "probe-failing"
        case probeHealthy = "probe-healthy"
        case documentAccepted = "document-accepted"
        case documentRefused = "document-refused"

        /// Events about the cluster as a whole (every board sees them); the others are this board's own.
        public var isClusterWide: Bool {
            switch self {
            case .memberJoined, .memberAlive, .memberSuspect, .memberDead, .memberLeft: true
            default: false
            }
        }
    }

    /// This board's count of events, from 1 since the agent started: a follower sees gaps if it fell behind.
    public var seq: Int
    /// When this board saw it, Unix milliseconds.
    public var time: Int
    /// The board that saw it.
    public var node: String
    public var kind: Kind
    /// The member, VIP, unit or probe; the document's source for documents.
    public var subject: String
    public var state: String?
    public var previous: String?
    /// For VIPs: the board holding it now (this board's name when master, else the master's address).
    public var holder: String?
    public var reason: String?
    public var generation: UInt64?

    public init(seq: Int = 0, time: Int = 0, node: String = "", kind: Kind, subject: String, state: String? = nil, previous: String? = nil,
                holder: String? = nil, reason: String? = nil, generation: UInt64? = nil) {
        self.seq = seq
        self.time = time
        self.node = node
        self.kind = kind
        self.subject = subject
        self.state = state
        self.previous = previous
        self.holder = holder
        self.reason = reason
        self.generation = generation
    }

    /// One line for people, after the time: `member-dead n3 (was suspect)`, `vip-transition web backup -> master
    /// holder n1: higher priority`.
    public var summary: String {
        var line = "\(kind.rawValue) \(subject)"
        if let generation { line += " generation \(generation)" }
        switch (previous, state) {
        case let (previous?, state?): line += " \(previous) -> \(state)"
        case let (nil, state?): line += " \(state)"
        default: break
        }
        if let holder { line += " holder \(holder)" }
        if let reason, !reason.isEmpty { line += ": \(reason)" }
        return line
    }
}

extension ClusterEvent.Kind: JSONNamedCase {}

extension ClusterEvent: JSONRecord {
    public init() { self.init(kind: .documentAccepted, subject: "") }
    public mutating func fields<Visitor: JSONFieldVisitor>(_ visitor: inout Visitor) throws(Visitor.Failure) {
        try visitor.required("seq", &seq)
        try visitor.required("time", &time)
        try visitor.required("node", &node)
        try visitor.required("kind", &kind)
        try visitor.required("subject", &subject)
        try visitor.optional("state", &state)
        try visitor.optional("previous", &previous)
        try visitor.optional("holder", &holder)
        try visitor.optional("reason", &reason)
        try visitor.optional("generation", &generation)
    }
}
