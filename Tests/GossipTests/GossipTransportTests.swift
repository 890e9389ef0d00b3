// The gossip transport over loopback: datagrams both ways, one framed exchange per stream, limits and timeouts.
@testable import Gossip
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

@Suite struct GossipTransportTests {
    @Test func datagramsAndStreamExchanges() async throws {
        let a = try await GossipTransport.bind(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton)
        let b = try await GossipTransport.bind(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton)
        var packets = b.packets().makeAsyncIterator()
        a.send([1, 2, 3], to: b.localAddress)
        let packet = try #require(await packets.next())
        #expect(packet.bytes == [1, 2, 3])
        #expect(packet.from.port == a.localAddress.port)

        let serving = Task { try await b.serveStreams { request, _ in request.reversed() } }
        defer { serving.cancel() }
        let big = [UInt8](repeating: 7, count: 200_000) + [1]
        #expect(try await a.exchange(big, with: b.localAddress) == big.reversed())
        #expect(try await a.exchange([], with: b.localAddress) == [])
        await a.close()
        await b.close()
    }

    /// A send the kernel refuses (EINVAL for port 0 here; EPERM from a firewall or ENETUNREACH without a route
    /// on a board) makes NIO close the UDP socket: the transport must go on receiving and sending on its address.
    @Test func aRefusedSendLeavesTheTransportWorking() async throws {
        let a = try await GossipTransport.bind(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton)
        let b = try await GossipTransport.bind(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton)
        var fromB = a.packets().makeAsyncIterator()
        var fromA = b.packets().makeAsyncIterator()
        a.send([0], to: try SocketAddress(ipAddress: "127.0.0.1", port: 0))
        try await Task.sleep(for: .milliseconds(100))
        // Until the socket is replaced a datagram may be lost, as on any network: keep sending for a while.
        let sending = Task {
            for _ in 0..<40 where !Task.isCancelled {
                b.send([4, 5], to: a.localAddress)
                a.send([6, 7], to: b.localAddress)
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        defer { sending.cancel() }
        let received = try #require(await fromB.next())
        #expect(received.bytes == [4, 5])
        let sent = try #require(await fromA.next())
        #expect(sent.bytes == [6, 7])
        #expect(sent.from.port == a.localAddress.port, "the new socket is on the same port")
        await a.close()
        await b.close()
    }

    @Test func silentPeersTimeOut() async throws {
        let a = try await GossipTransport.bind(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton)
        let mute = try await GossipTransport.bind(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton)
        let serving = Task { try await mute.serveStreams { _, _ in try? await Task.sleep(for: .seconds(10)); return nil } }
        defer { serving.cancel() }
        let start = ContinuousClock.now
        await #expect(throws: GossipTransportError.self) {
            _ = try await a.exchange([1], with: mute.localAddress, timeout: .milliseconds(300))
        }
        #expect(ContinuousClock.now - start < .seconds(5))
        await a.close()
        await mute.close()
    }

    @Test func framesAreReassembledAndOversizedOnesRefused() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder()))
        var first = GossipTransport.frame([9, 8, 7])
        let half = first.readSlice(length: 5)!
        try channel.writeInbound(half)
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        try channel.writeInbound(first)
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(bytes: [9, 8, 7]))
        var huge = ByteBuffer()
        huge.writeInteger(UInt32(GossipTransport.maxFrameBytes + 1))
        #expect(throws: GossipTransportError.self) { try channel.writeInbound(huge) }
    }
}
