// EventThread.watch(_:readable:writable:): what a descriptor is waited for can be changed in place (sd-bus asks for
// writability only while it has something queued).
import Synchronization
import Testing
@testable import Reactor
#if canImport(Glibc)
import Glibc
#endif

@Suite struct EventThreadReadinessTests {
    final class Count: Sendable {
        let value = Mutex(0)
        func add() { value.withLock { $0 += 1 } }
        var now: Int { value.withLock { $0 } }
    }

    func eventually(_ done: () -> Bool) async throws {
        for _ in 0..<200 where !done() { try await Task.sleep(for: .milliseconds(10)) }
    }

    @Test func readableOnlyWaitsForDataThenWritableCallsAtOnce() async throws {
        var pair: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer { close(pair[0]); close(pair[1]) }
        let fd = pair[0], other = pair[1]
        let thread = try EventThread(name: "test-ready")
        defer { thread.stop() }
        let calls = Count()
        // Readable only: an idle socket (writable, nothing to read) does not call back.
        let watched = await thread.submit { () -> Bool in
            (try? thread.watch(fd, readable: true, writable: false) {
                var byte: UInt8 = 0
                _ = recv(fd, &byte, 1, Int32(MSG_DONTWAIT))
                calls.add()
            }) != nil
        }
        #expect(watched == true)
        try await Task.sleep(for: .milliseconds(100))
        #expect(calls.now == 0)
        var byte: UInt8 = 7
        #expect(send(other, &byte, 1, 0) == 1)
        try await eventually { calls.now >= 1 }
        #expect(calls.now == 1)
        // The same descriptor again, now writable too: the socket is writable, so it calls back at once (and,
        // level-triggered, on and on until changed back).
        _ = await thread.submit { try? thread.watch(fd, readable: true, writable: true) { calls.add() } }
        try await eventually { calls.now >= 5 }
        #expect(calls.now >= 5)
        _ = await thread.submit { try? thread.watch(fd, readable: true, writable: false) { calls.add() } }
        let settled = calls.now
        try await Task.sleep(for: .milliseconds(100))
        #expect(calls.now == settled)
        _ = await thread.submit { thread.unwatch(fd) }
    }
}
