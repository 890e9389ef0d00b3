// Per-board facts on the gossip thread: reads this board's fact files (when inotify sees a change, read when the stat differs),
// derives each value (a Syncthing device ID: SHA-256 by libsodium), takes the others' from their believed
// metadata, and keeps what it knows in state_dir/facts so a board that is down still counts with its last value.
// The rules are NodeFactBook's (GossipCore); this carries them out.
import CSodium
import HomecloudSchema
import HomecloudYAML
import Logging
#if canImport(Glibc)
import Glibc
#endif

struct NodeFactKeeper {
    private(set) var book: NodeFactBook
    private let node: String
    private let path: String
    private let policy: LocalPolicy?
    private let policyFile: String
    private let logger: Logger
    private let keep: @Sendable (() throws -> Void) -> Void
    private var sources: [NodeFactSpec] = []
    private var lastStat: [String: SharedSecretKeeper.FileIdentity] = [:]
    /// name → why this board cannot publish it now (policy, a missing or unreadable file, not a certificate);
    /// it keeps publishing its last value meanwhile.
    private(set) var sourceProblems: [String: String] = [:]
    private var warnedNoPolicy = false
    /// How a missing file's reason starts: not known yet, not a problem.
    static let waitingPrefix = "waiting for "
    private var keptText: String
    /// node → fact → when this board learned the value it holds (unix seconds), for status; a value restored from
    /// state_dir has none.
    private(set) var learnedAt: [String: [String: Int]] = [:]

    init(node: String, stateDir: String, policy: LocalPolicy?, policyFile: String, logger: Logger,
         keep: @escaping @Sendable (() throws -> Void) -> Void) {
        self.node = node
        path = stateDir + "/facts"
        self.policy = policy
        self.policyFile = policyFile
        self.logger = logger
        self.keep = keep
        book = NodeFactBook(node: node)
        keptText = ""
        if let text = try? TextFile.read(path) {
            if let values = NodeFactBook.parse(fileText: text) {
                book.restore(values)
                keptText = text
            } else {
                logger.warning("facts: \(path) is not readable as facts; waiting for the boards to publish them again")
            }
        }
    }

    /// The document's facts and boards. Returns whether the values known changed.
    mutating func bind(_ document: DesiredState) -> Bool {
        let before = book.known
        let changed = book.onDocument(document.facts, nodes: document.nodes)
        stamp(since: before)
        let plan = NodeFactSources.plan(document.facts, roles: document.roles(of: node), policy: policy, policyFile: policyFile)
        sources = plan.read
        sourceProblems = sourceProblems.filter { name, _ in sources.contains { $0.name == name } }
        for (name, reason) in plan.refused.sorted(by: { $0.key < $1.key }) where sourceProblems[name] != reason {
            logger.warning("fact \(name): \(reason)")
            sourceProblems[name] = reason
        }
        if policy == nil, !sources.isEmpty, !warnedNoPolicy {
            warnedNoPolicy = true
            logger.warning("no policy in agent.yaml: this board publishes every file the document names as its fact (\(sources.map(\.file).joined(separator: ", ")))")
        }
        lastStat = lastStat.filter { name, _ in sources.contains { $0.name == name } }
        if changed { persist() }
        return changed
    }

    /// This board's fact files, for the gossip shell to watch (SourceFileWatchers).
    var sourceFiles: [String] { sources.map(\.file) }

    /// After inotify saw something near a fact file (once a second where it cannot watch one): stat each fact
    /// file; read it only when it changed. Returns whether this board's own values changed, and whether its
    /// problems did.
    mutating func pollSources() -> (changed: Bool, problemsChanged: Bool) {
        let problemsBefore = sourceProblems
        let before = book.known
        defer { stamp(since: before) }
        var changed = false
        for spec in sources {
            var status = stat()
            guard stat(spec.file, &status) == 0 else {
                let reason = errno == ENOENT ? "\(Self.waitingPrefix)\(spec.file) to appear" : "cannot read \(spec.file): \(String(cString: strerror(errno)))"
                note(spec.name, reason)
                lastStat[spec.name] = nil
                continue
            }
            let identity = SharedSecretKeeper.FileIdentity(
                device: UInt64(status.st_dev), inode: UInt64(status.st_ino), size: Int64(status.st_size),
                modified: status.st_mtim.tv_sec, modifiedNanos: status.st_mtim.tv_nsec,
                changed: status.st_ctim.tv_sec, changedNanos: status.st_ctim.tv_nsec)
            if lastStat[spec.name] == identity { continue }
            lastStat[spec.name] = identity
            let value: String
            switch SharedSecretKeeper.readSource(spec.file) {
            case .failure(let failure):
                note(spec.name, failure.description)
                continue
            case .success(let bytes):
                switch NodeFactSources.value(of: bytes, kind: spec.kind, sha256: Self.sha256) {
                case .failure(let problem):
                    note(spec.name, "\(spec.file): \(problem)")
                    continue
                case .success(let derived): value = derived
                }
            }
            if sourceProblems[spec.name] != nil {
                sourceProblems[spec.name] = nil
                logger.info("fact \(spec.name): \(spec.file) reads again")
            }
            let known = book.onOwn(name: spec.name, value: value)
            confirm(node, facts: [spec.name: value])
            if known {
                logger.notice("fact \(spec.name): read \(spec.file), publishing \(value)")
                changed = true
            }
        }
        if changed { persist() }
        return (changed, sourceProblems != problemsBefore)
    }

    private mutating func note(_ name: String, _ reason: String) {
        guard sourceProblems[name] != reason else { return }
        sourceProblems[name] = reason
        let last = book.announced[name].map { "; publishing its last value \($0)" } ?? ""
        logger.info("fact \(name): \(reason)\(last)")
    }

    /// The members' believed metadata. Returns whether the values known changed.
    mutating func absorb(_ views: [GossipMemberView]) -> Bool {
        let before = book.known
        defer { stamp(since: before) }
        var changed = false
        for view in views {
            guard let facts = view.metadata?.facts, !facts.isEmpty else { continue }
            let known = book.onMetadata(member: view.member.name, facts: facts)
            confirm(view.member.name, facts: facts)
            if known {
                changed = true
                logger.info("facts of \(view.member.name): \(facts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))")
            }
        }
        if changed { persist() }
        return changed
    }

    /// Stamps the values that differ from `before` with the wall clock now, and forgets the stamps of values gone.
    private mutating func stamp(since before: [String: [String: String]]) {
        var wall = timespec()
        clock_gettime(CLOCK_REALTIME, &wall)
        for (board, facts) in book.known {
            for (name, value) in facts where before[board]?[name] != value { learnedAt[board, default: [:]][name] = Int(wall.tv_sec) }
        }
        for (board, stamps) in learnedAt {
            let kept = stamps.filter { name, _ in book.known[board]?[name] != nil }
            learnedAt[board] = kept.isEmpty ? nil : kept
        }
    }

    /// A value kept from the last run that its board says again (its file here, its metadata there) is known
    /// since now: status then shows its age.
    private mutating func confirm(_ board: String, facts: [String: String]) {
        for (name, value) in facts where learnedAt[board]?[name] == nil && book.known[board]?[name] == value {
            var wall = timespec()
            clock_gettime(CLOCK_REALTIME, &wall)
            learnedAt[board, default: [:]][name] = Int(wall.tv_sec)
        }
    }

    /// What the file says now, written only when it changes.
    private mutating func persist() {
        let text = book.fileText
        guard text != keptText else { return }
        keptText = text
        let path = self.path
        keep { try TextFile.writeAtomically(path, text) }
    }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(crypto_hash_sha256_BYTES))
        _ = sodium_init()
        _ = crypto_hash_sha256(&digest, bytes, UInt64(bytes.count))
        return digest
    }
}
