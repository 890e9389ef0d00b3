// The probes' event loop: tasks from any thread, timers in deadline order and cancellable, one-shot descriptor
// readiness, and a stop that runs what was queued.
import Glibc
import NIOConcurrencyHelpers
import NIOCore
import Testing
@testable import Probes
@testable import ProbesCore

@Suite struct ProbeLoopTests {
    @Test func tasksFromAnotherThreadRunOnTheLoopInTheirOrder() async throws {
        let loop = try ProbeLoop(name: "loop-tasks")
        defer { loop.stop() }
        #expect(!loop.inEventLoop)
        let seen = NIOLockedValueBox<[Int]>([])
        let onLoop = NIOLockedValueBox(true)
        let done = loop.makePromise(of: Void.self)
        Thread.detach {
            for index in 0..<200 {
                loop.execute {
                    if !loop.inEventLoop { onLoop.withLockedValue { $0 = false } }
                    seen.withLockedValue { $0.append(index) }
                }
            }
            loop.execute { done.succeed() }
        }
        try await done.futureResult.get()
        #expect(seen.withLockedValue { $0 } == Array(0..<200))
        #expect(onLoop.withLockedValue { $0 })
    }

    @Test func timersFireInDeadlineOrderAndACancelledOneNever() async throws {
        let loop = try ProbeLoop(name: "loop-timers")
        defer { loop.stop() }
        let fired = NIOLockedValueBox<[String]>([])
        let start = NIODeadline.now()
        let late = loop.scheduleTask(in: .milliseconds(60)) { fired.withLockedValue { $0.append("60") } }
        _ = loop.scheduleTask(in: .milliseconds(20)) { fired.withLockedValue { $0.append("20") } }
        let cancelled = loop.scheduleTask(in: .milliseconds(40)) { fired.withLockedValue { $0.append("40") } }
        cancelled.cancel()
        try await late.futureResult.get()
        #expect(NIODeadline.now() - start >= .milliseconds(60), "a timer fired early")
        #expect(fired.withLockedValue { $0 } == ["20", "60"])
        await #expect(throws: EventLoopError.cancelled) { try await cancelled.futureResult.get() }
        // A timer's value and error reach its future.
        #expect(try await loop.scheduleTask(in: .milliseconds(1)) { 42 }.futureResult.get() == 42)
        struct Refused: Error {}
        await #expect(throws: Refused.self) { try await loop.scheduleTask(in: .zero) { throw Refused() }.futureResult.get() }
    }

    @Test func aReadyDescriptorCallsBackOnceOnTheLoopUntilArmedAgainOrForgotten() async throws {
        let loop = try ProbeLoop(name: "loop-fds")
        defer { loop.stop() }
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        let (reader, writer) = (ends[0], ends[1])
        defer { close(reader); close(writer) }
        let calls = NIOLockedValueBox(0)
        let armed = try await loop.submit { loop.arm(reader) { calls.withLockedValue { $0 += 1 } } }.get()
        #expect(armed)
        #expect(write(writer, "a", 1) == 1)
        try await waitUntil { calls.withLockedValue { $0 } == 1 }
        // Still readable, but one-shot: no second call until armed again.
        #expect(write(writer, "b", 1) == 1)
        try await Task.sleep(for: .milliseconds(50))
        #expect(calls.withLockedValue { $0 } == 1)
        #expect(try await loop.submit { loop.arm(reader) { calls.withLockedValue { $0 += 1 } } }.get())
        try await waitUntil { calls.withLockedValue { $0 } == 2 }
        // Forgotten (as before a close), an armed descriptor is never called back.
        var byte: UInt8 = 0
        #expect(read(reader, &byte, 1) == 1 && read(reader, &byte, 1) == 1)
        try await loop.submit {
            _ = loop.arm(reader) { calls.withLockedValue { $0 += 1 } }
            loop.forget(reader)
        }.get()
        #expect(write(writer, "c", 1) == 1)
        try await Task.sleep(for: .milliseconds(50))
        #expect(calls.withLockedValue { $0 } == 2)
        // A descriptor the kernel cannot watch (a regular file) is refused, not watched.
        let file = open("/proc/self/status", O_RDONLY)
        defer { close(file) }
        #expect(try await loop.submit { loop.arm(file) {} }.get() == false)
    }

    @Test func stopRunsWhatWasQueuedCancelsTimersAndEndsTheThread() async throws {
        let loop = try ProbeLoop(name: "loop-stop")
        let ran = NIOLockedValueBox(false)
        loop.execute { usleep(20_000); ran.withLockedValue { $0 = true } }
        // A timer not yet due fails as cancelled: nothing waits on its future forever.
        let cancelled = NIOLockedValueBox(false)
        loop.scheduleTask(in: .seconds(10)) {}.futureResult.whenFailure { error in
            cancelled.withLockedValue { $0 = error as? EventLoopError == .cancelled }
        }
        loop.stop()  // waits for the thread
        #expect(ran.withLockedValue { $0 })
        #expect(cancelled.withLockedValue { $0 })
        loop.stop()  // a second stop is harmless
    }

    func waitUntil(_ condition: @Sendable () -> Bool) async throws {
        for _ in 0..<200 where !condition() { try await Task.sleep(for: .milliseconds(5)) }
        #expect(condition())
    }
}

/// A plain thread, so a task comes from outside the loop and outside Swift's pool.
enum Thread {
    static func detach(_ body: @escaping @Sendable () -> Void) {
        final class Job: Sendable {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        var thread = pthread_t()
        pthread_create(&thread, nil, { raw in
            Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, Unmanaged.passRetained(Job(body)).toOpaque())
        pthread_detach(thread)
    }
}
