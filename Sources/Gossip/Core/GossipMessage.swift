// What gossip says on the wire: SWIM's probe messages, membership updates, and the push-pull state.

/// One message of a datagram. A datagram carries one or more (a compound packet): the probe message a node
/// means to send, then as many queued updates as fit.
public enum GossipMessage: Sendable, Equatable {
    /// "Are you `target`?": the target answers with an ack of the same seq to where the ping came from.
    case ping(seq: UInt32, target: String, source: String, sourceAddress: GossipAddress)
    /// "Ping `target` for me": the receiver pings it and forwards the ack, or sends a nack when none comes, so
    /// the requester can tell a dead target from its own bad network.
    case indirectPingRequest(seq: UInt32, target: String, targetAddress: GossipAddress, requester: String,
                             requesterAddress: GossipAddress)
    /// At most `maxAckPayloadBytes`: the acking node's incarnation (AckPayload); empty from agents before it.
    case ack(seq: UInt32, payload: [UInt8])
    case nack(seq: UInt32)
    case alive(incarnation: UInt64, name: String, address: GossipAddress, metadata: [UInt8])
    case suspect(incarnation: UInt64, name: String, from: String)
    case dead(incarnation: UInt64, name: String, from: String)
    case left(incarnation: UInt64, name: String)

    public static let maxAckPayloadBytes = 255

    /// The member an update is about (nil for probe messages): a newer update about it replaces older ones.
    public var subject: String? {
        switch self {
        case .alive(_, let name, _, _), .suspect(_, let name, _), .dead(_, let name, _), .left(_, let name): name
        case .ping, .indirectPingRequest, .ack, .nack: nil
        }
    }
}

/// A node's whole member list, exchanged both ways over TCP on join and every push-pull interval: it repairs
/// whatever the datagrams' gossip missed (a healed partition, a long loss).
public struct GossipPushPullState: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var address: GossipAddress
        public var incarnation: UInt64
        public var state: GossipMember.State
        public var metadata: [UInt8]

        public init(name: String, address: GossipAddress, incarnation: UInt64, state: GossipMember.State,
                    metadata: [UInt8]) {
            self.name = name
            self.address = address
            self.incarnation = incarnation
            self.state = state
            self.metadata = metadata
        }
    }

    /// The node that sent this state: it counts as the accuser when the state says someone is suspect.
    public var from: String
    public var members: [Entry]

    public init(from: String, members: [Entry]) {
        self.from = from
        self.members = members
    }
}
