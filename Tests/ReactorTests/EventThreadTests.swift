// EventThread: jobs in order on its thread, descriptors and the timer calling back there, one wake-up per
// event, and nothing run once it stops.
import CLinuxEvents
import Synchronization
import Testing
@testable import Reactor
#if canImport(Glibc)
import Glibc
#endif

@Suite struct EventThreadTests {
    /// Collects what the thread's callbacks saw, for the test's own thread to read.
    final class Log: Sendable {
        let lines = Mutex<[String]>([])
        func add(_ line: String) { lines.withLock { $0.append(line) } }
        var all: [String] { lines.withLock { $0 } }
    }

    /// Waits up to 2 s for `done`.
    func eventually(_ done: () -> Bool) async throws {
        for _ in 0..<200 where !done() { try await Task.sleep(for: .milliseconds(10)) }
    }

    /// The thread's voluntary context switches so far: how many times it slept and was woken.
    func wakeUps(ofThreadNamed name: String) -> Int? {
        guard let task = opendir("/proc/self/task") else { return nil }
        defer { closedir(task) }
        while let entry = readdir(task) {
            let tid = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let comm = try? readText("/proc/self/task/\(tid)/comm"), comm.hasPrefix(name),
                  let status = try? readText("/proc/self/task/\(tid)/status") else { continue }
            let line = status.split(separator: "\n").first { $0.hasPrefix("voluntary_ctxt_switches:") }
            return line.flatMap { Int(String($0.filter(\.isNumber))) }
        }
        return nil
    }

    func readText(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw EventThreadError(description: "cannot open \(path)") }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(fd, &buffer, buffer.count)
        return String(decoding: buffer.prefix(max(0, count)), as: UTF8.self)
    }

    @Test func jobsRunInOrderOnTheThread() async throws {
        let thread = try EventThread(name: "test-jobs")
        defer { thread.stop() }
        let log = Log()
        for n in 1...100 { thread.execute { log.add("\(n)") } }
        let sum = await thread.submit {
            thread.preconditionInThread()
            return 42
        }
        #expect(sum == 42)
        #expect(log.all == (1...100).map { "\($0)" })
    }

    @Test func aWatchedDescriptorCallsBackUntilUnwatched() async throws {
        let thread = try EventThread(name: "test-watch")
        defer { thread.stop() }
        let fd = eventfd(0, Int32(EFD_NONBLOCK))
        defer { close(fd) }
        let log = Log()
        await thread.submit {
            try? thread.watch(fd) {
                var value: UInt64 = 0
                _ = read(fd, &value, 8)
                log.add("read \(value)")
            }
        }
        var three: UInt64 = 3
        _ = write(fd, &three, 8)
        try await eventually { log.all.count == 1 }
        #expect(log.all == ["read 3"])
        await thread.submit { thread.unwatch(fd) }
        _ = write(fd, &three, 8)
        _ = await thread.submit {}  // a readiness would have been handled before this job
        try await Task.sleep(for: .milliseconds(50))
        #expect(log.all == ["read 3"])
    }

    /// As VRRP's link handler does when a missing interface appears: it opens a socket and watches it.
    @Test func aHandlerMayWatchAndUnwatchDescriptors() async throws {
        let thread = try EventThread(name: "test-nested")
        defer { thread.stop() }
        let first = eventfd(0, Int32(EFD_NONBLOCK))
        let second = eventfd(0, Int32(EFD_NONBLOCK))
        defer {
            close(first)
            close(second)
        }
        let log = Log()
        await thread.submit {
            try? thread.watch(first) {
                var value: UInt64 = 0
                _ = read(first, &value, 8)
                thread.unwatch(first)
                try? thread.watch(second) {
                    _ = read(second, &value, 8)
                    log.add("second")
                }
                log.add("first")
            }
        }
        var one: UInt64 = 1
        _ = write(first, &one, 8)
        try await eventually { log.all.count == 1 }
        _ = write(second, &one, 8)
        try await eventually { log.all.count == 2 }
        #expect(log.all == ["first", "second"])
    }

    @Test func aOneShotWatchCallsOnceAndAgainOnlyWhenArmedAgain() async throws {
        let thread = try EventThread(name: "test-once")
        defer { thread.stop() }
        var ends: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends) == 0)
        let (mine, theirs) = (ends[0], ends[1])
        defer { close(mine); close(theirs) }
        let log = Log()
        // Writable at once: a one-shot writable watch fires once.
        #expect(await thread.submit { thread.watchOnce(mine, writable: true) { log.add("writable") } } == true)
        try await eventually { log.all.count == 1 }
        #expect(await thread.submit { thread.watchOnce(mine) { log.add("readable") } } == true)
        #expect(write(theirs, "x", 1) == 1)
        try await eventually { log.all.count == 2 }
        #expect(write(theirs, "y", 1) == 1)  // still readable, but disarmed
        try await Task.sleep(for: .milliseconds(50))
        #expect(log.all == ["writable", "readable"])
        await thread.submit { thread.forget(mine) }
    }

    @Test func theTimerFiresOnceAtItsDeadlineAndALaterOneReplacesIt() async throws {
        let thread = try EventThread(name: "test-timer")
        defer { thread.stop() }
        let log = Log()
        let start = ContinuousClock.now
        await thread.submit {
            thread.schedule(at: start + .milliseconds(30)) { log.add("first") }
            thread.schedule(at: start + .milliseconds(60)) { log.add("second \(start.duration(to: .now) >= .milliseconds(60))") }
        }
        try await eventually { !log.all.isEmpty }
        try await Task.sleep(for: .milliseconds(100))
        #expect(log.all == ["second true"])
        await thread.submit {
            thread.schedule(at: .now + .milliseconds(20)) { log.add("cancelled") }
            thread.schedule(at: nil)
        }
        try await Task.sleep(for: .milliseconds(80))
        #expect(log.all == ["second true"])
    }

    /// What the VRRP master relies on: a timer every 10 ms costs the thread one wake-up each, not several.
    @Test func eachTimerEventIsOneWakeUp() async throws {
        let thread = try EventThread(name: "test-wakes")
        defer { thread.stop() }
        let fired = Log()
        final class Ticker: @unchecked Sendable {
            let thread: EventThread
            let fired: Log
            var left = 20
            init(_ thread: EventThread, _ fired: Log) {
                self.thread = thread
                self.fired = fired
            }
            func tick() {
                fired.add("tick")
                left -= 1
                if left > 0 { thread.schedule(at: .now + .milliseconds(10)) { self.tick() } }
            }
        }
        let ticker = Ticker(thread, fired)
        _ = await thread.submit {}
        let before = try #require(wakeUps(ofThreadNamed: "test-wakes"))
        thread.execute { thread.schedule(at: .now + .milliseconds(10)) { ticker.tick() } }
        try await eventually { fired.all.count == 20 }
        let after = try #require(wakeUps(ofThreadNamed: "test-wakes"))
        #expect(fired.all.count == 20)
        // 20 timers and the one job that armed the first; a few spare for a busy machine's preemptions.
        #expect(after - before <= 24, "\(after - before) wake-ups for 20 timer events")
    }

    @Test func nothingRunsOnceStopped() async throws {
        let thread = try EventThread(name: "test-stop")
        let log = Log()
        thread.execute { log.add("before") }
        thread.stop()
        #expect(!thread.execute { log.add("after") })
        #expect(await thread.submit { 1 } == nil)
        thread.waitUntilEnded()
        #expect(log.all == ["before"])
    }
}
