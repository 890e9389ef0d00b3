// Which of this board's source files (shared secrets, facts) are watched by inotify, when they are read after a
// change, and whether the once-a-second stat poll is still needed (only for a file inotify cannot watch). Pure.
import HomecloudSchema

/// The shell keeps one watcher per path; this says which to add and drop, and when to read. Reading waits
/// `settleDelay` after the first event of a burst: a file is created empty, then written and closed (k3s writes
/// its token so), and reading at the create would publish a problem ("the file is empty") for a moment.
public struct SourceFileWatchPlan: Sendable, Equatable {
    public static let settleDelay = Duration.milliseconds(50)

    /// The paths wanted now, and those whose watcher could not be made or lost its watch (a limit reached).
    public private(set) var wanted: Set<String> = []
    public private(set) var unwatched: Set<String> = []
    /// When the sources are to be read (an event came in); nil: nothing pending.
    public private(set) var readAt: Duration?

    public init() {}

    /// The document's sources for this board: the paths to start watching and those to stop watching.
    public mutating func onSources(_ paths: [String]) -> (add: [String], drop: [String]) {
        let next = Set(paths)
        let add = next.subtracting(wanted).sorted()
        let drop = wanted.subtracting(next).sorted()
        wanted = next
        unwatched.formIntersection(next)
        return (add, drop)
    }

    /// The shell could not watch `path` (or can again): until it can, the sources are polled.
    public mutating func onWatchable(_ path: String, _ watchable: Bool) {
        guard wanted.contains(path) else { return }
        if watchable { unwatched.remove(path) } else { unwatched.insert(path) }
    }

    /// Whether the once-a-second stat poll is needed: some wanted path has no working watch.
    public var polls: Bool { !unwatched.isEmpty }

    /// A watcher saw something happen: read after the settle delay (the first event of a burst sets it).
    public mutating func onChanged(now: Duration) {
        if readAt == nil { readAt = now + Self.settleDelay }
    }

    /// At a timer: whether the sources are to be read now (then nothing is pending any more).
    public mutating func onTimer(now: Duration) -> Bool {
        guard let due = readAt, now >= due else { return false }
        readAt = nil
        return true
    }
}
