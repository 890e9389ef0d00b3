// Moves gossip's bytes: UDP datagrams for probes and piggybacked updates, one TCP request/response per push-pull.
import NIOCore
import NIOPosix
import Synchronization

/// What the transport received: a datagram, already read whole. Sealing and parsing belong to the core.
public struct GossipPacket: Sendable {
    public var bytes: [UInt8]
    public var from: SocketAddress
}

public struct GossipTransportError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// One UDP socket and one TCP listener on the same address, as memberlist's net transport has. Streams carry
/// one length-prefixed frame each way (4 bytes, big-endian), so the caller gets a whole state or nothing.
public final class GossipTransport: Sendable {
    /// A state or document larger than this is refused: a peer cannot make the agent allocate without bound.
    public static let maxFrameBytes = 4 * 1024 * 1024

    typealias UDPChannel = NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>

    public let localAddress: SocketAddress
    /// The UDP socket now in use, nil once the transport is closed. It is replaced when NIO closes it on a
    /// send error it does not expect (see `packets`).
    private let udp: Mutex<UDPChannel?>
    private let tcp: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    private let group: EventLoopGroup
    private let host: String
    /// How often a replacement UDP socket is tried while its address cannot be bound.
    static let rebindInterval: Duration = .milliseconds(500)

    private init(localAddress: SocketAddress, udp: UDPChannel, tcp: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>,
                 group: EventLoopGroup, host: String) {
        self.localAddress = localAddress
        self.udp = Mutex(udp)
        self.tcp = tcp
        self.group = group
        self.host = host
    }

    static func bindUDP(host: String, port: Int, group: EventLoopGroup) async throws -> UDPChannel {
        try await DatagramBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try UDPChannel(wrappingChannelSynchronously: channel)
                }
            }
    }

    /// Binds UDP and TCP on host:port (port 0: any free port, the same for both).
    public static func bind(host: String, port: Int, group: EventLoopGroup) async throws -> GossipTransport {
        let udp = try await bindUDP(host: host, port: port, group: group)
        guard let local = udp.channel.localAddress, let boundPort = local.port else {
            throw GossipTransportError(description: "the UDP socket has no local address")
        }
        let tcp = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // tcpOption, not socketOption: at SOL_SOCKET the same number is SO_DEBUG, which needs CAP_NET_ADMIN.
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: boundPort) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return GossipTransport(localAddress: local, udp: udp, tcp: tcp, group: group, host: host)
    }

    /// Datagrams as they arrive, until the transport is closed. Call once.
    ///
    /// NIO closes a datagram channel when a send fails with an error it does not expect: EPERM from a
    /// firewall's output rule, ENETUNREACH or EINVAL while the board's address or route is gone. The socket
    /// would then stay closed, and the board deaf and mute on UDP for good while its TCP push-pulls kept
    /// refuting its deaths: it would flap dead and alive forever. So a socket closed under us is replaced by a
    /// new one on the same address (tried again every `rebindInterval` while the address cannot be bound),
    /// and what was lost meanwhile is lost like any datagram.
    public func packets() -> AsyncStream<GossipPacket> {
        AsyncStream { continuation in
            let task = Task {
                while let udp = self.udp.withLock({ $0 }) {
                    try? await udp.executeThenClose { inbound, _ in
                        for try await envelope in inbound {
                            continuation.yield(GossipPacket(bytes: Array(envelope.data.readableBytesView), from: envelope.remoteAddress))
                        }
                    }
                    guard await self.replaceUDP() else { break }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Binds a new UDP socket on `localAddress` in place of the closed one; false once the transport is closed
    /// or the caller cancelled.
    private func replaceUDP() async -> Bool {
        while !Task.isCancelled, udp.withLock({ $0 }) != nil {
            if let fresh = try? await Self.bindUDP(host: host, port: localAddress.port ?? 0, group: group) {
                let kept = udp.withLock { current -> Bool in
                    guard current != nil else { return false }
                    current = fresh
                    return true
                }
                if !kept { try? await fresh.channel.close() }
                return kept
            }
            try? await Task.sleep(for: Self.rebindInterval)
        }
        return false
    }

    /// Sends one datagram; a send that fails (no route, a full buffer, a firewall) is dropped like a lost packet.
    public func send(_ bytes: [UInt8], to address: SocketAddress) {
        udp.withLock { $0 }?.channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: ByteBuffer(bytes: bytes)), promise: nil)
    }

    /// Answers push-pull streams with `respond` until cancelled: one frame in, one frame out, then close.
    /// A connection that does not send a whole frame within `timeout` is closed.
    public func serveStreams(timeout: Duration = .seconds(5),
                             respond: @escaping @Sendable ([UInt8], SocketAddress?) async -> [UInt8]?) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await tcp.executeThenClose { connections in
                for try await connection in connections {
                    group.addTask {
                        let remote = connection.channel.remoteAddress
                        try? await withTimeout(timeout) {
                            try await connection.executeThenClose { inbound, outbound in
                                for try await frame in inbound {
                                    if let reply = await respond(Array(frame.readableBytesView), remote) {
                                        try await outbound.write(Self.frame(reply))
                                    }
                                    return
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Sends one frame over a new TCP connection and returns the peer's one frame back.
    public func exchange(_ bytes: [UInt8], with address: SocketAddress, timeout: Duration = .seconds(5)) async throws -> [UInt8] {
        try await withTimeout(timeout) {
            let connection = try await ClientBootstrap(group: self.group)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .connectTimeout(.milliseconds(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
                .connect(to: address) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder()))
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            return try await connection.executeThenClose { inbound, outbound in
                try await outbound.write(Self.frame(bytes))
                for try await frame in inbound { return Array(frame.readableBytesView) }
                throw GossipTransportError(description: "\(address) closed the stream without an answer")
            }
        }
    }

    public func close() async {
        let current = udp.withLock { current in
            defer { current = nil }
            return current
        }
        try? await current?.channel.close()
        try? await tcp.channel.close()
    }

    static func frame(_ bytes: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(bytes.count))
        buffer.writeBytes(bytes)
        return buffer
    }
}

/// Reads one 4-byte length and that many bytes; a length over the limit closes the stream.
struct FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        guard length <= GossipTransport.maxFrameBytes else {
            throw GossipTransportError(description: "a stream frame of \(length) bytes is over the limit")
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(length))!))
        return .continue
    }
}

/// Runs `body`, throwing if it takes longer than `timeout` (and cancelling it).
func withTimeout<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw GossipTransportError(description: "timed out after \(timeout)")
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
