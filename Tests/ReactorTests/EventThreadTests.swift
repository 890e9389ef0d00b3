// EventThread: jobs in order on its thread, level-triggered and one-shot descriptors, the one timer, and a stop
// that runs what was queued and nothing after.
import CLinuxEvents
import Synchronization
import Testing
@testable import Reactor
#if canImport(Glibc)
import Glibc
#endif

@Suite struct EventThreadTests {
    /// What the thread's callbacks saw, for the test's own thread to read.
    final class Log: Sendable {
        let lines = Mutex<[String]>([])
        func add(_ line: String) { lines.withLock { $0.append(line) } }
        var all: [String] { lines.withLock { $0 } }
    }

    func eventually(_ done: () -> Bool) async throws {
        for _ in 0..<200 where !done() { try await Task.sleep(for: .milliseconds(10)) }
    }

    @Test func jobsRunInOrderOnTheThread() async throws {
        let thread = try EventThread(name: "test-jobs")
        defer { thread.stop() }
        #expect(!thread.isCurrent)
        let log = Log()
        for n in 1...100 { thread.execute { log.add("\(n)") } }
        let answer = await thread.submit {
            thread.preconditionInThread()
            return 42
        }
        #expect(answer == 42)
        #expect(log.all == (1...100).map { "\($0)" })
    }

    @Test func aWatchedDescriptorCallsBackWhileReadableUntilUnwatched() async throws {
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
        _ = write(fd, &three, 8)  // level-triggered: every readiness calls again
        try await eventually { log.all.count == 2 }
        #expect(log.all == ["read 3", "read 3"])
        await thread.submit { thread.unwatch(fd) }
        _ = write(fd, &three, 8)
        try await Task.sleep(for: .milliseconds(50))
        #expect(log.all.count == 2)
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

    @Test func theTimerFiresOnceAtItsDeadlineAndASecondReplacesIt() async throws {
        let thread = try EventThread(name: "test-timer")
        defer { thread.stop() }
        let log = Log()
        let start = ContinuousClock.now
        await thread.submit {
            thread.schedule(at: start + .milliseconds(20)) { log.add("replaced") }
            thread.schedule(at: start + .milliseconds(40)) { log.add("fired") }
        }
        try await eventually { log.all.count == 1 }
        #expect(ContinuousClock.now - start >= .milliseconds(40))
        try await Task.sleep(for: .milliseconds(50))
        #expect(log.all == ["fired"])
        await thread.submit { thread.schedule(at: .now + .milliseconds(20)) { log.add("cancelled") }; thread.schedule(at: nil) }
        try await Task.sleep(for: .milliseconds(60))
        #expect(log.all == ["fired"])
    }

    @Test func stopRunsWhatWasQueuedAndRefusesWhatComesAfter() async throws {
        let thread = try EventThread(name: "test-stop")
        let log = Log()
        thread.execute { usleep(20_000); log.add("queued") }
        thread.stop()
        #expect(!thread.execute { log.add("late") })
        #expect(await thread.submit { 1 } == nil)
        thread.waitUntilEnded()
        #expect(log.all == ["queued"])
    }
}
