// Tells the LAN where a VIP lives now: gratuitous ARP for IPv4 (packet socket), unsolicited neighbour
// advertisement with the override flag for IPv6 (ICMPv6 socket).
import CNetlinkRoute
import HomecloudSchema
#if canImport(Glibc)
import Glibc
#endif

public final class NeighbourAnnouncer: Sendable {
    public let interface: String
    private let index: Int32
    private let hardwareAddress: [UInt8]

    /// `index` and `hardwareAddress` from LinkFacts: read once, in the namespace the agent runs in.
    public init(interface: String, index: Int32, hardwareAddress: [UInt8]) {
        self.interface = interface
        self.index = index
        self.hardwareAddress = hardwareAddress
    }

    /// One announcement for every address; errors name the address and the reason.
    public func announce(_ addresses: [IPAddress]) throws {
        guard hardwareAddress.count == 6 else { throw VRRPChannelError(description: "\(interface) has no Ethernet address") }
        for address in addresses {
            switch address.family {
            case .ipv4: try sendGratuitousARP(address)
            case .ipv6: try sendNeighbourAdvertisement(address)
            }
        }
    }

    /// An ARP request for the VIP from the VIP (sender and target address the same), broadcast: every host
    /// and switch on the LAN updates its entry to this board's MAC.
    func sendGratuitousARP(_ address: IPAddress) throws {
        let fd = socket(AF_PACKET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(UInt16(0x0806).bigEndian))
        guard fd >= 0 else { throw VRRPChannelError(description: "cannot open a packet socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let packet: [UInt8] = [0, 1, 0x08, 0x00, 6, 4, 0, 1] + hardwareAddress + address.bytes + [0, 0, 0, 0, 0, 0] + address.bytes
        var destination = sockaddr_ll()
        destination.sll_family = UInt16(AF_PACKET)
        destination.sll_protocol = UInt16(0x0806).bigEndian
        destination.sll_ifindex = index
        destination.sll_halen = 6
        withUnsafeMutableBytes(of: &destination.sll_addr) { $0.copyBytes(from: [UInt8](repeating: 0xFF, count: 6)) }
        let sent = withUnsafePointer(to: &destination) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, packet, packet.count, 0, $0, socklen_t(MemoryLayout<sockaddr_ll>.size)) }
        }
        guard sent == packet.count else { throw VRRPChannelError(description: "cannot send gratuitous ARP for \(address): \(String(cString: strerror(errno)))") }
    }

    /// RFC 4861 §4.4 to all nodes (ff02::1), hop limit 255, override set, with the target link-layer address
    /// option. The kernel fills in the ICMPv6 checksum.
    func sendNeighbourAdvertisement(_ address: IPAddress) throws {
        let fd = socket(AF_INET6, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(IPPROTO_ICMPV6))
        guard fd >= 0 else { throw VRRPChannelError(description: "cannot open an ICMPv6 socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var hops: Int32 = 255
        var interfaceIndex = UInt32(index)
        setsockopt(fd, Int32(IPPROTO_IPV6), 18 /* IPV6_MULTICAST_HOPS */, &hops, 4)
        setsockopt(fd, Int32(IPPROTO_IPV6), 17 /* IPV6_MULTICAST_IF */, &interfaceIndex, 4)
        let packet: [UInt8] = [136, 0, 0, 0, 0x20, 0, 0, 0] + address.bytes + [2, 1] + hardwareAddress
        var destination = sockaddr_in6()
        destination.sin6_family = sa_family_t(AF_INET6)
        destination.sin6_scope_id = UInt32(index)
        withUnsafeMutableBytes(of: &destination.sin6_addr) { $0.copyBytes(from: IPAddress("ff02::1")!.bytes) }
        let sent = withUnsafePointer(to: &destination) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, packet, packet.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
        guard sent == packet.count else { throw VRRPChannelError(description: "cannot send a neighbour advertisement for \(address): \(String(cString: strerror(errno)))") }
    }
}
