// Which received VRRP packets reach a router: the hop limit, the packet's own validity, its VRID and the
// unicast peers. Pure: the shell hands over what the socket read and counts each drop by its reason.
import HomecloudSchema

public enum AdvertisementAdmission {
    /// Why a received packet reaches no router; `description` is the metric's `reason` label.
    public enum Drop: Hashable, Sendable, CustomStringConvertible {
        /// RFC 5798 §7.1: not 255, so it crossed a router and cannot come from this LAN.
        case hopLimit
        /// Not a valid VRRPv3 advertisement (§7.1: length, version, type, checksum, address count).
        case malformed(VRRPPacketError)
        /// No router here runs its VRID on the interface it came in on.
        case unknownVRID
        /// The router talks unicast and the sender is not one of its peers.
        case notAPeer

        public var description: String {
            switch self {
            case .hopLimit: "hop_limit"
            case .malformed(let error): error.description
            case .unknownVRID: "unknown_vrid"
            case .notAPeer: "not_a_peer"
            }
        }

        /// Every reason, for counters made once.
        public static let all: [Drop] = [.hopLimit] + [VRRPPacketError.truncated, .notVersion3, .notAnAdvertisement,
            .addressCountMismatch, .wrongAddressFamily, .zeroInterval, .badChecksum].map(Drop.malformed) + [.unknownVRID, .notAPeer]
    }

    public enum Verdict<Router> {
        case accept(VRRPAdvertisement, Router)
        case drop(Drop)
    }

    /// Judges one packet read on an interface. `routers`: the routers on that interface and address family;
    /// `vrid` and `peers` say which VRID each runs and whom it hears (nil: anyone, multicast). `destination`:
    /// where it was sent (the checksum covers it).
    public static func judge<Router>(payload: [UInt8], source: IPAddress, destination: IPAddress, hopLimit: Int,
                                     routers: some Sequence<Router>, vrid: (Router) -> UInt8,
                                     peers: (Router) -> [IPAddress]?) -> Verdict<Router> {
        guard hopLimit == 255 else { return .drop(.hopLimit) }
        let advertisement: VRRPAdvertisement
        do {
            advertisement = try VRRPAdvertisement.decode(payload, source: source, destination: destination).0
        } catch {
            return .drop(.malformed(error))
        }
        guard let router = routers.first(where: { vrid($0) == advertisement.vrid }) else { return .drop(.unknownVRID) }
        guard peers(router).map({ $0.contains(source) }) ?? true else { return .drop(.notAPeer) }
        return .accept(advertisement, router)
    }
}
