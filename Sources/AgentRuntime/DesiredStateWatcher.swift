// Notices a new desired.yaml (inotify, on an EventThread it shares) or SIGHUP, and reloads it.
import HomecloudSchema
import HomecloudYAML
import Logging
import Reactor
import PartLifecycle
import UnixSignals

/// inotify, not polling: the thread sleeps until the directory or the file changes, so an idle board does not
/// wake once a second to stat it. The file's inode, size and mtime decide whether it really changed.
public struct DesiredStateWatcher: Service {
    let keeper: DocumentKeeper
    let path: String
    let thread: EventThread
    let logger: Logger

    public init(keeper: DocumentKeeper, path: String, thread: EventThread, logger: Logger) {
        self.keeper = keeper
        self.path = path
        self.thread = thread
        self.logger = logger
    }

    /// The watcher's state, on the thread.
    private final class Watch: @unchecked Sendable {
        var watcher: FileWatcher?
        var last: TextFile.Stamp?
    }

    public func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let (changes, sink) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let watch = Watch()
        let path = self.path, thread = self.thread, keeper = self.keeper
        let started = await thread.submit { () -> String? in
            watch.last = TextFile.stamp(path)
            do {
                watch.watcher = try FileWatcher(thread: thread, path: path) {
                    let now = TextFile.stamp(path)
                    guard now != watch.last else { return }
                    watch.last = now
                    sink.yield()
                }
                return nil
            } catch {
                return "\(error)"
            }
        }
        if let reason = started ?? "the watching thread stopped" {
            logger.warning("\(path) is not watched (\(reason)): after a change, run hcctl reload or send SIGHUP")
        }
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await _ in hangups { await keeper.reloadDesired() }
                }
                group.addTask {
                    for await _ in changes { await keeper.reloadDesired() }
                }
            }
        }
        sink.finish()
        thread.execute { watch.watcher?.close() }
    }
}
