// The desired-state document's types: which node has which roles, what each role runs, VIPs and probes.

/// The cluster's desired state, as accepted from a valid `desired.yaml`. Everything is kept in file order.
public struct DesiredState: Sendable, Equatable {
    /// The largest document text (signature line included) any source may bring: a file, apply, gossip, state_dir.
    /// A bound so that a board holds a known amount; room for many units and, later, managed files.
    public static let maxDocumentBytes = 1024 * 1024

    /// Bumped on every change; the highest generation wins.
    public var generation: UInt64
    public var cluster: String
    public var nodes: [NodeAssignment]
    public var roles: [Role]
    public var vips: [VirtualIP]
    public var probes: [Probe]
    /// node name → its node key's public line (`ed25519 KEYID BASE64`): the only key whose signed gossip
    /// metadata boards with trusted admin keys believe for that name.
    public var nodeKeys: [String: String] = [:]
    /// The oldest agent that can read this document (`requires:`); an older one refuses it and keeps its own.
    public var requires: AgentVersion?
    /// `notify: { webhook: URL }`: every board POSTs the cluster's events there as JSON; nil: none.
    public var webhook: WebhookTarget? = nil
    /// `secrets:`: values one board reads from a file and gossip carries to all (SharedSecrets.swift).
    public var secrets: [SharedSecretSpec] = []
    /// `facts:`: values each board of a role reads from its own file and publishes in its metadata (NodeFacts.swift).
    public var facts: [NodeFactSpec] = []

    public init(generation: UInt64, cluster: String, nodes: [NodeAssignment] = [], roles: [Role] = [],
                vips: [VirtualIP] = [], probes: [Probe] = []) {
        self.generation = generation
        self.cluster = cluster
        self.nodes = nodes
        self.roles = roles
        self.vips = vips
        self.probes = probes
    }

    /// The roles given to a node; empty for a node the document does not name.
    public func roles(of node: String) -> [String] {
        nodes.first { $0.name == node }?.roles ?? []
    }

    public func role(named name: String) -> Role? { roles.first { $0.name == name } }
    /// The nodes the document gives a role, in the document's order.
    public func nodes(withRole role: String) -> [NodeAssignment] { nodes.filter { $0.roles.contains(role) } }
    public func vip(named name: String) -> VirtualIP? { vips.first { $0.name == name } }
    public func probe(named name: String) -> Probe? { probes.first { $0.name == name } }
}

public struct NodeAssignment: Sendable, Equatable {
    public var name: String
    public var roles: [String]
    /// The node's address as the document lists it (`nodes: { n1: { roles: [...], address: IP } }`): what
    /// templates print for `N.address`. Not the live membership: a flapping board must not rewrite files.
    public var address: IPAddress?
    public init(name: String, roles: [String], address: IPAddress? = nil) {
        self.name = name
        self.roles = roles
        self.address = address
    }
}

public struct Role: Sendable, Equatable {
    public var name: String
    public var units: [UnitSpec]
    /// Files the role's boards keep as the document says (ManagedFile).
    public var files: [ManagedFile]
    public init(name: String, units: [UnitSpec], files: [ManagedFile] = []) {
        self.name = name
        self.units = units
        self.files = files
    }
}

/// A file a role keeps on each of its boards: written atomically when its rendered content, mode or owner
/// differs, repaired after a hand edit, left as it is once the document drops it.
public struct ManagedFile: Sendable, Equatable {
    public var path: String
    /// Permission bits, e.g. 0o644.
    public var mode: UInt32
    /// root:root unless the document says `owner: user:group` (then the agent needs CAP_CHOWN, given in a drop-in).
    public var owner: FileOwner
    public var content: Template
    /// A command run on the new content before it replaces the old (`%s` is the new file's path); nil: none.
    public var validate: [String]?
    /// Units restarted (try-restart: only if running) and reloaded after a write, each once per change.
    public var restart: [String]
    public var reload: [String]
    /// `serial: true`: a restart after a change goes one board of the role at a time (SerialRestarts).
    public var serial: Bool

    public static let defaultMode: UInt32 = 0o644
    public static let secretMode: UInt32 = 0o600

    public init(path: String, mode: UInt32 = ManagedFile.defaultMode, owner: FileOwner = .root, content: Template,
                validate: [String]? = nil, restart: [String] = [], reload: [String] = [], serial: Bool = false) {
        self.serial = serial
        self.path = path
        self.mode = mode
        self.owner = owner
        self.content = content
        self.validate = validate
        self.restart = restart
        self.reload = reload
    }

    /// The mode as written in documents and status: 0644.
    public static func modeText(_ mode: UInt32) -> String {
        var digits = String(mode & 0o7777, radix: 8)
        while digits.count < 4 { digits = "0" + digits }
        return digits
    }
}

/// One systemd unit as a role wants it.
public struct UnitSpec: Sendable, Equatable {
    public enum State: String, Sendable, Equatable { case running, stopped }

    public var name: String
    public var state: State
    /// nil: the document leaves the unit's enablement as it is.
    public var enabled: Bool?
    public var placement: Placement
    /// `wait_for:`: all must hold before the unit is started (WaitCondition.swift); empty: started at once.
    public var waitFor: [WaitCondition]

    public init(name: String, state: State, enabled: Bool? = nil, placement: Placement = .all, waitFor: [WaitCondition] = []) {
        self.name = name
        self.state = state
        self.enabled = enabled
        self.placement = placement
        self.waitFor = waitFor
    }
}

/// Where, among the nodes of a role, a unit runs.
public enum Placement: Sendable, Equatable, CustomStringConvertible {
    /// On every node of the role.
    case all
    /// Only on the node that holds the named VIP.
    case vip(String)
    /// On exactly one healthy node of the role.
    case one

    public var description: String {
        switch self {
        case .all: return "all"
        case .vip(let name): return "vip:\(name)"
        case .one: return "one"
        }
    }
}

/// A virtual IP elected by VRRP among the nodes.
public struct VirtualIP: Sendable, Equatable {
    public var name: String
    /// The first (or only) address: the one the VIP is known by in templates and logs.
    public var address: IPPrefix
    /// `address: [A, B, ...]`: the addresses after the first, of the same family, held and advertised together
    /// (one VRRPv3 advertisement lists them all, as keepalived's `virtual_ipaddress` block does).
    public var moreAddresses: [IPPrefix] = []
    /// `group: NAME`: VIPs of one group are held by one board (keepalived's `vrrp_sync_group`); nil: on its own.
    public var group: String? = nil
    public var interface: String
    public var vrid: Int
    /// Advertisement interval; VRRPv3 carries it in centiseconds.
    public var advert: Duration
    public var priority: Priority
    /// Probes whose weights adjust this VIP's priority.
    public var track: [String]
    public var preempt: Bool
    public var preemptDelay: Duration
    /// Peers to send advertisements to, for networks that block multicast; empty: the VRRP multicast group.
    public var unicast: [IPAddress]
    /// `unicast: members`: the peers are the live gossip members' addresses (of the VIP's family), as they come
    /// and go.
    public var unicastToMembers: Bool
    /// Commands run on this board's transitions of the VIP (`notify:`); nil: none.
    public var notify: VIPNotify? = nil

    /// 100 ms: a dead master's VIP moves within 3 intervals plus the skew (about 0.36 s at priority 100), for
    /// 10 packets of 50-70 bytes a second per VIP; keepalived's 1 s default takes 3.6 s.
    public static let defaultAdvert = Duration.milliseconds(100)

    /// Every address of the VIP, the first one first.
    public var addresses: [IPPrefix] { [address] + moreAddresses }

    /// What a board's failing probes add to this VIP's priority there: the weights of its tracked probes that
    /// fail, summed; a tracked name that is no probe (`weight` nil) counts nothing. One rule for this board's
    /// routers (ProbeScheduler, from the probes' health) and for the others' (AdvertisedPriorities, from the names
    /// each gossips as failing).
    public static func trackedAdjustment(tracking track: [String], weight: (String) -> Int?, failing: (String) -> Bool) -> Int {
        track.reduce(0) { sum, name in failing(name) ? sum + (weight(name) ?? 0) : sum }
    }

    public struct Priority: Sendable, Equatable {
        public var `default`: Int
        public var perNode: [String: Int]
        public init(default: Int, perNode: [String: Int] = [:]) {
            self.default = `default`
            self.perNode = perNode
        }
        public func of(_ node: String) -> Int { perNode[node] ?? `default` }
    }

    public init(name: String, address: IPPrefix, interface: String, vrid: Int, advert: Duration = defaultAdvert,
                priority: Priority = Priority(default: 100), track: [String] = [], preempt: Bool = true,
                preemptDelay: Duration = .zero, unicast: [IPAddress] = [], unicastToMembers: Bool = false) {
        self.name = name
        self.address = address
        self.interface = interface
        self.vrid = vrid
        self.advert = advert
        self.priority = priority
        self.track = track
        self.preempt = preempt
        self.preemptDelay = preemptDelay
        self.unicast = unicast
        self.unicastToMembers = unicastToMembers
    }
}

/// A health check run in the agent.
public struct Probe: Sendable, Equatable {
    public enum Check: Sendable, Equatable {
        case tcp(host: String, port: Int)
        /// GET url; healthy when the status is in `expect` and the body contains `body` (if given).
        case http(url: String, expect: ClosedRange<Int>, body: String?)
        /// Runs a command (argv, no shell); healthy on exit status 0.
        case exec([String])
        /// Healthy while the unit's ActiveState is active.
        case unit(String)
        /// Healthy while the file exists and, with maxAge, was modified within it.
        case file(path: String, maxAge: Duration?)
    }

    public var name: String
    public var check: Check
    public var interval: Duration
    public var timeout: Duration
    /// Consecutive passes that make a failing probe healthy again.
    public var rise: Int
    /// Consecutive failures that make a healthy probe failing.
    public var fall: Int
    /// Added to the priority of every VIP that tracks this probe while it fails.
    public var weight: Int
    /// Restart `unit` after `fall` failures.
    public var restart: Bool
    /// The unit this probe watches over (restarted with `restart: true`).
    public var unit: String?
    /// Failures in this first stretch after start do not count.
    public var grace: Duration

    public init(name: String, check: Check, interval: Duration = .seconds(5), timeout: Duration = .seconds(2),
                rise: Int = 2, fall: Int = 3, weight: Int = 0, restart: Bool = false, unit: String? = nil,
                grace: Duration = .zero) {
        self.name = name
        self.check = check
        self.interval = interval
        self.timeout = timeout
        self.rise = rise
        self.fall = fall
        self.weight = weight
        self.restart = restart
        self.unit = unit
        self.grace = grace
    }
}
