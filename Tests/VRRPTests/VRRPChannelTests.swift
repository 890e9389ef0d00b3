// VRRP's raw sockets between two network namespaces on a veth pair (root only): multicast and unicast, IPv4
// and IPv6, arriving with TTL / hop limit 255 and the sender's address.
import HomecloudSchema
import Testing
@testable import VRRP
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

    @Test func ipv4AndIPv6PacketsArriveWithHopLimit255() async throws {
        defer { tearDown() }
        for family in [IPAddress.Family.ipv4, .ipv6] {
            let sender = try openChannel(in: a, family)
            let receiver = try openChannel(in: b, family)
            var packets = receiver.packets().makeAsyncIterator()
            // A packet that never comes must fail the test, not hang it: closing ends the stream.
            let deadline = Task {
                try await Task.sleep(for: .seconds(5))
                receiver.close()
            }
            defer { deadline.cancel() }
            let payload: [UInt8] = [0x31, 51, 100, 1, 0, 100, 0, 0] + (family == .ipv4 ? [10, 88, 1, 250] : [UInt8](repeating: 0xfd, count: 16))
            let sourceAddress = family == .ipv4 ? IPAddress("10.88.1.1")! : IPAddress("fd88:1::1")!
            let group = family == .ipv4 ? VRRPChannel.ipv4Group : VRRPChannel.ipv6Group
            try sender.send(payload, to: group, from: sourceAddress)
            let multicast = try #require(await packets.next())
            #expect(multicast.payload == payload)
            #expect(multicast.hopLimit == 255)
            #expect(multicast.destination == group)
            if family == .ipv4 {
                #expect(multicast.source == IPAddress("10.88.1.1"))
            } else {
                #expect(multicast.source == sourceAddress)  // the source asked for, not the kernel's choice
            }
            try sender.send(payload, to: family == .ipv4 ? IPAddress("10.88.1.2")! : IPAddress("fd88:1::2")!, from: sourceAddress)
            let unicast = try #require(await packets.next())
            #expect(unicast.payload == payload && unicast.hopLimit == 255)
            sender.close()
            receiver.close()
            #expect(await packets.next() == nil)  // the stream ends after close
        }
    }
}
