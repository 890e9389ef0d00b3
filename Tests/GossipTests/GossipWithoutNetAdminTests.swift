// Push-pull streams work on a board without CAP_NET_ADMIN (an LXC or Docker board). Linux keeps capabilities
// per thread: the test drops CAP_NET_ADMIN from the effective set of one event loop's thread only, so the
// transport's sockets are set up exactly as on such a board, and no other test is affected.
@testable import Gossip
import NIOCore
import NIOPosix
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

@Suite struct GossipWithoutNetAdminTests {
    @Test func pushPullWorksWithoutCapNetAdmin() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let dropped = try await group.next().submit { dropNetAdminFromThisThread() }.get()
        try #require(dropped, "this test needs CAP_NET_ADMIN to drop (run as root)")

        let a = try await GossipTransport.bind(host: "127.0.0.1", port: 0, group: group)
        let b = try await GossipTransport.bind(host: "127.0.0.1", port: 0, group: group)
        let serving = Task { try await b.serveStreams { request, _ in request.reversed() } }
        defer { serving.cancel() }
        // Before the fix both ends asked for SO_DEBUG (meaning TCP_NODELAY), which needs CAP_NET_ADMIN: the
        // connection never came up, and a board without it stayed alone.
        #expect(try await a.exchange([1, 2, 3], with: b.localAddress, timeout: .seconds(2)) == [3, 2, 1])
        await a.close()
        await b.close()
        try await group.shutdownGracefully()
    }
}
