// The control socket: a Unix stream socket, mode 0660, one JSON request and reply per line, caller known by SO_PEERCRED.
#if canImport(Glibc)
import Glibc
#endif
import HomecloudSchema
import Logging
import Metrics
import NIOCore
import NIOPosix
import PartLifecycle
import Synchronization

public struct ControlServerError: Error, CustomStringConvertible {
    public var description: String
}

public final class ControlServer: Service {
    /// More connections than this at once are closed at accept: a runaway client cannot exhaust memory.
    static let maxConnections = 64
    /// A connection has this long to send a complete request line (again after each reply); then it is dropped.
    public static let requestDeadline = TimeAmount.seconds(5)

    private let server: NIOAsyncChannel<(NIOAsyncChannel<LineFrame, ByteBuffer>, UInt32), Never>
    private let commands: ControlCommands
    private let logger: Logger
    private let path: String
    private let requests = Counter(label: "hcagent_control_requests_total")
    private let errors = Counter(label: "hcagent_control_errors_total")

    /// Connections accepted and not yet served. NIO traps (in release builds too) when a connection's writer is
    /// dropped unfinished, which is what a connection accepted while the accept loop ends would be: kept here,
    /// each is finished properly, served or not.
    private let unserved: UnservedConnections

    private init(server: NIOAsyncChannel<(NIOAsyncChannel<LineFrame, ByteBuffer>, UInt32), Never>,
                 commands: ControlCommands, logger: Logger, path: String, unserved: UnservedConnections) {
        self.server = server
        self.unserved = unserved
        self.commands = commands
        self.logger = logger
        self.path = path
    }

    /// Binds the socket now, so that READY=1 can follow. Refuses to take over a socket another agent answers on.
    public static func bind(path: String, commands: ControlCommands, group: EventLoopGroup, logger: Logger,
                            requestDeadline: TimeAmount = requestDeadline) async throws -> ControlServer {
        try prepareSocketPath(path)
        let idleDropped = Counter(label: "hcagent_control_idle_dropped_total")
        let unserved = UnservedConnections()
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 32)
            .bind(unixDomainSocketPath: path) { channel in
                // struct ucred { pid_t pid; uid_t uid; gid_t gid; }, which Swift's Glibc module does not export.
                let credentials: EventLoopFuture<(Int32, UInt32, UInt32)> = (channel as! SocketOptionProvider)
                    .unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
                return credentials.flatMapThrowing { credentials in
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(LineFrameDecoder(maxLength: ControlProtocol.maxRequestBytes)))
                    try channel.pipeline.syncOperations.addHandler(RequestDeadlineHandler(limit: requestDeadline, dropped: idleDropped))
                    let connection = try NIOAsyncChannel<LineFrame, ByteBuffer>(wrappingChannelSynchronously: channel)
                    unserved.add(connection)
                    return (connection, credentials.1)
                }
            }
        // Read-only requests for anyone who can open the socket; the owner and group decide who that is.
        guard chmod(path, 0o660) == 0 else {
            throw ControlServerError(description: "cannot set mode 0660 on \(path): \(String(cString: strerror(errno)))")
        }
        return ControlServer(server: server, commands: commands, logger: logger, path: path, unserved: unserved)
    }

    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingDiscardingTaskGroup { group in
                    try await self.server.executeThenClose { inbound in
                        for try await (connection, uid) in inbound {
                            self.unserved.remove(connection)
                            if self.openConnections.withLock({ $0 }) >= Self.maxConnections {
                                try? await connection.executeThenClose { _, _ in }
                                continue
                            }
                            group.addTask { await self.serve(connection, uid: uid) }
                        }
                    }
                }
            }
        } catch is CancellationError {
            // The graceful stop cancels the accept loop: that is how this service ends.
        }
        for connection in unserved.takeAll() { try? await connection.executeThenClose { _, _ in } }
        unlink(path)
    }

    private let openConnections = Mutex(0)

    private func serve(_ connection: NIOAsyncChannel<LineFrame, ByteBuffer>, uid: UInt32) async {
        openConnections.withLock { $0 += 1 }
        defer { openConnections.withLock { $0 -= 1 } }
        do {
            try await connection.executeThenClose { inbound, outbound in
                for try await frame in inbound {
                    self.requests.increment()
                    let reply: ControlReply
                    let close: Bool
                    switch frame {
                    case .line(let buffer):
                        let bytes = Array(buffer.readableBytesView)
                        if let (first, replies) = self.commands.stream(for: bytes, uid: uid) {
                            try await outbound.write(ByteBuffer(string: first.json.serialized + "\n"))
                            try await self.follow(replies, on: connection.channel, outbound)
                            return
                        }
                        reply = await self.commands.reply(to: bytes, uid: uid)
                        close = false
                    case .tooLong:
                        reply = .failure(ControlError(.tooLarge, "a request line is at most \(ControlProtocol.maxRequestBytes) bytes (a document at most \(DesiredState.maxDocumentBytes))"))
                        close = true
                    }
                    if !reply.ok { self.errors.increment() }
                    try await outbound.write(ByteBuffer(string: reply.json.serialized + "\n"))
                    if close { return }
                }
            }
        } catch {
            logger.debug("control connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// Writes each reply (an event, a restart's progress) as one line until the client closes the connection (its
    /// channel closes) or the stream ends (the agent stops, the restart is over). The connection is no longer
    /// idle-dropped: it waits for replies, not requests.
    private func follow(_ replies: AsyncStream<ControlReply>, on channel: any Channel, _ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws {
        try await channel.triggerUserOutboundEvent(ControlConnectionEvent.streaming)
        let closed = channel.closeFuture
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await reply in replies {
                    try await outbound.write(ByteBuffer(string: reply.json.serialized + "\n"))
                }
                // The stream ended (a restart's verdict): close, which also ends the wait below (a future's wait
                // does not end on cancellation).
                try? await channel.close()
            }
            group.addTask { try? await closed.get() }
            _ = try await group.next()
            group.cancelAll()
        }
    }

    /// A leftover socket file from a crashed agent is removed; one that still answers means another agent runs.
    static func prepareSocketPath(_ path: String) throws {
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if !directory.isEmpty { mkdir(directory, 0o755) }
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw ControlServerError(description: "\(path) exists and is not a socket; remove it or choose another socket path")
        }
        if ControlSocketProbe.answers(path) {
            throw ControlServerError(description: "another hcagent already answers on \(path)")
        }
        unlink(path)
    }
}

/// Tries to connect to a Unix socket path, without sending anything.
enum ControlSocketProbe {
    static func answers(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return result == 0
    }
}

/// The connections between accept and the accept loop (ControlServer.unserved).
final class UnservedConnections: Sendable {
    private let connections = Mutex<[ObjectIdentifier: NIOAsyncChannel<LineFrame, ByteBuffer>]>([:])

    func add(_ connection: NIOAsyncChannel<LineFrame, ByteBuffer>) {
        connections.withLock { $0[ObjectIdentifier(connection.channel)] = connection }
    }

    func remove(_ connection: NIOAsyncChannel<LineFrame, ByteBuffer>) {
        _ = connections.withLock { $0.removeValue(forKey: ObjectIdentifier(connection.channel)) }
    }

    func takeAll() -> [NIOAsyncChannel<LineFrame, ByteBuffer>] {
        connections.withLock { connections in
            defer { connections.removeAll() }
            return Array(connections.values)
        }
    }
}
