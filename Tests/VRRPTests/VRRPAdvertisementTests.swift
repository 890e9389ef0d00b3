// The advertisement codec against packets keepalived 2.2.7 sent in the lab (tcpdump), and against bad input.
import HomecloudSchema
import Testing
@testable import VRRP
@testable import VRRPCore

/// Captured on the namespace lab from Debian's keepalived 2.2.7 (vrrp_version 3): IP source, destination and
/// the VRRP part of the packet.
let keepalivedCaptures: [(name: String, source: String, destination: String, hex: String)] = [
    ("IPv4 multicast, priority 100, 1 s", "10.66.0.1", "224.0.0.18", "31336401006474590a4200fa"),
    ("IPv4 unicast peer, priority 120, 0.5 s", "10.66.0.1", "10.66.0.2", "31347801003236580a4200fb"),
    ("IPv6 multicast, priority 90", "fe80::7c4a:d3ff:fe42:101f", "ff02::12", "31355a01006417e4fd660000000000000000000000000250"),
    ("IPv4 shutdown, priority 0", "10.66.0.1", "224.0.0.18", "313300010064d8590a4200fa"),
    ("IPv6 shutdown, priority 0", "fe80::7c4a:d3ff:fe42:101f", "ff02::12", "31350001006471e4fd660000000000000000000000000250"),
]

func bytes(hex: String) -> [UInt8] {
    var result: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        result.append(UInt8(hex[index..<next], radix: 16)!)
        index = next
    }
    return result
}

@Suite struct VRRPAdvertisementTests {
    @Test(arguments: keepalivedCaptures.indices)
    func keepalivedPacketsDecodeAndReencodeByteForByte(_ index: Int) throws {
        let capture = keepalivedCaptures[index]
        let source = IPAddress(capture.source)!, destination = IPAddress(capture.destination)!
        let wire = bytes(hex: capture.hex)
        let (advertisement, variant) = try VRRPAdvertisement.decode(wire, source: source, destination: destination)
        #expect(variant == .pseudoHeader, "\(capture.name)")
        #expect(advertisement.encoded(source: source, destination: destination) == wire, "\(capture.name)")
    }

    @Test func fieldsOfAKeepalivedAdvertisement() throws {
        let (advertisement, _) = try VRRPAdvertisement.decode(bytes(hex: keepalivedCaptures[1].hex),
                                                             source: IPAddress("10.66.0.1")!, destination: IPAddress("10.66.0.2")!)
        #expect(advertisement == VRRPAdvertisement(vrid: 52, priority: 120, intervalCentiseconds: 50, addresses: [IPAddress("10.66.0.251")!]))
        #expect(advertisement.interval == .milliseconds(500))
    }

    @Test func acceptsTheChecksumVariantsOfOlderPeers() throws {
        let advertisement = VRRPAdvertisement(vrid: 7, priority: 200, intervalCentiseconds: 10, addresses: [IPAddress("10.0.0.9")!])
        let source = IPAddress("10.0.0.1")!, peer = IPAddress("10.0.0.2")!
        // Old keepalived on unicast: the group address in the pseudo-header.
        let withGroup = advertisement.encoded(source: source, destination: VRRPChannel.ipv4Group)
        #expect(try VRRPAdvertisement.decode(withGroup, source: source, destination: peer).1 == .pseudoHeaderWithGroup)
        // VRRPv2-style sum over the message alone.
        var messageOnly = withGroup
        messageOnly[6] = 0
        messageOnly[7] = 0
        let sum = folded(wordSum(messageOnly))
        messageOnly[6] = UInt8(sum >> 8)
        messageOnly[7] = UInt8(sum & 0xFF)
        #expect(try VRRPAdvertisement.decode(messageOnly, source: source, destination: peer).1 == .messageOnly)
    }

    /// One's complement has two zeros: a sender may put 0xFFFF where hcagent (and keepalived) compute 0x0000
    /// (RFC 1624 §3). Both verify; hcagent re-encodes such a packet with 0x0000. libFuzzer found this in CI.
    @Test func aChecksumOfAllOnesIsTheOtherZero() throws {
        let source = IPAddress("10.66.0.1")!, group = VRRPChannel.ipv4Group
        // Found by search: this advertisement's checksum is 0x0000.
        let advertisement = VRRPAdvertisement(vrid: 51, priority: 201, intervalCentiseconds: 4029, addresses: [IPAddress("10.66.0.250")!])
        #expect(Array(advertisement.encoded(source: source, destination: group)[6...7]) == [0, 0])
        var allOnes = advertisement.encoded(source: source, destination: group)
        allOnes[6] = 0xFF
        allOnes[7] = 0xFF
        let (decoded, variant) = try VRRPAdvertisement.decode(allOnes, source: source, destination: group)
        #expect(decoded == advertisement)
        #expect(variant == .pseudoHeader)
        #expect(Array(decoded.encoded(source: source, destination: group)[6...7]) == [0, 0])
    }

    @Test func badInputIsRefusedWithItsReason() {
        let source = IPAddress("10.66.0.1")!, group = VRRPChannel.ipv4Group
        let good = bytes(hex: keepalivedCaptures[0].hex)
        func reason(_ packet: [UInt8], from: IPAddress = source) -> VRRPPacketError? {
            do { _ = try VRRPAdvertisement.decode(packet, source: from, destination: group); return nil } catch { return error }
        }
        #expect(reason(Array(good.prefix(5))) == .truncated)
        #expect(reason(Array(good.prefix(10))) == .truncated)
        var version2 = good
        version2[0] = 0x21
        #expect(reason(version2) == .notVersion3)
        var corrupted = good
        corrupted[2] = 101
        #expect(reason(corrupted) == .badChecksum)
        #expect(reason(good + [0, 0, 0, 0]) == .addressCountMismatch)
        var zero = VRRPAdvertisement(vrid: 1, priority: 1, intervalCentiseconds: 0, addresses: []).encoded(source: source, destination: group)
        #expect(reason(zero) == .zeroInterval)
        zero[0] = 0x32
        #expect(reason(zero) == .notAnAdvertisement)
    }

    @Test func randomBytesNeverCrashTheDecoder() {
        var random = SplitMix64(seed: 5798)
        let source = IPAddress("10.0.0.1")!
        for _ in 0..<20_000 {
            let length = Int(random.next() % 64)
            var packet = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            if length > 0 { packet[0] = 0x31 }
            _ = try? VRRPAdvertisement.decode(packet, source: source, destination: VRRPChannel.ipv4Group)
        }
    }
}
