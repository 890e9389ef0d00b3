// The parts of this agent that cannot get what they need, each with its reason: one log line when a reason
// appears or changes, one when it clears, and the list for hcctl status. A part with a problem fails alone.
import HomecloudSchema
import HomecloudYAML
import Logging
import Synchronization

public final class PartProblems: Sendable {
    private let reasons = Mutex<[String: String]>([:])
    private let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// Says that `part` runs degraded because of `reason`. Logged only when new or different (and not
    /// `alreadyLogged` by the part itself), so a part may report the same problem at every retry.
    public func report(_ part: String, _ reason: String, alreadyLogged: Bool = false) {
        let previous = reasons.withLock { reasons in
            defer { reasons[part] = reason }
            return reasons[part]
        }
        if previous != reason, !alreadyLogged { logger.error("\(reason)", metadata: ["part": "\(part)"]) }
    }

    /// `part` has what it needs (again). Logged only if it had a problem, with `message` when given.
    public func clear(_ part: String, message: String? = nil) {
        let previous = reasons.withLock { $0.removeValue(forKey: part) }
        if previous != nil { logger.notice("\(message ?? "\(part) works again")", metadata: ["part": "\(part)"]) }
    }

    /// Clears every part whose name starts with `prefix` (a VIP's problems when VRRP stops, for instance).
    public func clearAll(prefix: String) {
        reasons.withLock { reasons in
            for part in reasons.keys where part.hasPrefix(prefix) { reasons[part] = nil }
        }
    }

    public func reason(of part: String) -> String? { reasons.withLock { $0[part] } }

    /// For hcctl status, ordered by part.
    public var all: [PartProblem] {
        reasons.withLock { $0 }.sorted { $0.key < $1.key }.map { PartProblem(part: $0.key, reason: $0.value) }
    }
}

extension PartProblems {
    /// The part name of state_dir's problems.
    public static let stateDir = "state_dir"

    /// Writes a file of state_dir through `write`. A failure (a full or read-only disk) becomes state_dir's
    /// problem: the agent runs on what it holds in memory. Only StateDirService clears it, once a retry of
    /// its own works: on a nearly full disk a small write may pass between failing ones, and the problem
    /// must not flap in the log.
    @discardableResult
    public func keepInStateDir(_ write: () throws -> Void) -> Bool {
        do {
            try write()
            return true
        } catch {
            // The same reason for every file, so a full disk is one log line, not one per write.
            let why = (error as? TextFile.Failure)?.reason ?? "\(error)"
            report(Self.stateDir, "state_dir not writable (\(why)): running on what is in memory; a restart now would lose what changed since")
            return false
        }
    }
}
