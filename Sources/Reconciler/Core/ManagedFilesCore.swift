// The managed-file planner: from the document in force, this board's facts and what the shell read of each
// file, which files to write, and after the writes which units to restart or reload, each once per change.
import HomecloudSchema

/// What the shell read of one path.
public enum ObservedFile: Sendable, Equatable {
    case missing
    case present(bytes: [UInt8], mode: UInt32, uid: UInt32, gid: UInt32)
    /// Could not be read (permissions, a directory in the way): the write is tried, and fails alone if it must.
    case unreadable(String)
}

/// One file as this board should have it: the rendered bytes and what to do around the write.
public struct DesiredFile: Sendable, Equatable {
    public var path: String
    public var role: String
    public var bytes: [UInt8]
    public var mode: UInt32
    public var owner: FileOwner
    /// The owner's ids on this board (root's until resolved).
    public var ownerIDs: OwnerIDs
    public var validate: [String]?
    public var restart: [String]
    public var reload: [String]
    /// Its restarts go one board of the role at a time (SerialRestarts).
    public var serial: Bool

    public init(path: String, role: String, bytes: [UInt8], mode: UInt32, owner: FileOwner = .root, ownerIDs: OwnerIDs = .root,
                validate: [String]? = nil, restart: [String] = [], reload: [String] = [], serial: Bool = false) {
        self.serial = serial
        self.path = path
        self.role = role
        self.bytes = bytes
        self.mode = mode
        self.owner = owner
        self.ownerIDs = ownerIDs
        self.validate = validate
        self.restart = restart
        self.reload = reload
    }

    /// Why `observed` is not this file, or nil when it is (the owner, the mode, every byte).
    public func difference(from observed: ObservedFile) -> String? {
        switch observed {
        case .missing: return "missing"
        case .unreadable(let reason): return "unreadable (\(reason))"
        case .present(let bytes, let mode, let uid, let gid):
            if bytes != self.bytes { return "content differs" }
            if mode & 0o7777 != self.mode {
                return "mode \(ManagedFile.modeText(mode)), wanted \(ManagedFile.modeText(self.mode))"
            }
            if uid != ownerIDs.uid || gid != ownerIDs.gid {
                let ids = owner == .root ? "" : " (\(ownerIDs.uid):\(ownerIDs.gid))"
                return "owner \(uid):\(gid), wanted \(owner)\(ids)"
            }
            return nil
        }
    }
}

/// A file owner's ids on this board, as the shell's lookup (getpwnam, getgrnam) found them, or why not.
public enum OwnerLookup: Sendable, Equatable {
    case found(OwnerIDs)
    case unknown(String)
}

public struct ManagedFilesCore: Sendable {
    public enum Action: Sendable, Equatable {
        /// Write the file atomically (validate first, if it says so); answer with onWritten.
        case write(DesiredFile, reason: String)
        /// After a round's writes: units to try-restart (only if running) and to reload, each named once.
        case restart([String])
        case reload([String])
        /// Units of `serial: true` files, by role: restarted in this board's turn (SerialRestarts), not at once.
        case serialRestart(role: String, units: [String])
    }

    public enum WriteOutcome: Sendable, Equatable {
        case written
        /// The validate command refused the new content: the old file stays; not tried again for this content.
        case refused(String)
        /// The write itself failed (a read-only directory, the sandbox, no space): tried again after retryAfter.
        case failed(String)
    }

    public struct FileReport: Sendable, Equatable {
        public var path: String
        public var role: String
        /// converged, converging or degraded, as for units.
        public var state: String
        public var reason: String?
        /// Times this agent wrote it (a new document or a repaired drift).
        public var writes: Int
    }

    struct Entry: Sendable {
        var desired: DesiredFile?
        var renderError: String?
        /// The secret the template needs and this board does not hold yet: the file is not written meanwhile.
        var waitingForSecret: String?
        /// The fact a node of a looped role has not published yet (`NAME of NODE`): not written meanwhile.
        var waitingForFact: String?
        var observed: ObservedFile?
        /// This content was refused by its validate command, with its reason.
        var refused: (bytes: [UInt8], reason: String)?
        /// The content this agent last wrote, and why the file could not be read back since: not written again
        /// (each write would restart its units), degraded until it can be read or the content changes.
        var written: [UInt8]?
        var unreadableAfterWrite: String?
        /// The owner has no ids on this board (yet): the file is not written; looked up again each round.
        var ownerUnknown: String?
        var failure: (at: Duration, reason: String)?
        /// Seen as the document wants it since the last write: a difference now is drift (a hand edit).
        var converged = false
        var writes = 0
        var role: String
    }

    public let node: String
    public let retryAfter: Duration
    public private(set) var facts: TemplateFacts?
    /// Names to ids on this board (the shell's user database); numbers and root:root need no lookup.
    let lookupOwner: @Sendable (FileOwner) -> OwnerLookup
    /// The document in force and this board's address, kept to render again when the secrets change.
    private var document: DesiredState?
    private var address: String?
    /// The shared secrets this board holds (name → value).
    public private(set) var secrets: [String: String] = [:]
    /// The facts known of the document's boards (gossip's NodeFactBook).
    public private(set) var nodeFacts = NodeFactValues()
    private var order: [String] = []
    private var entries: [String: Entry] = [:]

    public init(node: String, retryAfter: Duration = .seconds(10),
                lookupOwner: @escaping @Sendable (FileOwner) -> OwnerLookup = { .unknown("no user database to look \($0) up in") }) {
        self.node = node
        self.retryAfter = retryAfter
        self.lookupOwner = lookupOwner
    }

    func resolve(_ owner: FileOwner) -> OwnerLookup {
        if owner == .root { return .found(.root) }
        if let uid = UInt32(owner.user), let gid = UInt32(owner.group) { return .found(OwnerIDs(uid: uid, gid: gid)) }
        return lookupOwner(owner)
    }

    /// The paths this board manages, in the document's order: the shell reads them and answers with onObserved.
    public var paths: [String] { order }

    /// The files of this board's roles, rendered with its facts. Files the document no longer names are
    /// forgotten (left on disk as they are); a file whose content changes is a new chance after a refusal.
    public mutating func onDocument(_ document: DesiredState, address: String?) {
        self.document = document
        self.address = address
        var facts = TemplateFacts(document: document, node: node, address: address, nodeFacts: nodeFacts)
        facts.secrets = secrets
        self.facts = facts
        var newOrder: [String] = []
        var newEntries: [String: Entry] = [:]
        for roleName in document.roles(of: node) {
            for file in document.role(named: roleName)?.files ?? [] where newEntries[file.path] == nil {
                var entry = entries[file.path] ?? Entry(role: roleName)
                entry.role = roleName
                switch TemplateRenderer.render(file.content, facts: facts) {
                case .success(let text):
                    var desired = DesiredFile(path: file.path, role: roleName, bytes: Array(text.utf8), mode: file.mode,
                                              owner: file.owner, validate: file.validate, restart: file.restart, reload: file.reload,
                                              serial: file.serial)
                    switch resolve(file.owner) {
                    case .found(let ids):
                        desired.ownerIDs = ids
                        entry.ownerUnknown = nil
                    case .unknown(let reason):
                        entry.ownerUnknown = reason
                    }
                    if desired != entry.desired {
                        // A new wish, not drift: what differs now is the document's doing.
                        entry.converged = false
                        entry.failure = nil
                        if entry.desired?.bytes != desired.bytes { entry.refused = nil }
                    }
                    entry.desired = desired
                    entry.renderError = nil
                    entry.waitingForSecret = nil
                    entry.waitingForFact = nil
                case .failure(let error) where error.waitingForSecret != nil || error.waitingForFact != nil:
                    // Written once the secret (or fact) arrives, never with a hole; the file on disk stays as it is.
                    entry.desired = nil
                    entry.renderError = nil
                    entry.waitingForSecret = error.waitingForSecret
                    entry.waitingForFact = error.waitingForFact
                case .failure(let error):
                    entry.desired = nil
                    entry.waitingForSecret = nil
                    entry.waitingForFact = nil
                    entry.renderError = "template \(error.position): \(error.message)"
                }
                newOrder.append(file.path)
                newEntries[file.path] = entry
            }
        }
        order = newOrder
        entries = newEntries
    }

    /// The secrets this board holds changed (one arrived, or a new value): the files render again, and only
    /// those whose bytes change (the files using a changed secret) are written. Returns whether any file's
    /// wish changed.
    @discardableResult
    public mutating func onSecrets(_ values: [String: String]) -> Bool {
        guard values != secrets else { return false }
        secrets = values
        guard let document else { return false }
        let before = order.map { entries[$0]?.desired }
        onDocument(document, address: address)
        return before != order.map { entries[$0]?.desired }
    }

    /// The facts known of the boards changed (one published, or a new value): the files render again, and only
    /// those whose bytes change are written. Returns whether any file's wish changed.
    @discardableResult
    public mutating func onFacts(_ values: NodeFactValues) -> Bool {
        guard values != nodeFacts else { return false }
        nodeFacts = values
        guard let document else { return false }
        let before = order.map { entries[$0]?.desired }
        onDocument(document, address: address)
        return before != order.map { entries[$0]?.desired }
    }

    /// The secrets this board's files wait for (their templates name them; this board does not hold them yet).
    public var waitingForSecrets: Set<String> { Set(order.compactMap { entries[$0]?.waitingForSecret }) }

    /// What the shell read of each path (after a document, on its timer, after a write): the writes to make.
    public mutating func onObserved(_ observations: [(path: String, file: ObservedFile)], now: Duration) -> [Action] {
        for (path, file) in observations { entries[path]?.observed = file }
        var actions: [Action] = []
        for path in order {
            guard var entry = entries[path], var desired = entry.desired, let observed = entry.observed else { continue }
            defer { entries[path] = entry }
            if entry.ownerUnknown != nil {
                switch resolve(desired.owner) {
                case .found(let ids):
                    desired.ownerIDs = ids
                    entry.desired = desired
                    entry.ownerUnknown = nil
                case .unknown(let reason):
                    entry.ownerUnknown = reason
                    continue
                }
            }
            if case .unreadable(let why) = observed, entry.written == desired.bytes {
                entry.unreadableAfterWrite = why
                continue
            }
            entry.unreadableAfterWrite = nil
            guard let difference = desired.difference(from: observed) else {
                entry.converged = true
                continue
            }
            if entry.refused?.bytes == desired.bytes { continue }
            if let failure = entry.failure, now < failure.at + retryAfter { continue }
            let reason = entry.converged ? "drift: \(difference)" : difference
            entry.converged = false
            actions.append(.write(desired, reason: reason))
        }
        return actions
    }

    /// The outcomes of a round's writes: the units to restart and reload for what was written, each once, a
    /// unit restarted not also reloaded; a unit a serial file names is restarted only in this board's turn.
    public mutating func onWritten(_ outcomes: [(path: String, outcome: WriteOutcome)], now: Duration) -> [Action] {
        var restart: [String] = []
        var reload: [String] = []
        var serial: [(role: String, units: [String])] = []
        for (path, outcome) in outcomes {
            guard var entry = entries[path], let desired = entry.desired else { continue }
            defer { entries[path] = entry }
            switch outcome {
            case .written:
                entry.writes += 1
                entry.written = desired.bytes
                entry.failure = nil
                entry.refused = nil
                entry.converged = true
                entry.observed = .present(bytes: desired.bytes, mode: desired.mode, uid: desired.ownerIDs.uid, gid: desired.ownerIDs.gid)
                if desired.serial {
                    if let index = serial.firstIndex(where: { $0.role == desired.role }) {
                        serial[index].units += desired.restart.filter { !serial[index].units.contains($0) }
                    } else {
                        serial.append((desired.role, desired.restart))
                    }
                } else {
                    for unit in desired.restart where !restart.contains(unit) { restart.append(unit) }
                }
                for unit in desired.reload where !reload.contains(unit) { reload.append(unit) }
            case .refused(let reason):
                entry.refused = (desired.bytes, reason)
            case .failed(let reason):
                entry.failure = (now, reason)
            }
        }
        let serialUnits = Set(serial.flatMap(\.units))
        restart.removeAll { serialUnits.contains($0) }
        reload.removeAll { restart.contains($0) || serialUnits.contains($0) }
        var actions: [Action] = []
        if !restart.isEmpty { actions.append(.restart(restart)) }
        if !reload.isEmpty { actions.append(.reload(reload)) }
        for entry in serial { actions.append(.serialRestart(role: entry.role, units: entry.units)) }
        return actions
    }

    /// When a failed write is to be tried again (the shell's timer reads the files anyway; for tests).
    public func nextRetry() -> Duration? {
        order.compactMap { entries[$0]?.failure.map { $0.at + retryAfter } }.min()
    }

    public func report() -> [FileReport] {
        order.compactMap { path in
            guard let entry = entries[path] else { return nil }
            var state = "converging"
            var reason: String?
            if let error = entry.renderError {
                state = "degraded"
                reason = error
            } else if let unknown = entry.ownerUnknown, let desired = entry.desired {
                state = "degraded"
                reason = "owner \(desired.owner): \(unknown); not written"
            } else if let secret = entry.waitingForSecret {
                reason = "waiting for secret \(secret)"
            } else if let fact = entry.waitingForFact {
                reason = "waiting for fact \(fact)"
            } else if let desired = entry.desired, let refused = entry.refused, refused.bytes == desired.bytes {
                state = "degraded"
                reason = "validate refused the new content, the old file stays: \(refused.reason)"
            } else if let why = entry.unreadableAfterWrite {
                state = "degraded"
                reason = "written, but cannot be read back to watch for drift: \(why)"
            } else if let failure = entry.failure {
                state = "degraded"
                reason = "cannot write: \(failure.reason)"
            } else if let desired = entry.desired, let observed = entry.observed {
                if let difference = desired.difference(from: observed) { reason = difference } else { state = "converged" }
            } else {
                reason = "not read yet"
            }
            return FileReport(path: path, role: entry.role, state: state, reason: reason, writes: entry.writes)
        }
    }

    /// The desired file at a path (the shell's plan shows its diff).
    public func desired(at path: String) -> DesiredFile? { entries[path]?.desired }

    /// The file at `path` as the document in force renders it with secrets as placeholders, when its template
    /// uses a secret: what hcctl plan shows instead of the file on disk, which holds the values.
    public func placeholderText(at path: String) -> String? {
        guard let document, let facts, let role = entries[path]?.role,
              let file = document.role(named: role)?.files.first(where: { $0.path == path }), file.content.usesSecret else { return nil }
        return try? TemplateRenderer.render(file.content, facts: facts, secretPlaceholder: true).get()
    }
}
