// Datagrams from a peer that no key of this board opens: after a few in a row, one log line for that peer,
// then at most one an hour while it goes on, so a board with a missing or wrong key says so without flooding.

public struct UnopenedPackets: Sendable {
    /// How many in a row from one address before it counts as a key mismatch, not a damaged packet.
    public static let threshold = 3
    /// Between two notices about the same address.
    public static let renotice = Duration.seconds(3600)
    /// Addresses kept at most: a stranger spraying from many ports cannot grow this without bound.
    public static let maxTracked = 256

    private struct Peer {
        var failures = 0
        var noticed: Duration?
    }
    private var peers: [GossipAddress: Peer] = [:]

    public init() {}

    /// A datagram from `address` did not open. True when the shell should log the mismatch now (and count it).
    public mutating func failed(from address: GossipAddress, now: Duration) -> Bool {
        if peers[address] == nil, peers.count >= Self.maxTracked { return false }
        var peer = peers[address] ?? Peer()
        peer.failures += 1
        defer { peers[address] = peer }
        guard peer.failures >= Self.threshold else { return false }
        if let noticed = peer.noticed, now - noticed < Self.renotice { return false }
        peer.noticed = now
        return true
    }

    /// A datagram from `address` opened: its keys match again; a later mismatch is news.
    public mutating func opened(from address: GossipAddress) {
        if peers[address] != nil { peers[address] = nil }
    }
}
