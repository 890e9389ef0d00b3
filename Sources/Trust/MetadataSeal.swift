// Signed gossip metadata: a board seals its metadata with its node key (over its name, a sequence that only
// grows and the bytes), and every board opens a member's metadata with the key the admin-signed document binds
// to that member's name, keeping the last verified one when a forged or replayed one comes.

/// The wire form: `0xED`, the sequence (8 bytes, big-endian), the Ed25519 signature (64 bytes), then the
/// metadata bytes (JSON) unchanged. Plain metadata starts with `{`, so both forms can be told apart.
public enum MetadataSeal {
    public static let marker: UInt8 = 0xED
    /// What sealing adds to the metadata: the marker, the sequence, the signature.
    public static let overhead = 1 + 8 + Ed25519.signatureSize
    /// Keeps a signature over metadata from being valid as any other kind of signed message.
    static let context = Array("hcagent node metadata v1\u{0}".utf8)

    public enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        /// Plain metadata from a member whose name has a node key: anyone with the gossip key can send that.
        case unsigned
        case malformed
        case badSignature
        /// A genuine but older metadata than one already verified: a replay.
        case replayed(sequence: UInt64, verified: UInt64)

        /// For the metric's `reason` label.
        public var reason: String {
            switch self {
            case .unsigned: return "unsigned"
            case .malformed: return "malformed"
            case .badSignature: return "signature"
            case .replayed: return "replayed"
            }
        }

        public var description: String {
            switch self {
            case .unsigned: return "its metadata is not signed, and the document binds a node key to its name"
            case .malformed: return "its metadata is not readable as signed metadata"
            case .badSignature: return "its metadata is not signed by the node key the document binds to its name (a board reinstalled or given a new SD card makes a new key: bind its line, from hcctl keys node on it, in node_keys; or another board speaks under its name)"
            case .replayed(let sequence, let verified):
                return "its metadata carries sequence \(sequence), older than the \(verified) already verified (a replay)"
            }
        }
    }

    static func message(name: String, sequence: UInt64, metadata: ArraySlice<UInt8>) -> [UInt8] {
        let nameBytes = Array(name.utf8.prefix(255))
        var message = context
        message.append(UInt8(nameBytes.count))
        message += nameBytes
        for shift in stride(from: 56, through: 0, by: -8) { message.append(UInt8(truncatingIfNeeded: sequence >> UInt64(shift))) }
        message += metadata
        return message
    }

    public static func seal(metadata: [UInt8], name: String, sequence: UInt64, key: NodeKey) -> [UInt8] {
        let signature = key.sign(message(name: name, sequence: sequence, metadata: metadata[...]))
        var sealed: [UInt8] = [marker]
        for shift in stride(from: 56, through: 0, by: -8) { sealed.append(UInt8(truncatingIfNeeded: sequence >> UInt64(shift))) }
        sealed += signature
        sealed += metadata
        return sealed
    }

    public static func isSealed(_ bytes: [UInt8]) -> Bool { bytes.first == marker }

    /// The metadata inside, unverified: for a board that checks nothing, or a member with no bound key.
    public static func payload(_ bytes: [UInt8]) -> [UInt8] {
        guard isSealed(bytes) else { return bytes }
        return bytes.count > overhead ? Array(bytes[overhead...]) : []
    }

    /// The sequence and metadata of bytes sealed by `key` for `name`, or why not.
    public static func open(_ bytes: [UInt8], name: String, key: NodePublicKey) -> Result<(sequence: UInt64, metadata: [UInt8]), Refusal> {
        guard isSealed(bytes) else { return .failure(.unsigned) }
        guard bytes.count >= overhead else { return .failure(.malformed) }
        let sequence = bytes[1..<9].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let signature = Array(bytes[9..<overhead])
        let metadata = bytes[overhead...]
        guard key.verify(signature, of: message(name: name, sequence: sequence, metadata: metadata)) else { return .failure(.badSignature) }
        return .success((sequence, Array(metadata)))
    }
}

/// This board's side: seals its metadata when it changes, and hands back the same bytes while it does not
/// (a new sequence on unchanged metadata would make gossip spread a change that is none).
public struct MetadataSealer: Sendable {
    public let key: NodeKey
    public let name: String
    private var lastPlain: [UInt8]?
    private var lastSealed: [UInt8] = []

    public init(key: NodeKey, name: String) {
        self.key = key
        self.name = name
    }

    /// `sequence`: a number that only grows across the board's life, such as the gossip incarnation the
    /// metadata is set at (kept in state_dir, above every earlier one).
    public mutating func sealed(_ metadata: [UInt8], sequence: UInt64) -> [UInt8] {
        if metadata == lastPlain { return lastSealed }
        lastPlain = metadata
        lastSealed = MetadataSeal.seal(metadata: metadata, name: name, sequence: sequence, key: key)
        return lastSealed
    }
}

/// Every other board's side: which key speaks for which name (from the admin-signed document), and the last
/// verified metadata of each member, so a forged or replayed one changes nothing.
public struct VerifiedMetadataBook: Sendable {
    public enum Standing: Sendable, Equatable {
        /// The board checks nothing (no trusted_admin_keys): as before node keys.
        case unchecked
        /// Signed by the member's bound key, at a sequence not below the last verified one.
        case verified
        /// The document binds no key to this name: shown, never acted on.
        case unbound
        /// The latest metadata was refused; `metadata` is the last verified one, if any.
        case refused(MetadataSeal.Refusal)

        /// What `hcctl members` shows.
        public var label: String {
            switch self {
            case .unchecked: return "unchecked"
            case .verified: return "verified"
            case .unbound: return "unbound"
            case .refused(let refusal): return "refused (\(refusal.reason))"
            }
        }
    }

    public struct Reading: Sendable, Equatable {
        /// The metadata to use (JSON bytes); nil when none can be believed or read.
        public var metadata: [UInt8]?
        public var standing: Standing
        /// Set only the first time these bytes are refused: count it.
        public var newRefusal: MetadataSeal.Refusal?
        /// A line to log, at most one a minute per member.
        public var logLine: String?

        /// Whether requests in the metadata (handovers, later drain and restarts) may be acted on: only what
        /// the member itself signed, or anything on a board that checks nothing.
        public var mayActOn: Bool {
            guard metadata != nil else { return false }
            switch standing {
            case .unchecked, .verified, .refused: return true
            case .unbound: return false
            }
        }
    }

    private struct Record: Sendable {
        var raw: [UInt8]
        var reading: Reading
        var verified: (sequence: UInt64, metadata: [UInt8])?
        var lastLog: Duration?
    }

    public let enforcing: Bool
    public private(set) var keys: [String: NodePublicKey]
    private var records: [String: Record] = [:]
    public static let logInterval = Duration.seconds(60)

    /// `enforcing`: the board has trusted admin keys; without, every metadata is read unchecked.
    public init(enforcing: Bool, keys: [String: NodePublicKey] = [:]) {
        self.enforcing = enforcing
        self.keys = keys
    }

    /// The document's bindings. A member whose key changed starts over (its old sequence belonged to the old
    /// key); every member is read again.
    public mutating func bind(_ keys: [String: NodePublicKey]) {
        for name in Array(records.keys) {
            if self.keys[name] != keys[name] { records[name] = nil } else { records[name]?.raw = [] }
        }
        self.keys = keys
    }

    /// The member's metadata as this board may believe it.
    public mutating func read(name: String, bytes: [UInt8], now: Duration) -> Reading {
        if let record = records[name], record.raw == bytes {
            var reading = record.reading
            reading.newRefusal = nil
            reading.logLine = nil
            return reading
        }
        var record = records[name] ?? Record(raw: bytes, reading: Reading(metadata: nil, standing: .unchecked), verified: nil, lastLog: nil)
        record.raw = bytes
        var reading: Reading
        if !enforcing {
            reading = Reading(metadata: Self.readable(MetadataSeal.payload(bytes)), standing: .unchecked)
        } else if let key = keys[name] {
            var refusal: MetadataSeal.Refusal?
            switch MetadataSeal.open(bytes, name: name, key: key) {
            case .success(let opened):
                if let verified = record.verified, opened.sequence < verified.sequence {
                    refusal = .replayed(sequence: opened.sequence, verified: verified.sequence)
                } else {
                    record.verified = opened
                }
            case .failure(let why):
                // No metadata yet (a member just joined) is not a forgery.
                refusal = bytes.isEmpty ? nil : why
            }
            if let refusal {
                reading = Reading(metadata: record.verified.map(\.metadata), standing: .refused(refusal), newRefusal: refusal)
                if record.lastLog.map({ now - $0 >= Self.logInterval }) ?? true {
                    record.lastLog = now
                    reading.logLine = "dropped gossip metadata for \(name): \(refusal); keeping "
                        + (record.verified.map { "the one verified at sequence \($0.sequence)" } ?? "none (none verified yet)")
                }
            } else {
                reading = Reading(metadata: record.verified.map(\.metadata), standing: .verified)
            }
        } else {
            reading = Reading(metadata: Self.readable(MetadataSeal.payload(bytes)), standing: .unbound)
        }
        var kept = reading
        kept.newRefusal = nil
        kept.logLine = nil
        record.reading = kept
        records[name] = record
        return reading
    }

    private static func readable(_ bytes: [UInt8]) -> [UInt8]? { bytes.isEmpty ? nil : bytes }
}
