// This board's source files (shared secrets, facts) watched with inotify on the gossip thread, one Reactor
// FileWatcher a path; SourceFileWatchPlan (GossipCore) says what to watch, when to read and whether to poll.
import Logging
import Reactor

/// Made, used and closed on the gossip thread. `changed` is the driver's: something happened near a source file.
final class SourceFileWatchers {
    private let thread: EventThread
    private let logger: Logger
    private let changed: () -> Void
    private var watchers: [String: FileWatcher] = [:]
    private(set) var plan = SourceFileWatchPlan()
    /// Whether the stat poll was said in the log to be on: one line when it starts, one when it ends.
    private var saidPolling = false

    init(thread: EventThread, logger: Logger, changed: @escaping () -> Void) {
        self.thread = thread
        self.logger = logger
        self.changed = changed
    }

    /// The document's source files for this board: a watcher for each new one, the dropped ones closed.
    func watch(_ paths: [String]) {
        let (add, drop) = plan.onSources(paths)
        for path in drop {
            watchers.removeValue(forKey: path)?.close()
        }
        // A path whose watcher could not be made, or lost its watch, is tried again at each document.
        let retried = plan.unwatched.sorted()
        for path in retried { watchers.removeValue(forKey: path)?.close() }
        for path in add + retried {
            do {
                let watcher = try FileWatcher(thread: thread, path: path) { [unowned self] in self.changed() }
                watchers[path] = watcher
                plan.onWatchable(path, watcher.isWatching)
            } catch {
                logger.warning("\(path) is not watched (\(error)); it is looked at once a second instead")
                plan.onWatchable(path, false)
            }
        }
        checkWatches()
    }

    /// A watcher may lose its directory's watch (the directory gone and none above it watchable, a limit
    /// reached): looked at after every change and at the poll, so the poll starts or stops with it.
    func checkWatches() {
        for (path, watcher) in watchers { plan.onWatchable(path, watcher.isWatching) }
        if plan.polls != saidPolling {
            saidPolling = plan.polls
            if plan.polls {
                logger.warning("source files \(plan.unwatched.sorted().joined(separator: ", ")) cannot be watched with inotify (a watch limit reached?): stat once a second instead")
            } else {
                logger.info("source files watched with inotify again: no more stat once a second")
            }
        }
    }

    func onChanged(now: Duration) {
        plan.onChanged(now: now)
    }

    /// Whether the sources are to be read now.
    func onTimer(now: Duration) -> Bool {
        plan.onTimer(now: now)
    }

    var readAt: Duration? { plan.readAt }

    func close() {
        for watcher in watchers.values { watcher.close() }
        watchers = [:]
    }
}
