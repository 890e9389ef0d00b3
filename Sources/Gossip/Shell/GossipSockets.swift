// Gossip's bytes on an EventThread: one non-blocking UDP socket for datagrams, one TCP listener and short TCP
// connections for push-pull (one length-prefixed frame each way), every descriptor in the thread's epoll.
import Reactor
#if canImport(Glibc)
import Glibc
#endif

public struct GossipTransportError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// One UDP socket and one TCP listener on the same address, as memberlist's net transport has. A stream carries
/// one frame each way (its length in 4 bytes, big-endian, then the bytes): the caller gets a whole frame or
/// nothing. Nothing here blocks the thread: connects, reads and writes wait in epoll, each connection within
/// its deadline, which the owner's timer enforces through `expire`. Used on the thread only.
public final class GossipSockets {
    /// A frame larger than this is refused: a peer cannot make the agent allocate without bound.
    public static let maxFrameBytes = 4 * 1024 * 1024
    /// Open connections at most, both ways.
    static let maxConnections = 16
    /// How long a push-pull may take, connect to last byte, either side.
    public let streamTimeout: Duration

    public let localAddress: GossipAddress
    private let thread: EventThread
    private let udp: Int32
    private let listener: Int32
    private var connections: [Int32: Connection] = [:]
    private var closed = false
    /// A datagram, read whole, and who sent it.
    private let onDatagram: ([UInt8], GossipAddress) -> Void
    /// A peer's frame on a stream it opened, and who it is: the answer to send back, nil to hang up.
    private let onRequest: ([UInt8], GossipAddress) -> [UInt8]?
    private var receiveBuffer = [UInt8](repeating: 0, count: 65536)
    private let traffic = GossipTraffic()

    private final class Connection {
        enum Role {
            /// We opened it: send `outgoing`, then read the answer and hand it to `done`.
            case asking((Result<[UInt8], GossipTransportError>) -> Void)
            /// A peer opened it: read its frame, then send our answer.
            case answering
        }
        let fd: Int32
        let peer: GossipAddress
        var role: Role
        let deadline: ContinuousClock.Instant
        var connecting: Bool
        var outgoing: [UInt8] = []
        var written = 0
        var incoming: [UInt8] = []
        var expected: Int?

        init(fd: Int32, peer: GossipAddress, role: Role, deadline: ContinuousClock.Instant, connecting: Bool) {
            self.fd = fd
            self.peer = peer
            self.role = role
            self.deadline = deadline
            self.connecting = connecting
        }
    }

    /// Binds UDP and TCP on `host`:`port` (port 0: any free port, the same for both) and watches them. On the thread.
    public init(thread: EventThread, host: [UInt8], port: UInt16,
                onDatagram: @escaping ([UInt8], GossipAddress) -> Void,
                onRequest: @escaping ([UInt8], GossipAddress) -> [UInt8]?, streamTimeout: Duration = .seconds(5)) throws {
        thread.preconditionInThread()
        self.thread = thread
        self.streamTimeout = streamTimeout
        self.onDatagram = onDatagram
        self.onRequest = onRequest
        guard let wanted = GossipAddress(host: host, port: port) else {
            throw GossipTransportError(description: "not an IP address: \(host)")
        }
        let udp = try Self.socket(wanted, type: SOCK_DGRAM)
        var bound: GossipAddress
        do {
            try Self.bind(udp, to: wanted)
            bound = try Self.localAddress(of: udp)
        } catch {
            Glibc.close(udp)
            throw error
        }
        let listener: Int32
        do {
            listener = try Self.socket(bound, type: SOCK_STREAM)
        } catch {
            Glibc.close(udp)
            throw error
        }
        do {
            try Self.bind(listener, to: bound)
            guard Glibc.listen(listener, 64) == 0 else { throw Self.failure("listen on \(bound)") }
        } catch {
            Glibc.close(udp)
            Glibc.close(listener)
            throw error
        }
        self.udp = udp
        self.listener = listener
        localAddress = GossipAddress(host: wanted.host, port: bound.port)!
        try thread.watch(udp) { [unowned self] in self.readDatagrams() }
        try thread.watch(listener) { [unowned self] in self.acceptConnections() }
    }

    // MARK: datagrams

    /// Sends one datagram; a send that fails (no route, a full buffer, a firewall) is dropped like a lost packet.
    /// The socket stays open whatever the error: a board must never go deaf and mute on UDP.
    public func send(_ bytes: [UInt8], to address: GossipAddress) {
        guard !closed else { return }
        let sent = Self.withSocketAddress(address) { pointer, length in
            bytes.withUnsafeBytes { sendto(udp, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT), pointer, length) }
        } ?? -1
        if sent >= 0 { traffic.sentDatagram(sent) }
    }

    private func readDatagrams() {
        // Level-triggered: read what is there; a datagram left over wakes the thread again at once.
        for _ in 0..<64 {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let count = receiveBuffer.withUnsafeMutableBytes { buffer in
                withUnsafeMutablePointer(to: &storage) { address in
                    address.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        recvfrom(udp, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT), $0, &length)
                    }
                }
            }
            guard count >= 0 else { return }
            traffic.receivedDatagram(count)
            guard let from = Self.gossipAddress(storage) else { continue }
            onDatagram(Array(receiveBuffer[0..<count]), from)
        }
    }

    // MARK: streams

    /// Sends `frame` to `address` over a new TCP connection and hands the peer's one frame back to `done`, on the
    /// thread; a failure or a timeout hands an error. `done` is called exactly once, unless the sockets close first.
    public func exchange(_ frame: [UInt8], with address: GossipAddress,
                         done: @escaping (Result<[UInt8], GossipTransportError>) -> Void) {
        guard !closed else { return }
        let fd: Int32
        do {
            fd = try Self.socket(address, type: SOCK_STREAM)
        } catch {
            done(.failure(error as? GossipTransportError ?? GossipTransportError(description: "\(error)")))
            return
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let result = Self.withSocketAddress(address) { Glibc.connect(fd, $0, $1) } ?? -1
        guard result == 0 || errno == EINPROGRESS else {
            let failure = Self.failure("connect to \(address)")
            Glibc.close(fd)
            done(.failure(failure))
            return
        }
        let connection = Connection(fd: fd, peer: address, role: .asking(done),
                                    deadline: .now + streamTimeout, connecting: result != 0)
        connection.outgoing = Self.framed(frame)
        connections[fd] = connection
        continueWriting(connection)
    }

    private func acceptConnections() {
        for _ in 0..<16 {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) { address in
                address.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    accept(listener, $0, &length)
                }
            }
            guard fd >= 0 else { return }
            // accept4 is not in Swift's Glibc module: the flags one call later.
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            guard let peer = Self.gossipAddress(storage) else {
                Glibc.close(fd)
                continue
            }
            // A few exchanges at once are plenty (one per peer every 30 s, and fetches): more would only let a
            // stranger make the agent hold many frames.
            guard connections.count < Self.maxConnections else {
                Glibc.close(fd)
                continue
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let connection = Connection(fd: fd, peer: peer, role: .answering, deadline: .now + streamTimeout, connecting: false)
            connections[fd] = connection
            continueReading(connection)
        }
    }

    /// Writes what the kernel takes now; waits for room for the rest; then reads (asking) or hangs up (answering).
    private func continueWriting(_ connection: Connection) {
        if connection.connecting {
            connection.connecting = false
            if !thread.watchOnce(connection.fd, writable: true, { [unowned self] in self.connected(connection) }) {
                finish(connection, .failure(GossipTransportError(description: "cannot wait for \(connection.peer)")))
            }
            return
        }
        while connection.written < connection.outgoing.count {
            let count = connection.outgoing.withUnsafeBytes { bytes in
                Glibc.send(connection.fd, bytes.baseAddress! + connection.written, bytes.count - connection.written,
                           Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            }
            if count > 0 {
                connection.written += count
                traffic.tcpBytesSent.increment(by: Int64(count))
            } else if count < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR {
                if errno == EINTR { continue }
                if !thread.watchOnce(connection.fd, writable: true, { [unowned self] in self.continueWriting(connection) }) {
                    finish(connection, .failure(GossipTransportError(description: "cannot wait for \(connection.peer)")))
                }
                return
            } else {
                finish(connection, .failure(Self.failure("send to \(connection.peer)")))
                return
            }
        }
        switch connection.role {
        case .asking:
            connection.outgoing = []
            continueReading(connection)
        case .answering:
            finish(connection, .success([]))
        }
    }

    private func connected(_ connection: Connection) {
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(connection.fd, SOL_SOCKET, SO_ERROR, &error, &length)
        guard error == 0 else {
            finish(connection, .failure(GossipTransportError(description: "connect to \(connection.peer): \(String(cString: strerror(error)))")))
            return
        }
        continueWriting(connection)
    }

    /// Reads what there is; once the frame is whole, answers it (answering) or hands it over (asking).
    private func continueReading(_ connection: Connection) {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count > 0 {
                connection.incoming += chunk[0..<count]
                traffic.tcpBytesReceived.increment(by: Int64(count))
                if connection.expected == nil, connection.incoming.count >= 4 {
                    let length = connection.incoming[0..<4].reduce(0) { $0 << 8 | Int($1) }
                    guard length <= Self.maxFrameBytes else {
                        finish(connection, .failure(GossipTransportError(description: "a stream frame of \(length) bytes from \(connection.peer) is over the limit")))
                        return
                    }
                    // Not reserved up front: a peer's claim costs nothing until its bytes come.
                    connection.expected = length
                }
                if let expected = connection.expected, connection.incoming.count >= 4 + expected {
                    frameComplete(connection, Array(connection.incoming[4..<(4 + expected)]))
                    return
                }
            } else if count == 0 {
                finish(connection, .failure(GossipTransportError(description: "\(connection.peer) closed the stream without a whole frame")))
                return
            } else if errno == EINTR {
                continue
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                if !thread.watchOnce(connection.fd, { [unowned self] in self.continueReading(connection) }) {
                    finish(connection, .failure(GossipTransportError(description: "cannot wait for \(connection.peer)")))
                }
                return
            } else {
                finish(connection, .failure(Self.failure("receive from \(connection.peer)")))
                return
            }
        }
    }

    private func frameComplete(_ connection: Connection, _ frame: [UInt8]) {
        connection.incoming = []
        switch connection.role {
        case .asking:
            finish(connection, .success(frame))
        case .answering:
            guard let answer = onRequest(frame, connection.peer), !closed else {
                finish(connection, .success([]))
                return
            }
            connection.outgoing = Self.framed(answer)
            continueWriting(connection)
        }
    }

    /// Closes the connection and, when we asked, tells the asker how it went.
    private func finish(_ connection: Connection, _ result: Result<[UInt8], GossipTransportError>) {
        guard connections.removeValue(forKey: connection.fd) != nil else { return }
        thread.forget(connection.fd)
        Glibc.close(connection.fd)
        if case .asking(let done) = connection.role { done(result) }
    }

    /// The earliest deadline of an open connection: the owner's timer must fire then and call `expire`.
    public var nextDeadline: ContinuousClock.Instant? { connections.values.map(\.deadline).min() }

    /// Closes the connections past their deadline.
    public func expire(now: ContinuousClock.Instant = .now) {
        for connection in connections.values where connection.deadline <= now {
            finish(connection, .failure(GossipTransportError(description: "\(connection.peer) timed out after \(streamTimeout)")))
        }
    }

    /// Closes every socket; exchanges under way are dropped without a word. On the thread.
    public func close() {
        guard !closed else { return }
        closed = true
        for connection in connections.values {
            thread.forget(connection.fd)
            Glibc.close(connection.fd)
        }
        connections = [:]
        thread.unwatch(udp)
        thread.unwatch(listener)
        Glibc.close(udp)
        Glibc.close(listener)
    }

    // MARK: addresses and descriptors

    static func framed(_ bytes: [UInt8]) -> [UInt8] {
        let length = UInt32(bytes.count)
        return [UInt8(length >> 24), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)] + bytes
    }

    private static func failure(_ what: String) -> GossipTransportError {
        GossipTransportError(description: "\(what): \(String(cString: strerror(errno)))")
    }

    private static func socket(_ address: GossipAddress, type: __socket_type) throws -> Int32 {
        let fd = Glibc.socket(address.isIPv6 ? AF_INET6 : AF_INET, Int32(type.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw failure("socket") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }

    private static func bind(_ fd: Int32, to address: GossipAddress) throws {
        guard withSocketAddress(address, { Glibc.bind(fd, $0, $1) }) == 0 else { throw failure("bind \(address)") }
    }

    private static func localAddress(of fd: Int32) throws -> GossipAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) { address in
            address.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard result == 0, let address = gossipAddress(storage) else { throw failure("getsockname") }
        return address
    }

    /// Calls `body` with the address as a sockaddr_in or sockaddr_in6.
    static func withSocketAddress<Result>(_ address: GossipAddress,
                                          _ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result? {
        if address.isIPv6 {
            var socketAddress = sockaddr_in6()
            socketAddress.sin6_family = sa_family_t(AF_INET6)
            socketAddress.sin6_port = address.port.bigEndian
            withUnsafeMutableBytes(of: &socketAddress.sin6_addr) { $0.copyBytes(from: address.host) }
            return withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
        var socketAddress = sockaddr_in()
        socketAddress.sin_family = sa_family_t(AF_INET)
        socketAddress.sin_port = address.port.bigEndian
        withUnsafeMutableBytes(of: &socketAddress.sin_addr) { $0.copyBytes(from: address.host) }
        return withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    /// An IPv4 or IPv6 sender; a v4-mapped IPv6 address becomes the IPv4 one it stands for.
    static func gossipAddress(_ storage: sockaddr_storage) -> GossipAddress? {
        var storage = storage
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                    GossipAddress(host: withUnsafeBytes(of: pointer.pointee.sin_addr) { Array($0) }, port: UInt16(bigEndian: pointer.pointee.sin_port))
                }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                    let host = withUnsafeBytes(of: pointer.pointee.sin6_addr) { Array($0) }
                    let port = UInt16(bigEndian: pointer.pointee.sin6_port)
                    if host[0..<10].allSatisfy({ $0 == 0 }), host[10] == 0xFF, host[11] == 0xFF {
                        return GossipAddress(host: Array(host[12...]), port: port)
                    }
                    return GossipAddress(host: host, port: port)
                }
            }
        default:
            return nil
        }
    }
}
