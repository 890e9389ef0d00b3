// Push-pull streams work on a board without CAP_NET_ADMIN (an LXC or Docker board). Linux keeps capabilities
// per thread: the test drops CAP_NET_ADMIN from the effective set of one EventThread only, so gossip's
// sockets are set up exactly as on such a board, and no other test is affected.
@testable import Gossip
@testable import GossipCore
import Reactor
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// capget(2)/capset(2) from glibc, which Swift's Glibc module does not declare.
@_silgen_name("capget") private func capget(_ header: UnsafeMutableRawPointer, _ data: UnsafeMutableRawPointer) -> Int32
@_silgen_name("capset") private func capset(_ header: UnsafeMutableRawPointer, _ data: UnsafeMutableRawPointer) -> Int32

/// Clears CAP_NET_ADMIN (12) from the calling thread's effective set; false when it was not there to clear.
private func dropNetAdminFromThisThread() -> Bool {
    var header: (UInt32, Int32) = (0x2008_0522 /* _LINUX_CAPABILITY_VERSION_3 */, 0 /* this thread */)
    var data = [UInt32](repeating: 0, count: 6)  // two __user_cap_data_struct: effective, permitted, inheritable
    let got = withUnsafeMutableBytes(of: &header) { h in data.withUnsafeMutableBytes { capget(h.baseAddress!, $0.baseAddress!) } }
    guard got == 0, data[0] & (1 << 12) != 0 else { return false }
    data[0] &= ~(1 << 12)
    return withUnsafeMutableBytes(of: &header) { h in data.withUnsafeMutableBytes { capset(h.baseAddress!, $0.baseAddress!) } } == 0
}

/// The sockets live on the test's thread only; this box hands them between its jobs.
private final class Pair: @unchecked Sendable {
    var asker: GossipSockets?
    var answerer: GossipSockets?
}

@Suite struct GossipWithoutNetAdminTests {
    @Test func pushPullWorksWithoutCapNetAdmin() async throws {
        let thread = try EventThread(name: "test-no-net-admin")
        defer { thread.stop() }
        let dropped = await thread.submit { dropNetAdminFromThisThread() } ?? false
        try #require(dropped, "this test needs CAP_NET_ADMIN to drop (run as root)")

        let pair = Pair()
        // Before the fix both ends asked for SO_DEBUG (meaning TCP_NODELAY), which needs CAP_NET_ADMIN: the
        // connection never came up, and a board without it stayed alone.
        let answer: [UInt8]? = await withCheckedContinuation { done in
            let started = thread.execute {
                do {
                    pair.answerer = try GossipSockets(thread: thread, host: [127, 0, 0, 1], port: 0, onDatagram: { _, _ in },
                                                      onRequest: { frame, _ in frame.reversed() }, streamTimeout: .seconds(2))
                    pair.asker = try GossipSockets(thread: thread, host: [127, 0, 0, 1], port: 0, onDatagram: { _, _ in },
                                                   onRequest: { _, _ in nil }, streamTimeout: .seconds(2))
                    pair.asker!.exchange([1, 2, 3], with: pair.answerer!.localAddress) { result in
                        done.resume(returning: try? result.get())
                    }
                    // The owner's timer: a connection that never comes up is expired, so the test cannot hang.
                    thread.schedule(at: .now + .seconds(3)) { pair.asker?.expire(now: .now + .seconds(10)) }
                } catch {
                    done.resume(returning: nil)
                }
            }
            if !started { done.resume(returning: nil) }
        }
        #expect(answer == [3, 2, 1])
        _ = await thread.submit { pair.asker?.close(); pair.answerer?.close() }
    }
}
