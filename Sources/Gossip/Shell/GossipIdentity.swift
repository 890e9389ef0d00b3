// Gossip's node identity for the shell: this board's node key seals its metadata, and the document's node_keys
// decide whose metadata is believed; what is refused is counted and logged. The rules are in Trust
// (MetadataSeal, MetadataSealer, VerifiedMetadataBook); this only wires them to config, logs and metrics.
import HomecloudSchema
import Logging
import Metrics
import Trust

public struct GossipIdentity {
    /// nil when the node key cannot be read or made (then metadata goes out unsealed and the others, if they
    /// check, keep their last verified one of this board).
    private var sealer: MetadataSealer?
    private var book: VerifiedMetadataBook
    private let name: String
    private let logger: Logger
    private var refusedCounters: [String: Counter] = [:]
    private var boundOnce = false
    /// The node key was made at this start: state_dir had none (a first start, a new SD card, a reinstall).
    private var keyMadeNow = false
    /// Member → its believed metadata bytes and what they parse to: the document check reads every member's
    /// metadata each second, and it rarely changes.
    private var parsed: [String: (bytes: [UInt8], metadata: NodeMetadata?)] = [:]

    /// The JSON's room inside gossip's 512 bytes once sealed.
    static let metadataLimit = GossipMember.maxMetadataBytes - MetadataSeal.overhead

    /// `enforcing`: agent.yaml lists trusted_admin_keys (then metadata is sealed and checked).
    init(node: String, stateDir: String, enforcing: Bool, logger: Logger) {
        name = node
        self.logger = logger
        book = VerifiedMetadataBook(enforcing: enforcing)
        // Made on every board, so its public line can go into node_keys before trusted_admin_keys are turned on.
        let path = stateDir + "/" + NodeKey.fileName
        do {
            let (key, created) = try NodeKey.loadOrCreate(at: path)
            keyMadeNow = created
            if created { logger.notice("made this board's node key in \(path); its public line, for desired.yaml's node_keys: \(node): \"\(key.publicKey.line)\"") }
            // Sealed only where trusted keys are configured: a board that checks nothing sends what it always did.
            if enforcing { sealer = MetadataSealer(key: key, name: node) }
        } catch {
            logger.error("node key unavailable (\(error)): this board's gossip metadata goes out unsigned, and boards that check node keys keep their last verified one")
        }
    }

    /// The document's node_keys; a line that does not parse binds nothing (its node stays unbound), with a log line.
    mutating func bind(_ document: DesiredState) {
        var keys: [String: NodePublicKey] = [:]
        for (node, line) in document.nodeKeys {
            do {
                keys[node] = try NodePublicKey(line: line)
            } catch {
                logger.error("node_keys.\(node) in generation \(document.generation): \(error); \(node)'s metadata is not believed")
            }
        }
        guard keys != book.keys || !boundOnce else { return }
        boundOnce = true
        book.bind(keys)
        guard book.enforcing, let sealer else { return }
        if let bound = keys[name], bound != sealer.key.publicKey, keyMadeNow {
            // A board whose SD card was replaced comes back under its old name with a new key: it rejoins, takes
            // the document and runs its units, but the document decides whose word counts (SECURITY.md: why
            // not first use), so say exactly what the admin does about it.
            logger.error("node_keys binds \(bound.id) to this board (\(name)), but its node key is \(sealer.key.publicKey.id), made at this start (state_dir had none: a new SD card or a reinstall?): this board rejoins and runs its units, but the others keep its last verified metadata and ignore its requests until a signed document binds \(name): \"\(sealer.key.publicKey.line)\" (or restore the old state_dir/node.key)")
        } else if let bound = keys[name], bound != sealer.key.publicKey {
            logger.error("node_keys binds \(bound.id) to this board (\(name)), but its node key is \(sealer.key.publicKey.id): the others will not believe its metadata")
        } else if keys[name] == nil {
            logger.warning("node_keys binds no key to this board (\(name)): the others show its metadata as unbound and do not act on its requests; add \(name): \"\(sealer.key.publicKey.line)\"")
        }
    }

    /// This board's metadata as it goes into gossip: sealed at `sequence` (the incarnation it is set at).
    mutating func seal(_ metadata: NodeMetadata, sequence: UInt64) -> [UInt8] {
        guard sealer != nil else { return metadata.bytes }
        return sealer!.sealed(metadata.encoded(within: Self.metadataLimit), sequence: sequence)
    }

    /// What a member's metadata says, unverified: only to judge whether a document it sent is worth parsing
    /// (the document itself is checked against the admin keys whatever its sender claims).
    static func peek(_ bytes: [UInt8]) -> NodeMetadata? { NodeMetadata(MetadataSeal.payload(bytes)) }

    /// A member's metadata as this board believes it; `reading.mayActOn` says whether its requests count.
    mutating func read(_ member: GossipMember, now: Duration) -> (metadata: NodeMetadata?, reading: VerifiedMetadataBook.Reading) {
        let reading = book.read(name: member.name, bytes: member.metadata, now: now)
        if let refusal = reading.newRefusal {
            if refusedCounters[refusal.reason] == nil {
                refusedCounters[refusal.reason] = Counter(label: "hcagent_gossip_metadata_refused_total", dimensions: [("reason", refusal.reason)])
            }
            refusedCounters[refusal.reason]?.increment()
        }
        if let line = reading.logLine { logger.warning("\(line)") }
        guard let bytes = reading.metadata else { return (nil, reading) }
        if let cached = parsed[member.name], cached.bytes == bytes { return (cached.metadata, reading) }
        let metadata = NodeMetadata(bytes)
        parsed[member.name] = (bytes, metadata)
        return (metadata, reading)
    }
}

extension GossipIdentity {
    /// `hcagent --check`'s lines about the document's node_keys on a board that enforces them: each line must
    /// be a key (its id matching), and this board's own name should be bound to its own node key.
    public static func checkLines(node: String, stateDir: String, document: DesiredState, file: String) -> (lines: [String], ok: Bool) {
        var lines: [String] = []
        var ok = true
        for (name, line) in document.nodeKeys.sorted(by: { $0.key < $1.key }) {
            do {
                _ = try NodePublicKey(line: line)
            } catch {
                lines.append("\(file): node_keys.\(name): \(error)")
                ok = false
            }
        }
        let own = try? NodeKey.read(from: stateDir + "/" + NodeKey.fileName)
        guard let bound = document.nodeKeys[node] else {
            lines.append("\(file): warning: node_keys binds no key to this board (\(node)): the others will not act on its requests"
                + (own.map { "; add \(node): \"\($0.publicKey.line)\"" } ?? ""))
            return (lines, ok)
        }
        if let own {
            if (try? NodePublicKey(line: bound)) == own.publicKey {
                lines.append("\(file): node_keys.\(node) is this board's node key (\(own.publicKey.id))")
            } else {
                lines.append("\(file): node_keys.\(node) is not this board's node key (\(own.publicKey.id)): the others will not believe its metadata")
                ok = false
            }
        }
        return (lines, ok)
    }
}
