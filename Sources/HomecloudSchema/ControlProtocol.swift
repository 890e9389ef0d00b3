// The control socket's protocol: one JSON request per line, one JSON reply per line, versioned.

public enum ControlProtocol {
    /// Bumped when a request or reply changes meaning; an agent answers other versions with an error.
    public static let version = 1
    /// Longest request line the agent reads; a longer one gets an error reply and the connection is closed.
    /// Room for the largest document inside a plan or apply request: JSON escapes a newline, quote or backslash
    /// in two bytes (YAML allows no other control characters), plus the request's other members.
    public static let maxRequestBytes = 2 * DesiredState.maxDocumentBytes + 64 * 1024
}

public struct ControlRequest: Sendable, Equatable {
    public enum Command: String, Sendable, CaseIterable {
        /// Node, members, VIPs, units and the desired generation.
        case status
        /// Reread desired.yaml now (as SIGHUP does). Root only.
        case reload
        /// What `document` would change, per node; changes nothing.
        case plan
        /// Accept `document` with the next generation. Root only.
        case apply
        /// Hand a VIP this node holds to another board, make before break (`vip`: its name).
        case handover
        /// The gossip keyring: fingerprints, the primary first (never the keys).
        case keysList = "keys-list"
        /// Add `key` (base64) to this board's keyring; it opens packets at once, seals once used. Root only.
        case keysInstall = "keys-install"
        /// Seal with `key` from now on (it must be installed). Root only.
        case keysUse = "keys-use"
        /// Forget `key` (not the primary). Root only.
        case keysRemove = "keys-remove"
        /// Take this board (or `node`, asked by gossip) out for maintenance: its VIPs handed over, its `one`
        /// units moved, marked drained in gossip (kept across restarts). Root only.
        case drain
        /// Put a drained board back in service. Root only.
        case undrain
        /// Follow the cluster's events as this board sees them: the reply, then one reply with `event` per line
        /// until the client closes the connection.
        case events
        /// Restart `target` (a unit, or the units of a role) on every board that runs it, one board at a time
        /// with `rolling`, coordinated by this board: the reply, then one reply per step, the last one saying
        /// whether every board is done (ok) or which board failed. Root only.
        case restart

        /// Requests that change the agent's state need uid 0.
        public var changesState: Bool {
            switch self {
            case .status, .plan, .keysList, .events: return false
            case .reload, .apply, .handover, .keysInstall, .keysUse, .keysRemove, .drain, .undrain, .restart: return true
            }
        }
    }

    public var v: Int
    public var id: Int?
    public var command: Command
    /// The text of a desired-state document, for plan and apply.
    public var document: String?
    /// Where that text came from, for its error messages.
    public var file: String?
    /// The VIP's name, for handover.
    public var vip: String?
    /// A gossip key in base64, for keys-install, keys-use and keys-remove.
    public var key: String?
    /// The board a handover goes to; none: whichever board the election picks.
    public var to: String?
    /// The board drain or undrain is asked of; none: this board.
    public var node: String?
    /// restart: the unit or role to restart, whether one board at a time, and each board's time limit (seconds).
    public var target: String?
    public var rolling: Bool?
    public var timeout: Int?

    public init(command: Command, id: Int? = nil, document: String? = nil, file: String? = nil, vip: String? = nil, key: String? = nil,
                to: String? = nil, node: String? = nil) {
        self.node = node
        self.v = ControlProtocol.version
        self.id = id
        self.command = command
        self.document = document
        self.file = file
        self.vip = vip
        self.key = key
        self.to = to
    }
}

public struct ControlError: Sendable, Equatable {
    public enum Code: String, Sendable, CaseIterable {
        case badRequest = "bad-request"
        case tooLarge = "too-large"
        case unsupportedVersion = "unsupported-version"
        case unknownCommand = "unknown-command"
        case forbidden
        case failed
    }
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}

/// One reply; exactly one of `error` or a result field is set.
public struct ControlReply: Sendable, Equatable {
    public var v: Int
    public var id: Int?
    public var ok: Bool
    public var error: ControlError?
    public var status: StatusReport?
    public var plan: PlanReport?
    public var message: String?
    /// One event of an `events` stream.
    public var event: ClusterEvent?
    /// True on a restart's last reply (its verdict): a stream that ends without one was cut short.
    public var last: Bool?

    public static func failure(_ error: ControlError, id: Int? = nil) -> ControlReply {
        ControlReply(v: ControlProtocol.version, id: id, ok: false, error: error)
    }

    /// This reply carrying one event of an `events` stream.
    public func with(event: ClusterEvent) -> ControlReply {
        var reply = self
        reply.event = event
        return reply
    }

    public static func success(id: Int?, status: StatusReport? = nil, plan: PlanReport? = nil, message: String? = nil) -> ControlReply {
        ControlReply(v: ControlProtocol.version, id: id, ok: true, status: status, plan: plan, message: message)
    }
}

/// What a document would change: per node, from the document in force; for this node, the exact steps the
/// reconciler would take now (the same planner, run on a copy of its state).
public struct PlanReport: Sendable, Equatable {
    /// The generation the document would be accepted with.
    public var generation: UInt64
    public var nodes: [NodePlan]
    public var node: String
    /// This node's steps, such as "start smbd.service"; empty when it would change nothing, nil when the
    /// reconciler does not run here (no systemd) and cannot say.
    public var steps: [String]?
    /// Why this board would refuse the document (its local policy, its trusted keys); nil or empty: it would take it.
    public var refusals: [Diagnostic]?
    /// What the board that planned sees in the cluster that would not follow the document, such as a live
    /// member whose agent is older than the document's `requires:`; it would still be accepted here.
    public var warnings: [String]?

    public init(generation: UInt64, nodes: [NodePlan], node: String, steps: [String]?, refusals: [Diagnostic]? = nil) {
        self.generation = generation
        self.nodes = nodes
        self.node = node
        self.steps = steps
        self.refusals = refusals
    }
}

public struct NodePlan: Sendable, Equatable {
    public var node: String
    /// Lines such as "+ smbd.service running, placement vip:front" or "- k3s.service".
    public var changes: [String]
    public init(node: String, changes: [String]) {
        self.node = node
        self.changes = changes
    }
}

/// What `hcctl status` shows. Sections that a part of the agent does not fill yet are empty lists.
public struct StatusReport: Sendable, Equatable {
    public var node: String
    public var cluster: String?
    public var version: String
    public var desired: DesiredSummary
    public var members: [MemberStatus]
    public var vips: [VIPStatus]
    public var units: [UnitStatus]
    /// This node's convergence: converged, converging or degraded; nil while the reconciler is not running.
    public var convergence: String?
    /// This node's probes.
    public var probes: [ProbeStatus]
    /// Parts of this agent that run degraded or not at all, and why (empty when all is well).
    public var problems: [PartProblem] = []
    /// This board's managed files; nil when the document gives it none (and from agents before managed files).
    public var files: [FileStatus]?
    /// One line: healthy, or the first thing to look at and the command that shows it (StatusHeadline); nil from
    /// an agent before it (hcctl then makes it from the rest).
    public var headline: String?
    /// Whether this board is drained (hcctl drain); nil from an agent before drain.
    public var drained: Bool?
    /// The document's shared secrets as this board has them (never a value); nil when it names none.
    public var secrets: [SecretStatus]?
    /// A restart under way that this board coordinates or carries out (ControlProtocolRestart.swift); nil: none.
    public var restart: RestartStatus?
    /// The document's per-board facts as this board knows them (ControlProtocolFacts.swift); nil when it names none.
    public var facts: [FactStatus]?

    public init(node: String, cluster: String?, version: String, desired: DesiredSummary,
                members: [MemberStatus] = [], vips: [VIPStatus] = [], units: [UnitStatus] = [],
                convergence: String? = nil, probes: [ProbeStatus] = []) {
        self.node = node
        self.cluster = cluster
        self.version = version
        self.desired = desired
        self.members = members
        self.vips = vips
        self.units = units
        self.convergence = convergence
        self.probes = probes
    }
}

public struct ProbeStatus: Sendable, Equatable {
    public var name: String
    /// unknown, healthy or failing.
    public var state: String
    /// pass, or what failed; nil before the first run.
    public var last: String?
    public var latencyMs: Int?
    public var passes: Int
    public var failures: Int
    /// Unix seconds of the last change of state.
    public var since: Int
    public init(name: String, state: String, last: String?, latencyMs: Int?, passes: Int, failures: Int, since: Int) {
        self.name = name
        self.state = state
        self.last = last
        self.latencyMs = latencyMs
        self.passes = passes
        self.failures = failures
        self.since = since
    }
}

public struct DesiredSummary: Sendable, Equatable {
    /// The generation in force; nil while the agent has no valid document.
    public var generation: UInt64?
    public var file: String
    /// The errors of the last document refused (the one in force stays), empty when the file is good.
    public var rejected: [Diagnostic]
    /// The admin key id that signed the document in force; nil when it is unsigned.
    public var signedBy: String?
    /// The key ids in this board's trusted_admin_keys; empty or nil: it takes unsigned documents.
    public var trustedKeys: [String]?
    /// This board's policy in one line ("3 unit globs, 1 exec rule, 0 path globs"); nil: no policy.
    public var policy: String?
    /// The last documents refused here, from any source (file, apply, gossip, state_dir), oldest first.
    public var refused: [DocumentRefusal]?

    public init(generation: UInt64?, file: String, rejected: [Diagnostic] = [], signedBy: String? = nil,
                trustedKeys: [String]? = nil, policy: String? = nil, refused: [DocumentRefusal]? = nil) {
        self.generation = generation
        self.file = file
        self.rejected = rejected
        self.signedBy = signedBy
        self.trustedKeys = trustedKeys
        self.policy = policy
        self.refused = refused
    }
}

/// A document this board refused: why in a word (signature, policy, invalid, generation), its generation
/// when it parsed, where it came from, and the located messages.
public struct DocumentRefusal: Sendable, Equatable {
    public var reason: String
    public var generation: UInt64?
    public var source: String
    public var messages: [Diagnostic]
    public init(reason: String, generation: UInt64?, source: String, messages: [Diagnostic]) {
        self.reason = reason
        self.generation = generation
        self.source = source
        self.messages = messages
    }
}

public struct MemberStatus: Sendable, Equatable {
    public var name: String
    public var address: String
    /// alive, suspect, dead or left.
    public var state: String
    /// Gossip's view, once gossip runs: the member's incarnation, since when (Unix seconds) it is in this
    /// state, its roles, agent version and the desired generation it runs.
    public var incarnation: UInt64?
    public var since: Int?
    public var roles: [String]?
    public var version: String?
    public var generation: UInt64?
    /// That board's units: converged, converging or degraded.
    public var convergence: String?
    /// That board's probes: how many it runs and which of them fail.
    public var probes: Int?
    public var failingProbes: [String]?
    /// The VIPs that board holds.
    public var vips: [String]?
    /// Whether its metadata is signed by the node key the document binds to its name: verified, unbound (no
    /// key bound: shown, not acted on), refused (REASON) (a forged one dropped; the fields are the last verified),
    /// or unchecked (this board has no trusted_admin_keys). nil from an agent before node keys.
    public var identity: String?
    /// True when that board says it is drained (hcctl drain); nil otherwise, and from an agent before drain.
    public var drained: Bool?
    public init(name: String, address: String, state: String, incarnation: UInt64? = nil, since: Int? = nil,
                roles: [String]? = nil, version: String? = nil, generation: UInt64? = nil, convergence: String? = nil,
                probes: Int? = nil, failingProbes: [String]? = nil, vips: [String]? = nil) {
        self.name = name
        self.address = address
        self.state = state
        self.incarnation = incarnation
        self.since = since
        self.roles = roles
        self.version = version
        self.generation = generation
        self.convergence = convergence
        self.probes = probes
        self.failingProbes = failingProbes
        self.vips = vips
    }
}

public struct VIPStatus: Sendable, Equatable {
    public var name: String
    public var address: String
    /// init, backup, master, fault or stopped.
    public var state: String
    /// The node holding the VIP: this node's name when master, else the master's address as VRRP heard it.
    public var holder: String?
    /// The priority this node advertises now (base priority adjusted by tracked probes).
    public var priority: Int?
    /// The last transition: when (Unix seconds) and why.
    public var since: Int?
    public var reason: String?
    /// Why the priority is not the document's, when a rule of this board moved it (drained: 1).
    public var priorityReason: String?
    /// Every address of a VIP with several (`address` is the first); nil for one address and from older agents.
    public var addresses: [String]?
    /// The VIP's group (`group:`), whose VIPs move together; nil when it has none.
    public var group: String?
    public init(name: String, address: String, state: String, holder: String?, priority: Int? = nil, since: Int? = nil,
                reason: String? = nil) {
        self.name = name
        self.address = address
        self.state = state
        self.holder = holder
        self.priority = priority
        self.since = since
        self.reason = reason
    }
}

public struct UnitStatus: Sendable, Equatable {
    public var name: String
    /// running or stopped: what the document asks of this node now, placement applied.
    public var desired: String
    /// systemd's ActiveState, or "unknown" while nothing has read it.
    public var active: String
    /// converged, converging or degraded; nil while the reconciler is not running.
    public var state: String?
    /// Why a unit is not converged (backoff, systemd's Result, a missing unit).
    public var reason: String?
    /// The `wait_for:` conditions that keep it from starting ("probe k3s-api on role k3s-init"); nil: none.
    public var waitingFor: [String]?
    /// The boards of its role whose serial restarts (a `serial: true` file) its own restart waits for; nil: none.
    public var waitingForTurn: [String]?
    public init(name: String, desired: String, active: String, state: String? = nil, reason: String? = nil, waitingFor: [String]? = nil,
                waitingForTurn: [String]? = nil) {
        self.name = name
        self.desired = desired
        self.active = active
        self.state = state
        self.reason = reason
        self.waitingFor = waitingFor
        self.waitingForTurn = waitingForTurn
    }
}
extension ControlError: Error {}
