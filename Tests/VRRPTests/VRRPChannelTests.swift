// VRRP's raw sockets between two network namespaces on a veth pair (root only): multicast and unicast, IPv4
// and IPv6, arriving with TTL / hop limit 255 and the sender's address.
import HomecloudSchema
import Testing
@testable import VRRP
@testable import VRRPCore
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized, .enabled(if: getuid() == 0, "needs root for network namespaces and raw sockets"))
struct VRRPChannelTests {
    let a = "hct-vra-\(getpid())"
    let b = "hct-vrb-\(getpid())"

    init() {
        _ = shell("""
            for ns in \(a) \(b); do ip netns add $ns; ip netns exec $ns sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0; done
            ip -n \(a) link add eth0 type veth peer name eth0 netns \(b)
            ip -n \(a) addr add 10.88.1.1/24 dev eth0; ip -n \(a) addr add fd88:1::1/64 dev eth0; ip -n \(a) link set eth0 up
            ip -n \(b) addr add 10.88.1.2/24 dev eth0; ip -n \(b) addr add fd88:1::2/64 dev eth0; ip -n \(b) link set eth0 up
            # Until IPv6 has configured the new link (its link-local address is there), the kernel drops
            # multicast arriving on it (counted as Ip6InNoRoutes).
            for i in $(seq 1 50); do
                ip -n \(a) -6 addr show dev eth0 scope link | grep -q inet6 && ip -n \(b) -6 addr show dev eth0 scope link | grep -q inet6 && break
                sleep 0.1
            done
            """)
    }

    func tearDown() { _ = shell("ip netns del \(a); ip netns del \(b)") }

    func openChannel(in namespace: String, _ family: IPAddress.Family) throws -> VRRPChannel {
        final class Box: @unchecked Sendable { var channel: VRRPChannel? }
        let box = Box()
        try inNetworkNamespace(namespace) { box.channel = try VRRPChannel(interface: "eth0", family: family) }
        return box.channel!
    }

    /// The next packet on the channel, waiting for its descriptor up to 5 s: one that never comes fails the
    /// test instead of hanging it.
    func nextPacket(_ channel: VRRPChannel, _ waiting: inout [VRRPChannel.Received]) -> VRRPChannel.Received? {
        if waiting.isEmpty {
            var ready = pollfd(fd: channel.descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, 5000) == 1 else { return nil }
            channel.receivePending { waiting.append($0) }
        }
        return waiting.isEmpty ? nil : waiting.removeFirst()
    }

    @Test func ipv4AndIPv6PacketsArriveWithHopLimit255() throws {
        defer { tearDown() }
        for family in [IPAddress.Family.ipv4, .ipv6] {
            let sender = try openChannel(in: a, family)
            let receiver = try openChannel(in: b, family)
            var waiting: [VRRPChannel.Received] = []
            let payload: [UInt8] = [0x31, 51, 100, 1, 0, 100, 0, 0] + (family == .ipv4 ? [10, 88, 1, 250] : [UInt8](repeating: 0xfd, count: 16))
            let sourceAddress = family == .ipv4 ? IPAddress("10.88.1.1")! : IPAddress("fd88:1::1")!
            let group = family == .ipv4 ? VRRPChannel.ipv4Group : VRRPChannel.ipv6Group
            try sender.send(payload, to: group, from: sourceAddress)
            let multicast = try #require(nextPacket(receiver, &waiting))
            #expect(multicast.payload == payload)
            #expect(multicast.hopLimit == 255)
            #expect(multicast.destination == group)
            if family == .ipv4 {
                #expect(multicast.source == IPAddress("10.88.1.1"))
            } else {
                #expect(multicast.source == sourceAddress)  // the source asked for, not the kernel's choice
            }
            try sender.send(payload, to: family == .ipv4 ? IPAddress("10.88.1.2")! : IPAddress("fd88:1::2")!, from: sourceAddress)
            let unicast = try #require(nextPacket(receiver, &waiting))
            #expect(unicast.payload == payload && unicast.hopLimit == 255)
            // Nothing else waits: the owner's handler returns at once.
            receiver.receivePending { waiting.append($0) }
            #expect(waiting.isEmpty)
            sender.close()
            receiver.close()
        }
    }
}
