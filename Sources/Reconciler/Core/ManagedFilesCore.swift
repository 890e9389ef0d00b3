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
    public var validate: [String]?
    public var restart: [String]
    public var reload: [String]

    public init(path: String, role: String, bytes: [UInt8], mode: UInt32, validate: [String]? = nil,
                restart: [String] = [], reload: [String] = []) {
        self.path = path
        self.role = role
        self.bytes = bytes
        self.mode = mode
        self.validate = validate
        self.restart = restart
        self.reload = reload
    }

    /// Why `observed` is not this file, or nil when it is (owner root:root, the mode, every byte).
    public func difference(from observed: ObservedFile) -> String? {
        switch observed {
        case .missing: return "missing"
        case .unreadable(let reason): return "unreadable (\(reason))"
        case .present(let bytes, let mode, let uid, let gid):
            if bytes != self.bytes { return "content differs" }
            if mode & 0o7777 != self.mode {
                return "mode \(ManagedFile.modeText(mode)), wanted \(ManagedFile.modeText(self.mode))"
            }
            if uid != 0 || gid != 0 { return "owner \(uid):\(gid), wanted root:root" }
            return nil
        }
    }
}

public struct ManagedFilesCore: Sendable {
    public enum Action: Sendable, Equatable {
        /// Write the file atomically (validate first, if it says so); answer with onWritten.
        case write(DesiredFile, reason: String)
        /// After a round's writes: units to try-restart (only if running) and to reload, each named once.
        case restart([String])
        case reload([String])
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
        var observed: ObservedFile?
        /// This content was refused by its validate command, with its reason.
        var refused: (bytes: [UInt8], reason: String)?
        var failure: (at: Duration, reason: String)?
        /// Seen as the document wants it since the last write: a difference now is drift (a hand edit).
        var converged = false
        var writes = 0
        var role: String
    }

    public let node: String
    public let retryAfter: Duration
    public private(set) var facts: TemplateFacts?
    /// The document in force and this board's address, kept to render again when the secrets change.
    private var document: DesiredState?
    private var address: String?
    /// The shared secrets this board holds (name → value).
    public private(set) var secrets: [String: String] = [:]
    private var order: [String] = []
    private var entries: [String: Entry] = [:]

    public init(node: String, retryAfter: Duration = .seconds(10)) {
        self.node = node
        self.retryAfter = retryAfter
    }

    /// The paths this board manages, in the document's order: the shell reads them and answers with onObserved.
    public var paths: [String] { order }

    /// The files of this board's roles, rendered with its facts. Files the document no longer names are
    /// forgotten (left on disk as they are); a file whose content changes is a new chance after a refusal.
    public mutating func onDocument(_ document: DesiredState, address: String?) {
        self.document = document
        self.address = address
        var facts = TemplateFacts(document: document, node: node, address: address)
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
                    let desired = DesiredFile(path: file.path, role: roleName, bytes: Array(text.utf8), mode: file.mode,
                                              validate: file.validate, restart: file.restart, reload: file.reload)
                    if desired != entry.desired {
                        // A new wish, not drift: what differs now is the document's doing.
                        entry.converged = false
                        entry.failure = nil
                        if entry.desired?.bytes != desired.bytes { entry.refused = nil }
                    }
                    entry.desired = desired
                    entry.renderError = nil
                    entry.waitingForSecret = nil
                case .failure(let error) where error.waitingForSecret != nil:
                    // Written once the secret arrives, never with a hole; the file on disk stays as it is.
                    entry.desired = nil
                    entry.renderError = nil
                    entry.waitingForSecret = error.waitingForSecret
                case .failure(let error):
                    entry.desired = nil
                    entry.waitingForSecret = nil
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

    /// The secrets this board's files wait for (their templates name them; this board does not hold them yet).
    public var waitingForSecrets: Set<String> { Set(order.compactMap { entries[$0]?.waitingForSecret }) }

    /// What the shell read of each path (after a document, on its timer, after a write): the writes to make.
    public mutating func onObserved(_ observations: [(path: String, file: ObservedFile)], now: Duration) -> [Action] {
        for (path, file) in observations { entries[path]?.observed = file }
        var actions: [Action] = []
        for path in order {
            guard var entry = entries[path], let desired = entry.desired, let observed = entry.observed else { continue }
            defer { entries[path] = entry }
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
    /// unit restarted not also reloaded.
    public mutating func onWritten(_ outcomes: [(path: String, outcome: WriteOutcome)], now: Duration) -> [Action] {
        var restart: [String] = []
        var reload: [String] = []
        for (path, outcome) in outcomes {
            guard var entry = entries[path], let desired = entry.desired else { continue }
            defer { entries[path] = entry }
            switch outcome {
            case .written:
                entry.writes += 1
                entry.failure = nil
                entry.refused = nil
                entry.converged = true
                entry.observed = .present(bytes: desired.bytes, mode: desired.mode, uid: 0, gid: 0)
                for unit in desired.restart where !restart.contains(unit) { restart.append(unit) }
                for unit in desired.reload where !reload.contains(unit) { reload.append(unit) }
            case .refused(let reason):
                entry.refused = (desired.bytes, reason)
            case .failed(let reason):
                entry.failure = (now, reason)
            }
        }
        reload.removeAll { restart.contains($0) }
        var actions: [Action] = []
        if !restart.isEmpty { actions.append(.restart(restart)) }
        if !reload.isEmpty { actions.append(.reload(reload)) }
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
            } else if let secret = entry.waitingForSecret {
                reason = "waiting for secret \(secret)"
            } else if let desired = entry.desired, let refused = entry.refused, refused.bytes == desired.bytes {
                state = "degraded"
                reason = "validate refused the new content, the old file stays: \(refused.reason)"
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
