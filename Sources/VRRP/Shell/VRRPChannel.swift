// Sends and receives VRRP packets (IP protocol 112) on one interface through a raw socket, IPv4 or IPv6.
// The socket constants (SOCK_RAW, IPPROTO_IPV6) come through libnl's headers: Glibc's module does not export them all.
import CNetlinkRoute
import HomecloudSchema
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public struct VRRPChannelError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// One raw socket bound to one interface, in the VRRP multicast group, sending with TTL / hop limit 255 (the
/// receiver checks it: RFC 5798 §5.1.1.3). Non-blocking: its owner watches `descriptor` and takes the packets
/// with the facts the codec checks: source, destination and the TTL they arrived with.
public final class VRRPChannel: Sendable {
    public struct Received: Sendable, Equatable {
        /// The VRRP packet, without the IP header.
        public var payload: [UInt8]
        public var source: IPAddress
        public var destination: IPAddress?
        public var hopLimit: Int
    }

    public static let ipv4Group = IPAddress("224.0.0.18")!
    public static let ipv6Group = IPAddress("ff02::12")!
    static let vrrpProtocol: Int32 = 112

    public let family: IPAddress.Family
    public let interface: String
    /// Looked up once: an index found later could come from another thread's network namespace.
    private let index: UInt32
    private let fd: Int32
    private let closed = Atomic<Bool>(false)

    /// Readable when packets wait: see `receivePending`.
    public var descriptor: Int32 { fd }

    public init(interface: String, family: IPAddress.Family) throws {
        self.family = family
        self.interface = interface
        index = if_nametoindex(interface)
        guard index > 0 else { throw VRRPChannelError(description: "no interface named \(interface)") }
        fd = socket(family == .ipv4 ? AF_INET : AF_INET6, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Self.vrrpProtocol)
        guard fd >= 0 else { throw VRRPChannelError(description: "cannot open a raw socket (needs CAP_NET_RAW): \(String(cString: strerror(errno)))") }
        do {
            try configure(index: Int32(index))
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    deinit { close() }

    private func configure(index: Int32) throws {
        try interface.withCString { name in
            try set(SOL_SOCKET, SO_BINDTODEVICE, name, socklen_t(strlen(name) + 1), "bind to \(interface)")
        }
        guard fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0 else {
            throw VRRPChannelError(description: "cannot make the socket non-blocking: \(String(cString: strerror(errno)))")
        }
        var hops: Int32 = 255
        var off: Int32 = 0
        var on: Int32 = 1
        switch family {
        case .ipv4:
            try set(Int32(IPPROTO_IP), IP_MULTICAST_TTL, &hops, 4, "set the multicast TTL")
            try set(Int32(IPPROTO_IP), IP_TTL, &hops, 4, "set the TTL")
            try set(Int32(IPPROTO_IP), IP_MULTICAST_LOOP, &off, 4, "turn multicast loop off")
            var request = ip_mreqn()
            request.imr_ifindex = index
            withUnsafeMutableBytes(of: &request.imr_multiaddr) { $0.copyBytes(from: Self.ipv4Group.bytes) }
            try set(Int32(IPPROTO_IP), IP_MULTICAST_IF, &request, socklen_t(MemoryLayout<ip_mreqn>.size), "choose the multicast interface")
            try set(Int32(IPPROTO_IP), IP_ADD_MEMBERSHIP, &request, socklen_t(MemoryLayout<ip_mreqn>.size), "join 224.0.0.18")
        case .ipv6:
            try set(Int32(IPPROTO_IPV6), 18 /* IPV6_MULTICAST_HOPS */, &hops, 4, "set the multicast hop limit")
            try set(Int32(IPPROTO_IPV6), 16 /* IPV6_UNICAST_HOPS */, &hops, 4, "set the hop limit")
            try set(Int32(IPPROTO_IPV6), 19 /* IPV6_MULTICAST_LOOP */, &off, 4, "turn multicast loop off")
            var interfaceIndex = UInt32(index)
            try set(Int32(IPPROTO_IPV6), 17 /* IPV6_MULTICAST_IF */, &interfaceIndex, 4, "choose the multicast interface")
            try set(Int32(IPPROTO_IPV6), 51 /* IPV6_RECVHOPLIMIT */, &on, 4, "ask for the hop limit")
            try set(Int32(IPPROTO_IPV6), 49 /* IPV6_RECVPKTINFO */, &on, 4, "ask for the destination")
            var request = ipv6_mreq()
            request.ipv6mr_interface = UInt32(index)
            withUnsafeMutableBytes(of: &request.ipv6mr_multiaddr) { $0.copyBytes(from: Self.ipv6Group.bytes) }
            try set(Int32(IPPROTO_IPV6), 20 /* IPV6_JOIN_GROUP */, &request, socklen_t(MemoryLayout<ipv6_mreq>.size), "join ff02::12")
        }
    }

    private func set(_ level: Int32, _ name: Int32, _ value: UnsafeRawPointer, _ length: socklen_t, _ what: String) throws {
        guard setsockopt(fd, level, name, value, length) == 0 else {
            throw VRRPChannelError(description: "cannot \(what): \(String(cString: strerror(errno)))")
        }
    }

    /// Sends one VRRP packet from `source`, an address of this interface: the checksum covers the source, so
    /// the kernel must not choose another one (a VIP on the same interface, say). The kernel adds the IP header.
    public func send(_ payload: [UInt8], to destination: IPAddress, from source: IPAddress) throws {
        var name = sockaddr_storage()
        var nameLength: socklen_t
        switch destination.family {
        case .ipv4:
            nameLength = socklen_t(MemoryLayout<sockaddr_in>.size)
            withUnsafeMutableBytes(of: &name) { raw in
                raw.storeBytes(of: sa_family_t(AF_INET), toByteOffset: 0, as: sa_family_t.self)
                raw.baseAddress!.advanced(by: 4).copyMemory(from: destination.bytes, byteCount: 4)
            }
        case .ipv6:
            nameLength = socklen_t(MemoryLayout<sockaddr_in6>.size)
            withUnsafeMutableBytes(of: &name) { raw in
                raw.storeBytes(of: sa_family_t(AF_INET6), toByteOffset: 0, as: sa_family_t.self)
                raw.baseAddress!.advanced(by: 8).copyMemory(from: destination.bytes, byteCount: 16)
                raw.storeBytes(of: index, toByteOffset: 24, as: UInt32.self)  // sin6_scope_id
            }
        }
        // One control message (struct cmsghdr: size_t length, int level, int type; then the data, padded to 8):
        // IP_PKTINFO's in_pktinfo (ifindex, source, 0) or IPV6_PKTINFO's in6_pktinfo (source, ifindex) names the
        // source. On the stack, as the rest: a master sends this ten times a second.
        let header = MemoryLayout<Int>.size + 8
        let dataLength = destination.family == .ipv4 ? 12 : 20
        let sent: Int = withUnsafeTemporaryAllocation(byteCount: (header + dataLength + 7) & ~7, alignment: 8) { control in
            control.initializeMemory(as: UInt8.self, repeating: 0)
            control.storeBytes(of: header + dataLength, toByteOffset: 0, as: Int.self)
            switch destination.family {
            case .ipv4:
                control.storeBytes(of: Int32(IPPROTO_IP), toByteOffset: MemoryLayout<Int>.size, as: Int32.self)
                control.storeBytes(of: 8 /* IP_PKTINFO */, toByteOffset: MemoryLayout<Int>.size + 4, as: Int32.self)
                control.storeBytes(of: Int32(index), toByteOffset: header, as: Int32.self)
                control.baseAddress!.advanced(by: header + 4).copyMemory(from: source.bytes, byteCount: 4)
            case .ipv6:
                control.storeBytes(of: Int32(IPPROTO_IPV6), toByteOffset: MemoryLayout<Int>.size, as: Int32.self)
                control.storeBytes(of: 50 /* IPV6_PKTINFO */, toByteOffset: MemoryLayout<Int>.size + 4, as: Int32.self)
                control.baseAddress!.advanced(by: header).copyMemory(from: source.bytes, byteCount: 16)
                control.storeBytes(of: Int32(index), toByteOffset: header + 16, as: Int32.self)
            }
            return payload.withUnsafeBytes { bytes in
                withUnsafeMutablePointer(to: &name) { namePointer in
                    // sendmsg only reads the data: the iovec type merely says mutable.
                    var vector = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count)
                    return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                        var message = msghdr()
                        message.msg_name = UnsafeMutableRawPointer(namePointer)
                        message.msg_namelen = nameLength
                        message.msg_iov = vectorPointer
                        message.msg_iovlen = 1
                        message.msg_control = control.baseAddress
                        message.msg_controllen = control.count
                        return sendmsg(fd, &message, 0)
                    }
                }
            }
        }
        guard sent == payload.count else {
            throw VRRPChannelError(description: "cannot send to \(destination) from \(source) on \(interface): \(String(cString: strerror(errno)))")
        }
    }

    /// Hands every packet waiting now to `body`, in order (at most `limit`: the rest stay readable). Skips what
    /// is not a whole packet.
    public func receivePending(limit: Int = 64, _ body: (Received) -> Void) {
        // On the stack: a fresh zeroed array per read was a tenth of a backup's time per advertisement.
        withUnsafeTemporaryAllocation(byteCount: 2048 + 256, alignment: 8) { space in
            let buffer = UnsafeMutableRawBufferPointer(rebasing: space[0..<2048])
            let control = UnsafeMutableRawBufferPointer(rebasing: space[2048...])
            for _ in 0..<limit {
                switch receiveOne(buffer, control) {
                case .nothing: return
                case .skipped: continue
                case .packet(let packet): body(packet)
                }
            }
        }
    }

    private enum Reading {
        case packet(Received)
        /// Not a whole packet (or an interrupted read).
        case skipped
        /// Nothing waits, or the socket fails.
        case nothing
    }

    private func receiveOne(_ buffer: UnsafeMutableRawBufferPointer, _ control: UnsafeMutableRawBufferPointer) -> Reading {
        var source = sockaddr_storage()
        var controlLength = 0
        let count: Int = withUnsafeMutablePointer(to: &source) { sourcePointer in
            var vector = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
            return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                var message = msghdr()
                message.msg_name = UnsafeMutableRawPointer(sourcePointer)
                message.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
                message.msg_iov = vectorPointer
                message.msg_iovlen = 1
                message.msg_control = control.baseAddress
                message.msg_controllen = control.count
                let received = recvmsg(fd, &message, 0)
                controlLength = message.msg_controllen
                return received
            }
        }
        if count < 0 && errno == EINTR { return .skipped }
        guard count > 0 else { return count == 0 ? .skipped : .nothing }
        switch family {
        case .ipv4:
            // A raw IPv4 socket hands over the IP header too: read the TTL and addresses from it.
            guard count >= 20 else { return .skipped }
            let headerLength = Int(buffer[0] & 0x0F) * 4
            guard headerLength >= 20, count > headerLength,
                  let from = IPAddress(bytes: Array(buffer[12..<16])), let to = IPAddress(bytes: Array(buffer[16..<20])) else { return .skipped }
            return .packet(Received(payload: Array(buffer[headerLength..<count]), source: from, destination: to, hopLimit: Int(buffer[8])))
        case .ipv6:
            let from = withUnsafeBytes(of: &source) { raw -> IPAddress? in
                let address = raw.load(as: sockaddr_in6.self)
                return IPAddress(bytes: withUnsafeBytes(of: address.sin6_addr) { Array($0) })
            }
            guard let from else { return .skipped }
            var hopLimit = -1
            var destination: IPAddress?
            // Walk the control messages (struct cmsghdr: size_t length, int level, int type, then data).
            var offset = 0
            let header = MemoryLayout<Int>.size + 8
            while offset + header <= controlLength {
                let length = control.loadUnaligned(fromByteOffset: offset, as: Int.self)
                let level = control.loadUnaligned(fromByteOffset: offset + MemoryLayout<Int>.size, as: Int32.self)
                let type = control.loadUnaligned(fromByteOffset: offset + MemoryLayout<Int>.size + 4, as: Int32.self)
                guard length >= header, offset + length <= controlLength else { break }
                if level == Int32(IPPROTO_IPV6) && type == 52 /* IPV6_HOPLIMIT */ {
                    hopLimit = Int(control.loadUnaligned(fromByteOffset: offset + header, as: Int32.self))
                } else if level == Int32(IPPROTO_IPV6) && type == 50 /* IPV6_PKTINFO: in6_addr, then ifindex */ {
                    destination = IPAddress(bytes: Array(control[(offset + header)..<(offset + header + 16)]))
                }
                offset += (length + 7) & ~7
            }
            return .packet(Received(payload: Array(buffer[0..<count]), source: from, destination: destination, hopLimit: hopLimit))
        }
    }

    /// Closes the socket (once); its owner stops watching the descriptor first.
    public func close() {
        if !closed.exchange(true, ordering: .acquiringAndReleasing) { Glibc.close(fd) }
    }
}
