// Shared secrets on the gossip thread: reads this board's source files (when inotify sees a change, read when the stat differs),
// signs new copies with the node key, checks peers' copies against node_keys, keeps each secret in
// state_dir/secrets/NAME (0600, in a 0700 directory) and says in status and metrics everything but the value.
// The rules are SharedSecretBook's (GossipCore); this carries them out.
import CSodium
import HomecloudSchema
import HomecloudYAML
import Logging
import Metrics
import Trust
#if canImport(Glibc)
import Glibc
#endif

struct SharedSecretKeeper {
    var book: SharedSecretBook
    private let node: String
    private let directory: String
    private let enforcing: Bool
    private let nodeKey: NodeKey?
    private let policy: LocalPolicy?
    private let policyFile: String
    private let logger: Logger
    private var keys: [String: NodePublicKey] = [:]
    /// This board's sources: name → the file's identity when last read (a change of any of it reads it again).
    private var sources: [SharedSecretSpec] = []
    private var lastStat: [String: FileIdentity] = [:]
    /// name → why this board cannot publish it (policy, a missing or unreadable file).
    private(set) var sourceProblems: [String: String] = [:]
    private var lastDropLog: [String: Duration] = [:]
    private var droppedCounters: [String: Counter] = [:]
    private var madeGauges: [String: (labels: [String], gauge: Gauge)] = [:]
    private var warnedNoPolicy = false

    struct FileIdentity: Equatable {
        var device: UInt64, inode: UInt64, size: Int64, modified: Int, modifiedNanos: Int, changed: Int, changedNanos: Int
    }

    init(node: String, stateDir: String, enforcing: Bool, policy: LocalPolicy?, policyFile: String, logger: Logger) {
        self.node = node
        directory = stateDir + "/secrets"
        self.enforcing = enforcing
        self.policy = policy
        self.policyFile = policyFile
        self.logger = logger
        // GossipIdentity has made the key by now; without one, this board's copies go out unsigned.
        nodeKey = try? NodeKey.read(from: stateDir + "/" + NodeKey.fileName)
        book = SharedSecretBook(node: node)
        book.restore(Self.loadKept(directory: directory, logger: logger))
    }

    // MARK: the document

    /// The document's secrets and node keys. Returns whether the values held changed.
    mutating func bind(_ document: DesiredState) -> Bool {
        let before = book.values
        var keys: [String: NodePublicKey] = [:]
        for (name, line) in document.nodeKeys { keys[name] = try? NodePublicKey(line: line) }
        self.keys = keys
        for name in book.onDocument(document.secrets) {
            unlink(directory + "/" + name)
            logger.info("secret \(name): no longer in the document (or from another board): forgotten here")
        }
        let plan = SharedSecretSources.plan(document.secrets, node: node, policy: policy, policyFile: policyFile)
        sources = plan.read
        sourceProblems = plan.refused
        for (name, reason) in plan.refused.sorted(by: { $0.key < $1.key }) { logger.warning("secret \(name): \(reason)") }
        if policy == nil, !sources.isEmpty, !warnedNoPolicy {
            warnedNoPolicy = true
            logger.warning("no policy in agent.yaml: this board publishes every file the document names as its shared secret (\(sources.map(\.file).joined(separator: ", ")))")
        }
        lastStat = lastStat.filter { name, _ in sources.contains { $0.name == name } }
        return book.values != before
    }

    // MARK: this board's sources

    /// This board's source files, for the gossip shell to watch (SourceFileWatchers).
    var sourceFiles: [String] { sources.map(\.file) }

    /// After inotify saw something near a source file (once a second where it cannot watch one): stat each
    /// source file; read it only when it changed. Returns whether a new copy was made, and whether what status
    /// says of the sources changed.
    mutating func pollSources(wallMillis: UInt64) -> (made: Bool, problemsChanged: Bool) {
        let problemsBefore = sourceProblems
        var made = false
        for spec in sources {
            var status = stat()
            guard stat(spec.file, &status) == 0 else {
                let reason = errno == ENOENT ? "waiting for \(spec.file) to appear" : "cannot read \(spec.file): \(String(cString: strerror(errno)))"
                if sourceProblems[spec.name] != reason {
                    sourceProblems[spec.name] = reason
                    logger.info("secret \(spec.name): \(reason)")
                }
                lastStat[spec.name] = nil
                continue
            }
            let identity = FileIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino), size: Int64(status.st_size),
                                        modified: status.st_mtim.tv_sec, modifiedNanos: status.st_mtim.tv_nsec,
                                        changed: status.st_ctim.tv_sec, changedNanos: status.st_ctim.tv_nsec)
            if lastStat[spec.name] == identity { continue }
            lastStat[spec.name] = identity
            var problem: String?
            var value: [UInt8] = []
            switch Self.readSource(spec.file) {
            case .failure(let failure): problem = failure.description
            case .success(let bytes):
                switch SharedSecretSources.value(of: bytes) {
                case .failure(let why): problem = "\(spec.file): \(why)"
                case .success(let read): value = read
                }
            }
            if let problem {
                if sourceProblems[spec.name] != problem { logger.warning("secret \(spec.name): \(problem)") }
                sourceProblems[spec.name] = problem
                continue
            }
            sourceProblems[spec.name] = nil
            guard let version = book.nextVersion(name: spec.name, value: value, wallMillis: wallMillis) else { continue }
            var record = SharedSecretRecord(name: spec.name, origin: node, version: version, value: value)
            if let nodeKey { record.signature = nodeKey.sign(record.signedBytes) }
            if book.onReceived(record, authenticity: .verified) == .accepted {
                keep(record)
                logger.notice("secret \(spec.name): read \(spec.file), publishing version \(version)")
                made = true
            }
        }
        return (made, sourceProblems != problemsBefore)
    }

    // MARK: peers' copies

    /// Copies from a peer's push-pull frame. Returns whether the values held changed.
    mutating func receive(_ records: [SharedSecretRecord], from peer: String, now: Duration) -> Bool {
        var changed = false
        for record in records {
            let outcome = book.onReceived(record, authenticity: authenticity(of: record))
            switch outcome {
            case .accepted:
                keep(record)
                changed = true
                logger.info("secret \(record.name): version \(record.version) from \(record.origin) (via \(peer))")
            case .stale, .unknown:
                break
            case .wrongOrigin, .refused, .tooLarge:
                let reason: String
                switch outcome {
                case .refused(let authenticity): reason = authenticity.reason
                case .tooLarge: reason = "too_large"
                default: reason = "origin"
                }
                if droppedCounters[reason] == nil {
                    droppedCounters[reason] = Counter(label: "hcagent_secrets_dropped_total", dimensions: [("reason", reason)])
                }
                droppedCounters[reason]?.increment()
                if lastDropLog[record.name].map({ now - $0 >= .seconds(60) }) ?? true {
                    lastDropLog[record.name] = now
                    logger.warning("secret \(record.name): \(book.dropped[record.name] ?? reason) (sent by \(peer)); keeping \(book.held[record.name].map { "version \($0.version)" } ?? "none")")
                }
            }
        }
        return changed
    }

    private func authenticity(of record: SharedSecretRecord) -> SharedSecretBook.Authenticity {
        guard enforcing else { return .unchecked }
        guard let key = keys[record.origin] else { return .unbound }
        guard !record.signature.isEmpty else { return .unsigned }
        return key.verify(record.signature, of: record.signedBytes) ? .verified : .badSignature
    }

    // MARK: what others see

    /// Status lines and the metrics' gauges; `clusterKey` keys the fingerprints (nil: gossip runs unencrypted).
    mutating func report(clusterKey: [UInt8]?, wallSeconds: Int) -> [SecretStatus] {
        let statuses = book.report(fingerprint: { Self.fingerprint($0, key: clusterKey) }, sourceProblems: sourceProblems, wallSeconds: wallSeconds)
        var seen: Set<String> = []
        for status in statuses {
            guard let fingerprint = status.fingerprint, let madeAt = status.madeAt else { continue }
            seen.insert(status.name)
            let labels = [status.name, status.from, fingerprint]
            if madeGauges[status.name]?.labels != labels {
                madeGauges[status.name]?.gauge.destroy()
                madeGauges[status.name] = (labels, Gauge(label: "hcagent_secret_made_timestamp_seconds",
                                                         dimensions: [("name", status.name), ("from", status.from), ("fingerprint", fingerprint)]))
            }
            madeGauges[status.name]?.gauge.record(madeAt)
        }
        for name in Array(madeGauges.keys) where !seen.contains(name) {
            madeGauges[name]?.gauge.destroy()
            madeGauges[name] = nil
        }
        return statuses
    }

    /// 16 hex digits of BLAKE2b over the name and value, keyed with the cluster key: equal on every board for one
    /// value, and no use to whoever reads status or metrics without the cluster key to guess a short token.
    static func fingerprint(_ record: SharedSecretRecord, key: [UInt8]?) -> String {
        let message = Array("hcagent secret fingerprint v1\u{0}".utf8) + Array(record.name.utf8) + [0] + record.value
        var digest = [UInt8](repeating: 0, count: 16)
        let keyBytes = key ?? []
        _ = sodium_init()
        _ = crypto_generichash(&digest, digest.count, message, UInt64(message.count), keyBytes.isEmpty ? nil : keyBytes, keyBytes.count)
        return digest.prefix(8).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    // MARK: state_dir

    /// The copy in state_dir/secrets/NAME, atomically; a failure is logged and the copy lives on in memory.
    private func keep(_ record: SharedSecretRecord) {
        TextFile.makeDirectories(directory, mode: 0o700)
        chmod(directory, 0o700)
        let text = """
            hcagent-secret 1
            origin \(record.origin)
            version \(record.version)
            signature \(Base64.encode(record.signature))
            value \(Base64.encode(record.value))

            """
        do {
            try TextFile.writeAtomically(directory + "/" + record.name, text, mode: 0o600)
        } catch {
            logger.error("secret \(record.name): cannot keep it in \(directory): \(error.reason); held in memory only")
        }
    }

    static func loadKept(directory: String, logger: Logger) -> [SharedSecretRecord] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var records: [SharedSecretRecord] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard !name.hasPrefix("."), !name.hasSuffix(".tmp") else { continue }
            guard let text = try? TextFile.read(directory + "/" + name), let record = parseKept(name: name, text: text) else {
                logger.warning("secret \(name): the copy in \(directory) is not readable; waiting for a new one")
                continue
            }
            records.append(record)
        }
        return records
    }

    static func parseKept(name: String, text: String) -> SharedSecretRecord? {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            fields[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        guard fields["hcagent-secret"] == "1", let origin = fields["origin"], !origin.isEmpty,
              let version = fields["version"].flatMap({ UInt64($0) }),
              let signature = fields["signature"].flatMap({ $0.isEmpty ? [] : Base64.decode($0) }),
              let value = fields["value"].flatMap({ $0.isEmpty ? [] : Base64.decode($0) }) else { return nil }
        return SharedSecretRecord(name: name, origin: origin, version: version, value: value, signature: signature)
    }

    /// A source file's bytes, up to one more than a secret may hold (so a larger file is told apart).
    static func readSource(_ path: String) -> Result<[UInt8], SourceReadFailure> {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return .failure(SourceReadFailure(description: "cannot read \(path): \(String(cString: strerror(errno)))")) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.count <= SharedSecretSpec.maxValueBytes + 2 {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { return .failure(SourceReadFailure(description: "cannot read \(path): \(String(cString: strerror(errno)))")) }
            if count == 0 { break }
            bytes += buffer[..<count]
        }
        return .success(bytes)
    }
}

struct SourceReadFailure: Error, CustomStringConvertible {
    var description: String
}
