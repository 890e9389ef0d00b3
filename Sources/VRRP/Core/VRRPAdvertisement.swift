// The VRRPv3 advertisement on the wire (RFC 5798 §5.2): encoding, decoding, and the checksum variants peers use.
import HomecloudSchema

/// Why a received packet was dropped; the shell counts each reason.
public enum VRRPPacketError: Error, Sendable, Equatable, CustomStringConvertible {
    case truncated
    case notVersion3
    case notAnAdvertisement
    case addressCountMismatch
    case wrongAddressFamily
    case zeroInterval
    case badChecksum

    public var description: String {
        switch self {
        case .truncated: "truncated"
        case .notVersion3: "not_version_3"
        case .notAnAdvertisement: "not_an_advertisement"
        case .addressCountMismatch: "address_count_mismatch"
        case .wrongAddressFamily: "wrong_address_family"
        case .zeroInterval: "zero_interval"
        case .badChecksum: "bad_checksum"
        }
    }
}

public struct VRRPAdvertisement: Sendable, Equatable {
    public var vrid: UInt8
    /// 0: the master is leaving (RFC 5798 §6.4.3); 1-254 backups; 255 the address owner.
    public var priority: UInt8
    /// Max_Adver_Int, in centiseconds (12 bits on the wire).
    public var intervalCentiseconds: UInt16
    public var addresses: [IPAddress]

    public init(vrid: UInt8, priority: UInt8, intervalCentiseconds: UInt16, addresses: [IPAddress]) {
        self.vrid = vrid
        self.priority = priority
        self.intervalCentiseconds = intervalCentiseconds
        self.addresses = addresses
    }

    public var interval: Duration { .milliseconds(Int(intervalCentiseconds) * 10) }

    /// How the sender computed its checksum. All are accepted; hcagent sends `.pseudoHeader`.
    public enum ChecksumVariant: Sendable, Equatable {
        /// RFC 5798 §5.2.8: the IPv6-style pseudo-header with the packet's own source and destination.
        case pseudoHeader
        /// keepalived before 2.0 (and `unicast_checksum_compat`): the multicast group in the pseudo-header even
        /// when the packet went to a unicast peer.
        case pseudoHeaderWithGroup
        /// The VRRP message alone, as VRRPv2 sums it: what RFC 9568 notes some IPv4 implementations send
        /// (keepalived's `v3_checksum_as_v2`).
        case messageOnly
    }

    static let headerLength = 8

    /// The packet with its checksum, for the given IP source and destination.
    public func encoded(source: IPAddress, destination: IPAddress) -> [UInt8] {
        // One allocation: a master encodes one of these ten times a second.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.headerLength + addresses.count * source.bytes.count)
        bytes.append(contentsOf: [0x31, vrid, priority, UInt8(addresses.count),
                                  UInt8((intervalCentiseconds >> 8) & 0x0F), UInt8(intervalCentiseconds & 0xFF), 0, 0])
        for address in addresses { bytes.append(contentsOf: address.bytes) }
        let sum = Self.checksum(bytes, source: source, destination: destination)
        bytes[6] = UInt8(sum >> 8)
        bytes[7] = UInt8(sum & 0xFF)
        return bytes
    }

    /// Parses and checks one packet (the VRRP part, after the IP header). The TTL check (255) and the VRID
    /// match belong to the receiver, which knows them.
    public static func decode(_ bytes: [UInt8], source: IPAddress, destination: IPAddress) throws(VRRPPacketError) -> (VRRPAdvertisement, ChecksumVariant) {
        guard bytes.count >= headerLength else { throw .truncated }
        guard bytes[0] >> 4 == 3 else { throw .notVersion3 }
        guard bytes[0] & 0x0F == 1 else { throw .notAnAdvertisement }
        let width = source.bytes.count
        let count = Int(bytes[3])
        guard bytes.count >= headerLength + count * width else { throw .truncated }
        // Trailing bytes beyond the addresses are padding at most; a count that leaves room for whole
        // addresses of the other family is a sender of the other family.
        guard bytes.count == headerLength + count * width else { throw .addressCountMismatch }
        let interval = (UInt16(bytes[4] & 0x0F) << 8) | UInt16(bytes[5])
        guard interval > 0 else { throw .zeroInterval }
        let variant: ChecksumVariant
        if checksum(bytes, source: source, destination: destination) == 0 {
            variant = .pseudoHeader
        } else if source.family == .ipv4, destination.family == .ipv4,
                  checksum(bytes, source: source, destination: IPAddress(bytes: [224, 0, 0, 18])!) == 0 {
            variant = .pseudoHeaderWithGroup
        } else if source.family == .ipv4, folded(wordSum(bytes)) == 0 {
            variant = .messageOnly
        } else {
            throw .badChecksum
        }
        var addresses: [IPAddress] = []
        addresses.reserveCapacity(count)
        for index in 0..<count {
            let start = headerLength + index * width
            guard let address = IPAddress(bytes: Array(bytes[start..<(start + width)])) else { throw .wrongAddressFamily }
            addresses.append(address)
        }
        return (VRRPAdvertisement(vrid: bytes[1], priority: bytes[2], intervalCentiseconds: interval, addresses: addresses), variant)
    }

    /// The one's complement sum over the pseudo-header (source, destination, length, protocol 112) and the
    /// message; 0 when a received message carries a correct checksum.
    static func checksum(_ message: [UInt8], source: IPAddress, destination: IPAddress) -> UInt16 {
        // The pseudo-header's words are summed where they are, without building it: the sum is the same for
        // IPv4's (zero, protocol, length) and IPv6's (length, zeros, protocol) layouts.
        var sum = wordSum(source.bytes) + wordSum(destination.bytes) + UInt32(message.count) + 112
        sum += wordSum(message)
        return folded(sum)
    }
}

/// The big-endian 16-bit words of `bytes` added up (an odd last byte padded with zero), not yet folded.
func wordSum(_ bytes: [UInt8]) -> UInt32 {
    var sum: UInt32 = 0
    var index = 0
    while index + 1 < bytes.count {
        sum += UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
        index += 2
    }
    if index < bytes.count { sum += UInt32(bytes[index]) << 8 }
    return sum
}

/// RFC 1071: the 16-bit one's complement of the one's complement sum.
func folded(_ sum: UInt32) -> UInt16 {
    var sum = sum
    while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
    return ~UInt16(sum)
}
