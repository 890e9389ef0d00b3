// What a node tells the others about itself in gossip metadata: a JSON object within 512 bytes, read from
// any peer, so decoding takes whatever bytes come and keeps only what it understands.
import HomecloudSchema

/// What a node tells the others about itself in gossip metadata (at most 512 bytes): agent version, the
/// desired generation and content hash it runs, and its roles. JSON, so a later version can add fields.
public struct NodeMetadata: Sendable, Equatable {
    public var version: String
    public var generation: UInt64
    public var hash: UInt64
    public var roles: [String]
    /// converged, converging or degraded; nil before the reconciler has said.
    public var convergence: String?
    /// Targeted handovers this node asks for: VIP name → the node that should take it.
    public var handovers: [String: String] = [:]
    /// Its probes (nil before they have run) and the VIPs it holds.
    public var probes: ProbeSummary?
    public var vips: [String] = []
    /// Taken out for maintenance (hcctl drain): `one` units go elsewhere, its VIPs only as the last live board.
    /// On the wire ("dr") only when true, so an older agent's metadata (and what it reads) is as before.
    public var drained = false
    /// Drains asked of other boards (hcctl drain NODE): node → drained (true) or back in service (false). Acted
    /// on only where the asker signed its metadata with its own node key (or nothing is checked).
    public var drainRequests: [String: Bool] = [:]
    /// The generation this board has finished its serial restarts for ("sr", SerialRestarts); nil: not said (an
    /// agent without serial restarts, or before its reconciler has run).
    public var serialDone: UInt64?
    /// The shared secrets this node holds: name → version ("sv"), so a board holding an older one fetches.
    public var secretVersions: [String: UInt64] = [:]
    /// A restart this board coordinates (hcctl restart), on the wire as "rq"; acted on only where it is believed,
    /// as drain requests are.
    public var restartRequest: RestartRequest?
    /// The last restart this board was asked for and how it went ("rd"), for the coordinator to follow.
    public var restartReport: RestartReport?
    /// This agent reads the shared secrets' section of a push-pull frame ("ss": true). An agent from before it
    /// (a7d0970) takes every byte after the member state as the document's text, so secrets are sent only to
    /// peers that say this (SharedSecretWire.records(_:forPeer:)); a mixed-version cluster keeps taking documents.
    public var readsSecretFrames = false
    /// Its `placement: one` units that are not quiet here ("oc", SingletonClaims); nil: not said (an older agent,
    /// units not read yet, or cut to fit), which the fast start reads as "may run any of them".
    public var singletonClaims: SingletonClaims?
    /// This board's per-board facts (the document's `facts:`): name → value ("nf"), for the others' templates.
    public var facts: [String: String] = [:]

    public init(version: String, generation: UInt64, hash: UInt64, roles: [String], convergence: String? = nil) {
        self.version = version
        self.generation = generation
        self.hash = hash
        self.roles = roles
        self.convergence = convergence
    }

    public init?(_ bytes: [UInt8]) {
        guard !bytes.isEmpty, let value = try? JSONValue.parse(bytes), let version = value["v"]?.string,
              let generation = value["g"]?.int, let hashText = value["h"]?.string, let hash = UInt64(hashText, radix: 16) else { return nil }
        self.version = version
        self.generation = UInt64(max(0, generation))
        self.hash = hash
        roles = value["r"]?.array?.compactMap(\.string) ?? []
        convergence = value["c"]?.string
        if case .object(let pairs)? = value["ho"] {
            for (vip, target) in pairs { if let target = target.string { handovers[vip] = target } }
        }
        if let count = value["pn"]?.int {
            probes = ProbeSummary(count: max(0, Int(count)), failing: value["pf"]?.array?.compactMap(\.string) ?? [],
                                  unknown: value["pu"]?.array?.compactMap(\.string) ?? [])
        }
        vips = value["vh"]?.array?.compactMap(\.string) ?? []
        if case .bool(true)? = value["dr"] { drained = true }
        if case .object(let pairs)? = value["dq"] {
            for (node, wanted) in pairs { if case .bool(let flag) = wanted { drainRequests[node] = flag } }
        }
        if let done = value["sr"]?.int, done >= 0 { serialDone = UInt64(done) }
        if case .object(let pairs)? = value["sv"] {
            for (name, version) in pairs { if let version = version.int, version > 0 { secretVersions[name] = UInt64(version) } }
        }
        if let request = value["rq"], let id = request["i"]?.string {
            restartRequest = RestartRequest(id: id, units: request["u"]?.array?.compactMap(\.string) ?? [],
                                            nodes: request["n"]?.array?.compactMap(\.string) ?? [], successor: request["s"]?.string)
        }
        if let report = value["rd"]?.array, report.count == 2, let id = report[0].string, let text = report[1].string {
            restartReport = RestartReport(id: id, text: text)
        }
        if case .bool(true)? = value["ss"] { readsSecretFrames = true }
        // All or nothing: a list with anything but names in it says nothing.
        if let claims = value["oc"], let generation = claims["g"]?.int, generation >= 0, let list = claims["u"]?.array {
            let names = list.compactMap(\.string)
            if names.count == list.count { singletonClaims = SingletonClaims(generation: UInt64(generation), units: names) }
        }
        if case .object(let pairs)? = value["nf"] {
            for (name, text) in pairs { if let text = text.string { facts[name] = text } }
        }
    }

    public var bytes: [UInt8] { encoded(within: GossipMember.maxMetadataBytes) }

    /// The JSON within `limit` bytes (less than gossip's 512 when a node-key seal is to be added around it).
    public func encoded(within limit: Int) -> [UInt8] {
        var members: [(String, JSONValue)] = [
            ("v", .string(version)), ("g", JSONValue.integer(generation)), ("h", .string(String(hash, radix: 16))),
            ("r", .array(roles.map { .string($0) })),
        ]
        if let convergence { members.append(("c", .string(convergence))) }
        if !handovers.isEmpty {
            members.append(("ho", .object(handovers.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) })))
        }
        if let probes {
            members.append(("pn", JSONValue.integer(probes.count)))
            if !probes.failing.isEmpty { members.append(("pf", .array(probes.failing.map { .string($0) }))) }
            if !probes.unknown.isEmpty { members.append(("pu", .array(probes.unknown.map { .string($0) }))) }
        }
        if !vips.isEmpty { members.append(("vh", .array(vips.map { .string($0) }))) }
        if drained { members.append(("dr", .bool(true))) }
        if let serialDone { members.append(("sr", JSONValue.integer(serialDone))) }
        if !drainRequests.isEmpty {
            members.append(("dq", .object(drainRequests.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.bool($0.value)) })))
        }
        if !secretVersions.isEmpty {
            members.append(("sv", .object(secretVersions.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.integer($0.value)) })))
        }
        if let restartRequest {
            var fields: [(String, JSONValue)] = [("i", .string(restartRequest.id)), ("u", .array(restartRequest.units.map { .string($0) })),
                                                 ("n", .array(restartRequest.nodes.map { .string($0) }))]
            if let successor = restartRequest.successor { fields.append(("s", .string(successor))) }
            members.append(("rq", .object(fields)))
        }
        if let restartReport { members.append(("rd", .array([.string(restartReport.id), .string(restartReport.text)]))) }
        if readsSecretFrames { members.append(("ss", .bool(true))) }
        if let singletonClaims {
            members.append(("oc", .object([("g", JSONValue.integer(singletonClaims.generation)),
                                           ("u", .array(singletonClaims.units.map { .string($0) }))])))
        }
        if !facts.isEmpty { members.append(("nf", .object(facts.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) }))) }
        var encoded = Array(JSONValue.object(members).serialized.utf8)
        // Lists are what may not fit: drop the secrets' versions (the periodic push-pull carries the secrets
        // anyway), the `one` units' claims (whole: without them no board starts one fast, the safe side), the
        // roles, then the failing and unknown probes' names (keeping that some are: "?", which wait_for reads as
        // no probe healthy there), then the VIPs, then the facts (the others keep their last value), before going
        // over the limit.
        if encoded.count > limit {
            var trimmed = self
            if !trimmed.secretVersions.isEmpty {
                trimmed.secretVersions = [:]
            } else if trimmed.singletonClaims != nil {
                trimmed.singletonClaims = nil
            } else if !trimmed.roles.isEmpty {
                trimmed.roles = []
            } else if let probes = trimmed.probes, probes.failing != ["?"], !probes.failing.isEmpty {
                trimmed.probes?.failing = ["?"]
            } else if let probes = trimmed.probes, probes.unknown != ["?"], !probes.unknown.isEmpty {
                trimmed.probes?.unknown = ["?"]
            } else if !trimmed.vips.isEmpty {
                trimmed.vips = []
            } else if !trimmed.facts.isEmpty {
                trimmed.facts = [:]
            } else if !trimmed.handovers.isEmpty {
                trimmed.handovers = [:]
            } else if !trimmed.drainRequests.isEmpty {
                trimmed.drainRequests = [:]
            } else {
                return encoded
            }
            encoded = trimmed.encoded(within: limit)
        }
        return encoded
    }
}
