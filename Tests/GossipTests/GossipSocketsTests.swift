// Gossip's sockets on an EventThread over loopback: datagrams both ways, one framed exchange per stream (large
// frames included), refused sends, silent peers and oversized frames.
@testable import Gossip
@testable import GossipCore
import Reactor
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// One endpoint: a thread and its sockets; what arrives goes to `datagrams`. The sockets are the thread's.
private final class Endpoint: @unchecked Sendable {
    let thread: EventThread
    var sockets: GossipSockets!
    let datagrams: AsyncStream<([UInt8], GossipAddress)>
    private let sink: AsyncStream<([UInt8], GossipAddress)>.Continuation
    var address: GossipAddress { sockets.localAddress }

    init(answer: @escaping @Sendable ([UInt8]) -> [UInt8]? = { $0.reversed() }, timeout: Duration = .seconds(5)) async throws {
        thread = try EventThread(name: "test-gossip")
        (datagrams, sink) = AsyncStream.makeStream()
        let sink = self.sink
        let failure: String? = await thread.submit { [self] () -> String? in
            do {
                sockets = try GossipSockets(thread: thread, host: [127, 0, 0, 1], port: 0, onDatagram: { sink.yield(($0, $1)) },
                                            onRequest: { frame, _ in answer(frame) }, streamTimeout: timeout)
                rearm()
                return nil
            } catch {
                return "\(error)"
            }
        } ?? "the thread stopped"
        if let failure { throw GossipTransportError(description: failure) }
    }

    /// The owner's timer: expire connections at their deadline.
    func rearm() {
        thread.schedule(at: sockets.nextDeadline) { [self] in
            sockets.expire()
            rearm()
        }
    }

    func send(_ bytes: [UInt8], to address: GossipAddress) {
        thread.execute { [self] in sockets.send(bytes, to: address) }
    }

    func exchange(_ frame: [UInt8], with address: GossipAddress) async -> Result<[UInt8], GossipTransportError> {
        await timedExchange(frame, with: address).result
    }

    /// The result and how long it took, measured on the thread: the test's task may wait a while for a
    /// thread of its own when other tests keep the pool busy.
    func timedExchange(_ frame: [UInt8], with address: GossipAddress) async -> (result: Result<[UInt8], GossipTransportError>, took: Duration) {
        await withCheckedContinuation { answer in
            thread.execute { [self] in
                let start = ContinuousClock.now
                sockets.exchange(frame, with: address) { answer.resume(returning: ($0, ContinuousClock.now - start)) }
                rearm()
            }
        }
    }

    func close() async {
        _ = await thread.submit { [self] in sockets.close() }
        thread.stop()
        thread.waitUntilEnded()
    }
}

@Suite struct GossipSocketsTests {
    @Test func datagramsAndStreamExchanges() async throws {
        let a = try await Endpoint()
        let b = try await Endpoint()
        #expect(a.address.port != 0 && a.address.host == [127, 0, 0, 1])
        var packets = b.datagrams.makeAsyncIterator()
        a.send([1, 2, 3], to: b.address)
        let packet = try #require(await packets.next())
        #expect(packet.0 == [1, 2, 3])
        #expect(packet.1 == a.address)

        let big = [UInt8](repeating: 7, count: 200_000) + [1]
        #expect(try await a.exchange(big, with: b.address).get() == big.reversed())
        #expect(try await a.exchange([], with: b.address).get() == [])
        // A document of a few MiB goes through without blocking the thread (both ways at once).
        let huge = (0..<(3 * 1024 * 1024)).map { UInt8(truncatingIfNeeded: $0 * 7) }
        async let one = a.exchange(huge, with: b.address)
        async let two = b.exchange(huge, with: a.address)
        #expect(try await one.get() == huge.reversed())
        #expect(try await two.get() == huge.reversed())
        await a.close()
        await b.close()
    }

    /// A send the kernel refuses (EINVAL for port 0 here; EPERM from a firewall or ENETUNREACH without a route
    /// on a board) is dropped: the socket goes on receiving and sending.
    @Test func aRefusedSendLeavesTheSocketWorking() async throws {
        let a = try await Endpoint()
        let b = try await Endpoint()
        var fromB = a.datagrams.makeAsyncIterator()
        var fromA = b.datagrams.makeAsyncIterator()
        a.send([0], to: GossipAddress(ipv4: 127, 0, 0, 1, port: 0))
        b.send([4, 5], to: a.address)
        a.send([6, 7], to: b.address)
        #expect(try #require(await fromB.next()).0 == [4, 5])
        let sent = try #require(await fromA.next())
        #expect(sent.0 == [6, 7] && sent.1 == a.address)
        await a.close()
        await b.close()
    }

    @Test func aSilentPeerTimesOutAndAnAbsentOneFailsAtOnce() async throws {
        let a = try await Endpoint(timeout: .milliseconds(300))
        // A listener that never accepts nor answers: the connect succeeds (backlog), no answer comes.
        let mute = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(mute) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(mute, $0, length) } }
        listen(mute, 4)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(mute, $0, &length) } }
        let (silent, took) = await a.timedExchange([1], with: GossipAddress(ipv4: 127, 0, 0, 1, port: UInt16(bigEndian: address.sin_port)))
        #expect(throws: GossipTransportError.self) { try silent.get() }
        #expect(took >= .milliseconds(290) && took < .seconds(2), "the 300 ms deadline, a little late at most")
        // Nothing listens on the port the mute socket will never use again: refused.
        let closedPort = try await Endpoint()
        let port = closedPort.address.port
        await closedPort.close()
        let refused = await a.exchange([1], with: GossipAddress(ipv4: 127, 0, 0, 1, port: port))
        #expect(throws: GossipTransportError.self) { try refused.get() }
        await a.close()
    }

    @Test func anOversizedFrameIsRefused() async throws {
        let a = try await Endpoint()
        let b = try await Endpoint()
        // A frame that claims more than the limit: the answering side hangs up instead of allocating it.
        let over = UInt32(GossipSockets.maxFrameBytes + 1)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        address.sin_port = b.address.port.bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(connected == 0)
        let header: [UInt8] = [UInt8(over >> 24), UInt8((over >> 16) & 0xFF), UInt8((over >> 8) & 0xFF), UInt8(over & 0xFF)]
        _ = header.withUnsafeBytes { write(fd, $0.baseAddress, 4) }
        var byte: UInt8 = 0
        #expect(read(fd, &byte, 1) == 0, "the answering side hangs up")
        // And it still answers others.
        #expect(try await a.exchange([5, 6], with: b.address).get() == [6, 5])
        await a.close()
        await b.close()
    }
}
