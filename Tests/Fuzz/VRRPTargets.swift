// VRRP's decoder of outside input: an advertisement from the network, for a fixed source and destination.
import HomecloudSchema
@testable import VRRPCore

enum VRRPFixtures {
    static let v4 = (source: IPAddress("10.66.0.1")!, destination: IPAddress("224.0.0.18")!)
    static let v6 = (source: IPAddress("fe80::1")!, destination: IPAddress("ff02::12")!)
}

let vrrpTargets: [FuzzTarget] = [
    // The first byte picks the family (odd: IPv4), the rest is the packet. What decodes, with any of the
    // checksums accepted, re-encodes to a packet that decodes to the same advertisement with the RFC's
    // checksum; with the RFC's checksum and reserved bits clear, to the same bytes (but for the checksum's zero).
    FuzzTarget(name: "vrrp-advertisement", run: { bytes in
        guard let first = bytes.first else { return }
        let packet = Array(bytes.dropFirst())
        let (source, destination) = first & 1 == 1 ? VRRPFixtures.v4 : VRRPFixtures.v6
        guard let (advertisement, variant) = try? VRRPAdvertisement.decode(packet, source: source, destination: destination) else { return }
        require(advertisement.addresses.allSatisfy { $0.family == source.family }, "an address of the other family")
        let encoded = advertisement.encoded(source: source, destination: destination)
        let again = try? VRRPAdvertisement.decode(encoded, source: source, destination: destination)
        require(again?.0 == advertisement && again?.1 == .pseudoHeader, "an advertisement does not round-trip")
        if variant == .pseudoHeader, packet[4] & 0xF0 == 0 {
            // A checksum of 0xFFFF is one's complement's other zero: it verifies, and re-encodes as 0x0000.
            var expected = packet
            if expected[6] == 0xFF, expected[7] == 0xFF { expected[6] = 0; expected[7] = 0 }
            require(encoded == expected, "an advertisement does not re-encode to its bytes")
        }
    }, seeds: {
        let v4 = VRRPAdvertisement(vrid: 51, priority: 100, intervalCentiseconds: 100, addresses: [IPAddress("10.66.0.250")!, IPAddress("10.66.0.251")!])
        let v6 = VRRPAdvertisement(vrid: 53, priority: 254, intervalCentiseconds: 10, addresses: [IPAddress("fd66::250")!])
        let shutdown = VRRPAdvertisement(vrid: 51, priority: 0, intervalCentiseconds: 100, addresses: [IPAddress("10.66.0.250")!])
        return [[1] + v4.encoded(source: VRRPFixtures.v4.source, destination: VRRPFixtures.v4.destination),
                [1] + shutdown.encoded(source: VRRPFixtures.v4.source, destination: VRRPFixtures.v4.destination),
                [0] + v6.encoded(source: VRRPFixtures.v6.source, destination: VRRPFixtures.v6.destination)]
    }),
]
