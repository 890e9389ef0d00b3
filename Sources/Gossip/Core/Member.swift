// Who is in the cluster: a member's name, gossip address, incarnation, SWIM state and opaque metadata.

/// A numeric UDP endpoint: 4 (IPv4) or 16 (IPv6) host bytes and a port. Gossip never resolves names, so a
/// board that starts at boot does not wait for DNS.
public struct GossipAddress: Sendable, Hashable, CustomStringConvertible {
    public let host: [UInt8]
    public let port: UInt16

    /// nil unless `host` has 4 or 16 bytes.
    public init?(host: [UInt8], port: UInt16) {
        guard host.count == 4 || host.count == 16 else { return nil }
        self.host = host
        self.port = port
    }

    public init(ipv4 a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, port: UInt16) {
        host = [a, b, c, d]
        self.port = port
    }

    public var isIPv6: Bool { host.count == 16 }

    public var description: String {
        if !isIPv6 { return host.map(String.init).joined(separator: ".") + ":\(port)" }
        // Full form without zero compression: unambiguous and enough for logs.
        let groups = stride(from: 0, to: 16, by: 2).map { String(UInt16(host[$0]) << 8 | UInt16(host[$0 + 1]), radix: 16) }
        return "[" + groups.joined(separator: ":") + "]:\(port)"
    }
}

/// One member as a node sees it. `since` is when this node last saw its state change, on the caller's clock.
public struct GossipMember: Sendable, Equatable, CustomStringConvertible {
    public enum State: UInt8, Sendable, Equatable, CustomStringConvertible {
        case alive = 0, suspect = 1, dead = 2, left = 3

        public var description: String {
            switch self {
            case .alive: "alive"
            case .suspect: "suspect"
            case .dead: "dead"
            case .left: "left"
            }
        }
    }

    /// Metadata rides in alive messages inside one datagram, so it stays small.
    public static let maxMetadataBytes = 512
    /// Names are encoded with a one-byte length; agent.yaml allows no more.
    public static let maxNameBytes = 255

    public var name: String
    public var address: GossipAddress
    /// Bumped only by the member itself (to refute, to change metadata, to leave): the higher one wins.
    public var incarnation: UInt64
    public var state: State
    public var metadata: [UInt8]
    public var since: Duration

    public init(name: String, address: GossipAddress, incarnation: UInt64, state: State, metadata: [UInt8] = [],
                since: Duration) {
        self.name = name
        self.address = address
        self.incarnation = incarnation
        self.state = state
        self.metadata = metadata
        self.since = since
    }

    /// Counts towards the cluster's size and can be probed.
    public var isActive: Bool { state == .alive || state == .suspect }

    public var description: String { "\(name)@\(address) #\(incarnation) \(state)" }
}
