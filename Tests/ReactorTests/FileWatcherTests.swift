// FileWatcher: an edit in place, a replacement by rename, a deletion, a directory created later or made again call
// back on the thread; nothing changing calls nothing.
import Synchronization
import Testing
@testable import Reactor
#if canImport(Glibc)
import Glibc
#endif

@Suite struct FileWatcherTests {
    final class Calls: Sendable {
        let count = Atomic<Int>(0)
    }

    func write(_ text: String, to path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
    }

    /// Waits up to 2 s for the count to pass `before`; returns the new count.
    func next(after before: Int, _ calls: Calls) async throws -> Int {
        for _ in 0..<200 {
            let now = calls.count.load(ordering: .relaxed)
            if now > before { return now }
            try await Task.sleep(for: .milliseconds(10))
        }
        return calls.count.load(ordering: .relaxed)
    }

    @Test func editsReplacementsDeletionsAndALaterDirectory() async throws {
        var template = Array("/tmp/hc-watch.XXXXXX".utf8CString)
        let base = String(cString: mkdtemp(&template)!)
        defer { _ = system("rm -rf '\(base)'") }
        let path = base + "/etc/homecloud/desired.yaml"
        let thread = try EventThread(name: "test-watch")
        defer { thread.stop() }
        let calls = Calls()
        let box = await thread.submit { () -> Bool in
            guard let watcher = try? FileWatcher(thread: thread, path: path, changed: { calls.count.add(1, ordering: .relaxed) }) else { return false }
            _ = Unmanaged.passRetained(watcher)  // kept for the thread's life; the test ends with it
            return true
        }
        #expect(box == true)
        // The directory does not exist yet: its parent, then it, are created.
        mkdir(base + "/etc", 0o755)
        var seen = try await next(after: 0, calls)
        #expect(seen >= 1)
        mkdir(base + "/etc/homecloud", 0o755)
        seen = try await next(after: seen, calls)
        write("generation: 1\n", to: path)
        var now = try await next(after: seen, calls)
        #expect(now > seen, "the file created")
        seen = now
        write("generation: 2\n", to: path)
        now = try await next(after: seen, calls)
        #expect(now > seen, "an edit in place")
        seen = now
        write("generation: 3\n", to: path + ".tmp")
        rename(path + ".tmp", path)
        now = try await next(after: seen, calls)
        #expect(now > seen, "a replacement by rename, as editors do")
        seen = now
        write("generation: 4\n", to: path)
        now = try await next(after: seen, calls)
        #expect(now > seen, "an edit of the replacement")
        seen = now
        unlink(path)
        now = try await next(after: seen, calls)
        #expect(now > seen, "a deletion")
        seen = now
        // The directory goes and comes back (a package reinstalled): still watched.
        rmdir(base + "/etc/homecloud")
        seen = try await next(after: seen, calls)
        mkdir(base + "/etc/homecloud", 0o755)
        seen = try await next(after: seen, calls)
        write("generation: 5\n", to: path)
        now = try await next(after: seen, calls)
        #expect(now > seen, "a file in a directory made again")
        // One change may come in two batches; then nothing changes, and nothing calls.
        try await Task.sleep(for: .milliseconds(100))
        seen = calls.count.load(ordering: .relaxed)
        try await Task.sleep(for: .milliseconds(300))
        #expect(calls.count.load(ordering: .relaxed) == seen, "no change, no call")
    }
}
