// Packets from a peer that no key of this board opens: after a few in a row, one log line for that peer,
// then at most one an hour while it goes on, so a board with a missing or wrong key says so without flooding.
// A peer is its host: its datagrams and its push-pull streams (from any port) count together.

public struct UnopenedPackets: Sendable {
    /// How many in a row from one address before it counts as a key mismatch, not a damaged packet.
    public static let threshold = 3
    /// Between two notices about the same address.
    public static let renotice = Duration.seconds(3600)
    /// Hosts kept at most: a stranger spraying from many addresses cannot grow this without bound.
    public static let maxTracked = 256

    private struct Peer {
        var failures = 0
        var noticed: Duration?
    }
    private var peers: [[UInt8]: Peer] = [:]

    public init() {}

    /// A packet (datagram or stream frame) from `address` did not open. True when the shell should log the mismatch now (and count it).
    public mutating func failed(from address: GossipAddress, now: Duration) -> Bool {
        let host = address.host
        if peers[host] == nil, peers.count >= Self.maxTracked { return false }
        var peer = peers[host] ?? Peer()
        peer.failures += 1
        defer { peers[host] = peer }
        guard peer.failures >= Self.threshold else { return false }
        if let noticed = peer.noticed, now - noticed < Self.renotice { return false }
        peer.noticed = now
        return true
    }

    /// A packet from `address` opened: its keys match again; a later mismatch is news.
    public mutating func opened(from address: GossipAddress) {
        if peers[address.host] != nil { peers[address.host] = nil }
    }
}
