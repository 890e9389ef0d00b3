// The VIP on its interface through netlink (libnl-route-3): add, remove, list, and the record of what was added.
import CNetlinkRoute
import HomecloudSchema
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public struct NetlinkError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// One netlink route socket. Each call is a short request/acknowledge exchange with the kernel.
public final class VIPAddressTable: Sendable {
    /// libnl's socket, used only under the lock.
    private struct Socket: @unchecked Sendable { let pointer: OpaquePointer }
    private let socket: Mutex<Socket>

    public init() throws {
        guard let socket = nl_socket_alloc() else { throw NetlinkError(description: "cannot allocate a netlink socket") }
        let result = nl_connect(socket, NETLINK_ROUTE)
        guard result >= 0 else {
            nl_socket_free(socket)
            throw NetlinkError(description: "cannot connect to netlink: \(String(cString: nl_geterror(result)))")
        }
        self.socket = Mutex(Socket(pointer: socket))
    }

    deinit {
        socket.withLock { nl_socket_free($0.pointer) }
    }

    /// Adds the address (IPv6 without duplicate address detection, so it answers at once). Already there: fine.
    public func add(_ prefix: IPPrefix, interface: String) throws {
        try change(prefix, interface: interface, adding: true)
    }

    /// Removes the address. Already gone: fine.
    public func remove(_ prefix: IPPrefix, interface: String) throws {
        try change(prefix, interface: interface, adding: false)
    }

    /// The addresses on an interface, as the kernel reports them.
    public func addresses(on interface: String) throws -> [IPPrefix] {
        let index = try Self.index(of: interface)
        return try socket.withLock { socket in
            var cache: OpaquePointer?
            let result = rtnl_addr_alloc_cache(socket.pointer, &cache)
            guard result >= 0, let cache else { throw NetlinkError(description: "cannot list addresses: \(String(cString: nl_geterror(result)))") }
            defer { nl_cache_free(cache) }
            var found: [IPPrefix] = []
            var object = nl_cache_get_first(cache)
            while let current = object {
                let address = current  // an nl_object of an address cache is an rtnl_addr
                if rtnl_addr_get_ifindex(address) == index, let local = rtnl_addr_get_local(address) {
                    var buffer = [CChar](repeating: 0, count: 128)
                    nl_addr2str(local, &buffer, buffer.count)
                    let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    if let prefix = IPPrefix(text.contains("/") ? text : "\(text)/\(nl_addr_get_prefixlen(local))") {
                        found.append(prefix)
                    }
                }
                object = nl_cache_get_next(current)
            }
            return found
        }
    }

    /// The label marks IPv4 VIPs in `ip addr` output as the agent's ("eth0:hc"); IPv6 has no labels.
    static func label(for interface: String) -> String? {
        interface.utf8.count + 3 <= 15 ? interface + ":hc" : nil
    }

    static func index(of interface: String) throws -> Int32 {
        let index = if_nametoindex(interface)
        guard index > 0 else { throw NetlinkError(description: "no interface named \(interface)") }
        return Int32(index)
    }

    private func change(_ prefix: IPPrefix, interface: String, adding: Bool) throws {
        let index = try Self.index(of: interface)
        guard let address = rtnl_addr_alloc() else { throw NetlinkError(description: "cannot allocate an address") }
        defer { rtnl_addr_put(address) }
        var local: OpaquePointer?
        guard nl_addr_parse(prefix.description, prefix.address.family == .ipv4 ? AF_INET : AF_INET6, &local) >= 0, let local else {
            throw NetlinkError(description: "cannot parse \(prefix)")
        }
        defer { nl_addr_put(local) }
        rtnl_addr_set_ifindex(address, index)
        guard rtnl_addr_set_local(address, local) >= 0 else { throw NetlinkError(description: "cannot set \(prefix)") }
        rtnl_addr_set_prefixlen(address, Int32(prefix.length))
        if prefix.address.family == .ipv4, let label = Self.label(for: interface) {
            _ = rtnl_addr_set_label(address, label)
        } else if prefix.address.family == .ipv6 {
            rtnl_addr_set_flags(address, 0x02)  // IFA_F_NODAD
        }
        let result = socket.withLock { socket in
            adding ? rtnl_addr_add(socket.pointer, address, NLM_F_CREATE | NLM_F_REPLACE) : rtnl_addr_delete(socket.pointer, address, 0)
        }
        // Already there on add, already gone on delete: the work is done.
        if result < 0 && !(adding ? [-NLE_EXIST] : [-NLE_NOADDR, -NLE_OBJ_NOTFOUND]).contains(result) {
            throw NetlinkError(description: "cannot \(adding ? "add" : "remove") \(prefix) on \(interface): \(String(cString: nl_geterror(result)))")
        }
    }
}
