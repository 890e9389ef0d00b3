// Interfaces going up and down, from rtnetlink's link group; and what one interface is now (libnl-route-3).
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

/// A netlink socket in RTMGRP_LINK: every change of a link's flags arrives as RTM_NEWLINK. Non-blocking: its
/// owner watches `descriptor` and takes the changes with `receivePending`.
public final class LinkWatcher: Sendable {
    public struct Change: Sendable, Equatable {
        public var index: Int32
        public var up: Bool
    }

    private let fd: Int32
    private let closed = Atomic<Bool>(false)

    public init() throws {
        fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), NETLINK_ROUTE)
        guard fd >= 0 else { throw NetlinkError(description: "cannot open a netlink socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_nl()
        address.nl_family = sa_family_t(AF_NETLINK)
        address.nl_groups = 1  // RTMGRP_LINK
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
    public func receivePending() -> [Change] {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var changes: [Change] = []
        for _ in 0..<64 {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count > 0 {
                changes += Self.parse(Array(buffer[0..<count]))
            } else if count < 0 && (errno == EINTR || errno == ENOBUFS) {
                // ENOBUFS: the kernel dropped messages for want of room; the next ones are still worth reading.
                continue
            } else {
                break
            }
        }
        return changes
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
}
