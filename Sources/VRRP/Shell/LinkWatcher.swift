// Interfaces going up and down and addresses removed, from rtnetlink's link and address groups; and what one
// interface is now (libnl-route-3).
import CNetlinkRoute
import HomecloudSchema
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One interface as the kernel reports it.
public struct LinkFacts: Sendable, Equatable {
    public var index: Int32
    /// Up and with carrier (IFF_UP and IFF_RUNNING): only then do advertisements leave the board.
    public var up: Bool
    public var hardwareAddress: [UInt8]

    public init(index: Int32, up: Bool, hardwareAddress: [UInt8]) {
        self.index = index
        self.up = up
        self.hardwareAddress = hardwareAddress
    }

    /// Asks the kernel now, through libnl.
    public static func read(interface: String) throws -> LinkFacts {
        guard let socket = nl_socket_alloc() else { throw NetlinkError(description: "cannot allocate a netlink socket") }
        defer { nl_socket_free(socket) }
        let connected = nl_connect(socket, NETLINK_ROUTE)
        guard connected >= 0 else { throw NetlinkError(description: "cannot connect to netlink: \(String(cString: nl_geterror(connected)))") }
        var link: OpaquePointer?
        let result = interface.withCString { rtnl_link_get_kernel(socket, 0, $0, &link) }
        guard result >= 0, let link else { throw NetlinkError(description: "no interface named \(interface)") }
        defer { rtnl_link_put(link) }
        let flags = rtnl_link_get_flags(link)
        var hardware: [UInt8] = []
        if let address = rtnl_link_get_addr(link), let bytes = nl_addr_get_binary_addr(address) {
            hardware = Array(UnsafeRawBufferPointer(start: bytes, count: Int(nl_addr_get_len(address))))
        }
        return LinkFacts(index: Int32(rtnl_link_get_ifindex(link)), up: Self.isUp(flags: flags), hardwareAddress: hardware)
    }

    static func isUp(flags: UInt32) -> Bool {
        flags & 0x1 /* IFF_UP */ != 0 && flags & 0x40 /* IFF_RUNNING */ != 0
    }
}

/// A netlink socket in RTMGRP_LINK and the IPv4 and IPv6 address groups: every change of a link's flags
/// arrives as RTM_NEWLINK, every address removed (by `ip addr del`, a network manager restarting) as
/// RTM_DELADDR. Non-blocking: its owner watches `descriptor` and takes the changes with `receivePending`.
public final class LinkWatcher: Sendable {
    public struct Change: Sendable, Equatable {
        public var index: Int32
        public var up: Bool
    }

    /// An address gone from an interface.
    public struct RemovedAddress: Sendable, Equatable {
        public var index: Int32
        public var address: IPAddress
    }

    /// What waited on the socket. `overflowed`: the kernel dropped notifications (ENOBUFS), so the owner
    /// must read the links and addresses it cares about again rather than trust what arrived.
    public struct Pending: Sendable, Equatable {
        public var links: [Change] = []
        public var removedAddresses: [RemovedAddress] = []
        public var overflowed = false
    }

    /// RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR.
    static let groups: UInt32 = 0x1 | 0x10 | 0x100

    private let fd: Int32
    private let closed = Atomic<Bool>(false)

    public init() throws {
        fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), NETLINK_ROUTE)
        guard fd >= 0 else { throw NetlinkError(description: "cannot open a netlink socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_nl()
        address.nl_family = sa_family_t(AF_NETLINK)
        address.nl_groups = Self.groups
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_nl>.size)) }
        }
        guard bound == 0, fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            throw NetlinkError(description: "cannot listen to link changes: \(reason)")
        }
    }

    deinit { close() }

    /// Readable when changes wait.
    public var descriptor: Int32 { fd }

    /// The changes waiting now, oldest first.
    public func receivePending() -> Pending {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var pending = Pending()
        for _ in 0..<64 {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count > 0 {
                let datagram = Array(buffer[0..<count])
                pending.links += Self.parse(datagram)
                pending.removedAddresses += Self.parseRemovedAddresses(datagram)
            } else if count < 0 && errno == EINTR {
                continue
            } else if count < 0 && errno == ENOBUFS {
                // The kernel dropped messages for want of room: what they said is lost, so the owner reads
                // the state again; the next ones are still worth reading.
                pending.overflowed = true
                continue
            } else {
                break
            }
        }
        return pending
    }

    /// Closes the socket (once); its owner stops watching the descriptor first.
    public func close() {
        if !closed.exchange(true, ordering: .acquiringAndReleasing) { Glibc.close(fd) }
    }

    /// The RTM_NEWLINK messages of one datagram: nlmsghdr (length, type, flags, seq, pid) then ifinfomsg
    /// (family, pad, type, index, flags, change). Anything short or odd is skipped.
    static func parse(_ bytes: [UInt8]) -> [Change] {
        func u16(_ at: Int) -> UInt16 { bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt16.self) } }
        func u32(_ at: Int) -> UInt32 { bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt32.self) } }
        var changes: [Change] = []
        var offset = 0
        while offset + 32 <= bytes.count {
            let length = Int(u32(offset))
            guard length >= 16, offset + length <= bytes.count else { break }
            if u16(offset + 4) == 16 /* RTM_NEWLINK */, length >= 32 {
                changes.append(Change(index: Int32(bitPattern: u32(offset + 20)), up: LinkFacts.isUp(flags: u32(offset + 24))))
            }
            offset += (length + 3) & ~3
        }
        return changes
    }

    /// The RTM_DELADDR messages of one datagram: nlmsghdr, ifaddrmsg (family, prefix length, flags, scope,
    /// index), then attributes (length, type, value, each padded to 4); the address is IFA_LOCAL (2) for
    /// IPv4, IFA_ADDRESS (1) for IPv6. Anything short or odd is skipped.
    static func parseRemovedAddresses(_ bytes: [UInt8]) -> [RemovedAddress] {
        func u16(_ at: Int) -> UInt16 { bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt16.self) } }
        func u32(_ at: Int) -> UInt32 { bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt32.self) } }
        var removed: [RemovedAddress] = []
        var offset = 0
        while offset + 16 <= bytes.count {
            let length = Int(u32(offset))
            guard length >= 16, offset + length <= bytes.count else { break }
            if u16(offset + 4) == 21 /* RTM_DELADDR */, length >= 24 {
                let family = bytes[offset + 16]
                let index = Int32(bitPattern: u32(offset + 20))
                let size = family == 2 /* AF_INET */ ? 4 : family == 10 /* AF_INET6 */ ? 16 : 0
                var local: IPAddress?
                var any: IPAddress?
                var attribute = offset + 24
                while size > 0, attribute + 4 <= offset + length {
                    let attributeLength = Int(u16(attribute))
                    guard attributeLength >= 4, attribute + attributeLength <= offset + length else { break }
                    let type = u16(attribute + 2)
                    if attributeLength == 4 + size, type == 1 || type == 2,
                       let address = IPAddress(bytes: Array(bytes[(attribute + 4)..<(attribute + 4 + size)])) {
                        if type == 2 { local = address } else { any = address }
                    }
                    attribute += (attributeLength + 3) & ~3
                }
                if let address = local ?? any { removed.append(RemovedAddress(index: index, address: address)) }
            }
            offset += (length + 3) & ~3
        }
        return removed
    }
}
