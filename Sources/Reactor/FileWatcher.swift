// Tells an EventThread's owner when a file may have changed, with inotify: no timer, no wake-up while nothing
// changes.
#if canImport(Glibc)
import Glibc
#endif

/// Watches the file's directory (editors write a new file and rename it over the old one), the file itself
/// (its link's target, when it is a symbolic link), and, while the directory does not exist yet, the nearest
/// directory above it that does, so a directory created later is seen too. Every batch of events calls
/// `changed` once: the owner compares what it cares about (the file's stamp), since many events change nothing.
/// Made, used and closed on the thread.
public final class FileWatcher {
    private let thread: EventThread
    private let path: String
    private let changed: () -> Void
    private let inotify: Int32
    /// The directory watched (the file's own, or the nearest above that exists) and the file's watch.
    private var directory: (path: String, watch: Int32)?
    private var file: Int32?
    private var buffer = [UInt8](repeating: 0, count: 4096)

    private static let directoryEvents = UInt32(IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE | IN_ATTRIB
        | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
    private static let fileEvents = UInt32(IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

    public init(thread: EventThread, path: String, changed: @escaping () -> Void) throws {
        thread.preconditionInThread()
        self.thread = thread
        self.path = path
        self.changed = changed
        inotify = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard inotify >= 0 else {
            throw EventThreadError(description: "cannot watch \(path): inotify: \(String(cString: strerror(errno)))")
        }
        do {
            try thread.watch(inotify) { [unowned self] in self.onEvents() }
        } catch {
            Glibc.close(inotify)
            throw error
        }
        rewatch()
    }

    /// The directories that would hold the file, nearest first: its own, then each one above.
    static func directories(of path: String) -> [String] {
        var parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let absolute = path.hasPrefix("/")
        var result: [String] = []
        while !parts.isEmpty {
            parts.removeLast()
            let joined = parts.joined(separator: "/")
            result.append(absolute ? "/" + joined : (joined.isEmpty ? "." : joined))
        }
        return result.isEmpty ? ["."] : result
    }

    /// Watches what should be watched now. Only what changed is touched: taking a watch off queues an event
    /// (IN_IGNORED), and taking off and putting back every time would make each batch cause the next.
    /// A directory made between a failed look at it and the watch on the one above would go unseen (`mkdir -p`
    /// makes several at once): after moving the watch, the nearer ones are looked at again.
    private func rewatch() {
        for _ in 0..<64 {
            let before = directory?.path
            watchNearestDirectory()
            if directory?.path == before { break }
        }
        let watch = inotify_add_watch(inotify, path, Self.fileEvents)
        if let old = file, old != watch, watch >= 0 { inotify_rm_watch(inotify, old) }
        if watch >= 0 { file = watch }
    }

    private func watchNearestDirectory() {
        for candidate in Self.directories(of: path) {
            guard candidate != directory?.path else { break }
            let watch = inotify_add_watch(inotify, candidate, Self.directoryEvents)
            guard watch >= 0 else { continue }
            if let old = directory, old.watch != watch { inotify_rm_watch(inotify, old.watch) }
            directory = (candidate, watch)
            break
        }
    }

    /// Whether a directory is watched: false when no watch could be added (the inotify watch limit reached,
    /// no permission), and then the owner must look by itself.
    public var isWatching: Bool { directory != nil }

    private func onEvents() {
        var news = false
        while true {
            let count = buffer.withUnsafeMutableBytes { read(inotify, $0.baseAddress, $0.count) }
            if count > 0 {
                // Each event: wd (4 bytes), mask (4), cookie (4), name length (4), the name.
                var offset = 0
                while offset + 16 <= count {
                    let watch = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: Int32.self) }
                    let mask = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self) }
                    let length = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self) }
                    if mask & UInt32(IN_IGNORED) == 0 {
                        news = true
                    } else if watch == directory?.watch {
                        // The directory itself is gone: watch the nearest one above.
                        directory = nil
                        news = true
                    } else if watch == file {
                        file = nil
                    }
                    offset += 16 + Int(length)
                }
            } else if count < 0, errno == EINTR {
                continue
            } else {
                break
            }
        }
        guard news else { return }
        // What is watched may have moved, vanished or appeared: watch again, then let the owner look.
        rewatch()
        changed()
    }

    public func close() {
        thread.unwatch(inotify)
        Glibc.close(inotify)
    }
}
