// Shared secrets over gossip: which copy of each secret a board keeps (the newest its `from` board made, and
// only one that board sealed where node keys are checked), which it announces and fetches, and what its own
// source file makes of a new version. Pure: the shell reads files, signs, verifies and stores.
import HomecloudSchema

/// One secret's copy as it travels: name, the board that read it, a version that only grows (the source's wall
/// clock in milliseconds when it read the value, or one more than its last), the value, and the origin's
/// Ed25519 signature over all of it (empty where the origin seals nothing). Its description never shows the value.
public struct SharedSecretRecord: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var origin: String
    public var version: UInt64
    public var value: [UInt8]
    public var signature: [UInt8]

    public init(name: String, origin: String, version: UInt64, value: [UInt8], signature: [UInt8] = []) {
        self.name = name
        self.origin = origin
        self.version = version
        self.value = value
        self.signature = signature
    }

    public var description: String { "secret \(name) from \(origin) version \(version)" }

    /// Keeps a signature over a secret from being valid as any other kind of signed message.
    static let context = Array("hcagent shared secret v1\u{0}".utf8)

    /// What the origin signs: the context, the name, the origin, the version and the value, each delimited.
    public var signedBytes: [UInt8] {
        var message = Self.context
        for text in [name, origin] {
            let bytes = Array(text.utf8.prefix(255))
            message.append(UInt8(bytes.count))
            message += bytes
        }
        for shift in stride(from: 56, through: 0, by: -8) { message.append(UInt8(truncatingIfNeeded: version >> UInt64(shift))) }
        message += value
        return message
    }

    /// The value as template text.
    public var text: String { String(decoding: value, as: UTF8.self) }

    /// When the source read it (unix seconds): versions are its wall clock in milliseconds.
    public var madeAt: Int { Int(clamping: version / 1000) }
}

public struct SharedSecretBook: Sendable {
    /// How a received copy stands against the document's node keys (the shell checks the signature).
    public enum Authenticity: Sendable, Equatable {
        /// Sealed by the key node_keys binds to its origin.
        case verified
        /// This board checks no node keys (no trusted_admin_keys): any copy from the right origin name counts.
        case unchecked
        case unsigned
        case badSignature
        /// node_keys binds no key to the origin: nothing it claims can be believed.
        case unbound

        public var accepted: Bool { self == .verified || self == .unchecked }

        /// For the dropped counter's `reason` label and status.
        public var reason: String {
            switch self {
            case .verified: return "verified"
            case .unchecked: return "unchecked"
            case .unsigned: return "unsigned"
            case .badSignature: return "signature"
            case .unbound: return "unbound"
            }
        }
    }

    public enum Outcome: Sendable, Equatable {
        /// Newer than the copy held: keep it (store it in state_dir, pass the value on).
        case accepted
        /// Not newer than the copy held (a relay, a replay): nothing to do.
        case stale
        /// The document names no such secret (yet): ignored.
        case unknown
        /// Claims another origin than the document's `from`: dropped and counted.
        case wrongOrigin
        /// Not sealed by its origin's node key: dropped and counted.
        case refused(Authenticity)
        case tooLarge

        /// A copy someone may have forged (counted in hcagent_secrets_dropped_total).
        public var isDrop: Bool {
            switch self {
            case .wrongOrigin, .refused, .tooLarge: return true
            case .accepted, .stale, .unknown: return false
            }
        }
    }

    public let node: String
    public private(set) var specs: [SharedSecretSpec] = []
    public private(set) var held: [String: SharedSecretRecord] = [:]
    /// Why the last dropped copy of a secret was dropped (status), until a good copy comes.
    public private(set) var dropped: [String: String] = [:]
    private var askedAt: [String: Duration] = [:]
    /// A member announcing a newer copy is asked again at most this often (one that keeps announcing a copy
    /// this board refuses is not hammered).
    public static let fetchRetry = Duration.seconds(2)

    public init(node: String) { self.node = node }

    /// At start, the copies kept in state_dir (checked when they were received): the newest of each name.
    public mutating func restore(_ records: [SharedSecretRecord]) {
        for record in records where (held[record.name]?.version ?? 0) < record.version { held[record.name] = record }
    }

    /// The document's `secrets:`. Returns the names whose copies are forgotten (no longer named, or named with
    /// another origin): the shell removes them from state_dir.
    public mutating func onDocument(_ specs: [SharedSecretSpec]) -> [String] {
        self.specs = specs
        var forgotten: [String] = []
        for (name, record) in held where specs.first(where: { $0.name == name })?.from != record.origin {
            held[name] = nil
            forgotten.append(name)
        }
        for name in Array(dropped.keys) where !specs.contains(where: { $0.name == name }) { dropped[name] = nil }
        return forgotten.sorted()
    }

    /// A copy from a peer's push-pull (or this board's own new one), with the shell's verdict on its seal.
    public mutating func onReceived(_ record: SharedSecretRecord, authenticity: Authenticity) -> Outcome {
        guard let spec = specs.first(where: { $0.name == record.name }) else { return .unknown }
        let outcome: Outcome
        if record.origin != spec.from {
            outcome = .wrongOrigin
        } else if !authenticity.accepted {
            outcome = .refused(authenticity)
        } else if record.value.count > SharedSecretSpec.maxValueBytes {
            outcome = .tooLarge
        } else if let current = held[record.name], current.version >= record.version {
            return .stale
        } else {
            held[record.name] = record
            dropped[record.name] = nil
            return .accepted
        }
        dropped[record.name] = Self.dropReason(outcome, record: record, spec: spec)
        return outcome
    }

    static func dropReason(_ outcome: Outcome, record: SharedSecretRecord, spec: SharedSecretSpec) -> String {
        switch outcome {
        case .wrongOrigin: return "dropped a copy claiming origin \(record.origin), the document says from \(spec.from)"
        case .refused(.unsigned): return "dropped a copy not sealed by \(spec.from)'s node key"
        case .refused(.badSignature): return "dropped a copy whose seal is not \(spec.from)'s node key"
        case .refused(.unbound): return "dropped a copy: node_keys binds no key to \(spec.from)"
        case .tooLarge: return "dropped a copy larger than \(SharedSecretSpec.maxValueBytes) bytes"
        default: return ""
        }
    }

    /// Source side: the version a new copy of `name` is made at when the file reads `value` now, or nil when the
    /// copy held has that value already. Above the last copy's version whatever the clock says.
    public func nextVersion(name: String, value: [UInt8], wallMillis: UInt64) -> UInt64? {
        guard let current = held[name], current.origin == node else { return max(wallMillis, 1) }
        if current.value == value { return nil }
        return max(current.version + 1, wallMillis)
    }

    /// The copies the document names with their origin: what templates, status and push-pull frames use.
    public var current: [SharedSecretRecord] {
        specs.compactMap { spec in held[spec.name].flatMap { $0.origin == spec.from ? $0 : nil } }
    }

    public var values: SharedSecretValues {
        SharedSecretValues(Dictionary(current.map { ($0.name, $0.text) }, uniquingKeysWith: { first, _ in first }))
    }

    /// name → version of each copy held: carried in this board's metadata ("sv") so that others fetch what they lack.
    public var announced: [String: UInt64] { Dictionary(current.map { ($0.name, $0.version) }, uniquingKeysWith: { first, _ in first }) }

    /// Whether `member`, announcing `theirs` (name → version), holds a copy newer than this board's of a secret the
    /// document names; if so, and it was not asked within fetchRetry, the ask is noted and the answer is yes.
    public mutating func shouldFetch(from member: String, announced theirs: [String: UInt64], now: Duration) -> Bool {
        guard member != node else { return false }
        let newer = theirs.contains { name, version in
            specs.contains { $0.name == name } && version > (held[name]?.version ?? 0)
        }
        guard newer else { return false }
        if let last = askedAt[member], now - last < Self.fetchRetry { return false }
        askedAt[member] = now
        return true
    }

    public mutating func forget(member: String) { askedAt[member] = nil }

    /// What `hcctl status` shows of each secret: held ones with their fingerprint and age, the others waiting
    /// with why (`sourceProblems`: this board's own sources that cannot be read, by name).
    public func report(fingerprint: (SharedSecretRecord) -> String, sourceProblems: [String: String], wallSeconds: Int) -> [SecretStatus] {
        specs.map { spec in
            if let record = held[spec.name], record.origin == spec.from {
                var status = SecretStatus(name: spec.name, from: spec.from, state: "held", fingerprint: fingerprint(record),
                                          madeAt: record.madeAt, age: max(0, wallSeconds - record.madeAt))
                // A source whose file went away keeps publishing its last copy, and says so.
                status.reason = sourceProblems[spec.name] ?? dropped[spec.name]
                return status
            }
            if let problem = sourceProblems[spec.name] {
                return SecretStatus(name: spec.name, from: spec.from, state: problem.hasPrefix("refused") ? "refused" : "waiting", reason: problem)
            }
            let reason = spec.from == node ? "not read yet" : "not received from \(spec.from) yet"
            return SecretStatus(name: spec.name, from: spec.from, state: dropped[spec.name] == nil ? "waiting" : "refused",
                                reason: dropped[spec.name].map { "\(reason); \($0)" } ?? reason)
        }
    }
}

/// Which of the document's secrets this board reads and publishes: those `from` it whose file its own
/// agent.yaml policy lets it read (`policy.secrets`); without a policy every one (with the agent's warning).
public enum SharedSecretSources {
    public static func plan(_ specs: [SharedSecretSpec], node: String, policy: LocalPolicy?, policyFile: String)
        -> (read: [SharedSecretSpec], refused: [String: String]) {
        var read: [SharedSecretSpec] = []
        var refused: [String: String] = [:]
        for spec in specs where spec.from == node {
            if let policy, !policy.allowsSecret(spec.file) {
                refused[spec.name] = "refused: \(spec.file) is not allowed by policy.secrets in \(policyFile); this board does not publish it"
            } else {
                read.append(spec)
            }
        }
        return (read, refused)
    }

    /// A source file's bytes as the secret's value: one trailing newline dropped (token files end with one;
    /// the template adds its own), or why it cannot be one.
    public static func value(of bytes: [UInt8]) -> Result<[UInt8], SourceProblem> {
        var value = bytes
        if value.last == UInt8(ascii: "\n") { value.removeLast() }
        if value.last == UInt8(ascii: "\r") { value.removeLast() }
        guard value.count <= SharedSecretSpec.maxValueBytes else { return .failure(.tooLarge(bytes.count)) }
        guard Array(String(decoding: value, as: UTF8.self).utf8) == value else { return .failure(.notText) }
        guard !value.isEmpty else { return .failure(.empty) }
        return .success(value)
    }

    public enum SourceProblem: Error, Sendable, Equatable, CustomStringConvertible {
        case tooLarge(Int), notText, empty
        public var description: String {
            switch self {
            case .tooLarge(let size): return "the file has \(size) bytes; a secret is at most \(SharedSecretSpec.maxValueBytes)"
            case .notText: return "the file is not UTF-8 text"
            case .empty: return "the file is empty"
            }
        }
    }
}

/// The secrets section of a push-pull frame: "S1", a count (2 bytes), then per copy the name and the origin
/// (1-byte lengths), the version (8 bytes), the signature (1-byte length) and the value (4-byte length); all
/// big-endian. The frame is sealed with the cluster key like every gossip packet.
public enum SharedSecretWire {
    static let magic: [UInt8] = [0x53, 0x31]
    static let maxRecords = 256

    /// What a push-pull frame to a peer carries: the records only where the peer's metadata says it reads them.
    /// An older agent (or one whose metadata is not known yet) gets none: it would take them as part of the
    /// document's text and refuse that document; it fetches them after its upgrade, by the next push-pull.
    public static func records(_ records: [SharedSecretRecord], forPeer metadata: NodeMetadata?) -> [SharedSecretRecord] {
        metadata?.readsSecretFrames == true ? records : []
    }

    public static func encode(_ records: [SharedSecretRecord]) -> [UInt8] {
        var bytes = magic
        let records = records.prefix(maxRecords)
        bytes += [UInt8(records.count >> 8), UInt8(records.count & 0xFF)]
        for record in records {
            for text in [record.name, record.origin] {
                let field = Array(text.utf8.prefix(255))
                bytes.append(UInt8(field.count))
                bytes += field
            }
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: record.version >> UInt64(shift))) }
            let signature = record.signature.prefix(255)
            bytes.append(UInt8(signature.count))
            bytes += signature
            let count = UInt32(clamping: record.value.count)
            bytes += [UInt8(count >> 24), UInt8((count >> 16) & 0xFF), UInt8((count >> 8) & 0xFF), UInt8(count & 0xFF)]
            bytes += record.value
        }
        return bytes
    }

    public static func decode(_ bytes: ArraySlice<UInt8>) throws(GossipDecodeError) -> [SharedSecretRecord] {
        var reader = ByteReader(bytes: bytes)
        guard try reader.take(2) == magic[...] else { throw .badMagic }
        let count = Int(try reader.integer(2))
        guard count <= maxRecords else { throw .tooLarge }
        var records: [SharedSecretRecord] = []
        for _ in 0..<count {
            let name = String(decoding: try reader.take(Int(try reader.integer(1))), as: UTF8.self)
            let origin = String(decoding: try reader.take(Int(try reader.integer(1))), as: UTF8.self)
            let version = try reader.integer(8)
            let signature = Array(try reader.take(Int(try reader.integer(1))))
            let length = Int(try reader.integer(4))
            guard length <= SharedSecretSpec.maxValueBytes else { throw .tooLarge }
            let value = Array(try reader.take(length))
            guard !name.isEmpty, !origin.isEmpty else { throw .badName }
            records.append(SharedSecretRecord(name: name, origin: origin, version: version, value: value, signature: signature))
        }
        guard reader.bytes.isEmpty else { throw .badLength }
        return records
    }

    private struct ByteReader {
        var bytes: ArraySlice<UInt8>
        mutating func take(_ count: Int) throws(GossipDecodeError) -> ArraySlice<UInt8> {
            guard bytes.count >= count else { throw .truncated }
            let taken = bytes.prefix(count)
            bytes = bytes.dropFirst(count)
            return taken
        }
        mutating func integer(_ size: Int) throws(GossipDecodeError) -> UInt64 {
            try take(size).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        }
    }
}
