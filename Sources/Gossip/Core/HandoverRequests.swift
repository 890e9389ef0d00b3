// Which targeted handovers other members ask of this board, read from their gossip metadata. Pure.

public enum HandoverRequests {
    /// The VIPs that alive members other than `node` ask it to take (their metadata's VIP → node), counting only
    /// the requests a member may make: `mayActOn` when it sealed its metadata itself (node identity) or nothing is
    /// checked on this board.
    public static func asked(of node: String,
                             by members: some Sequence<(member: GossipMember, metadata: NodeMetadata?, mayActOn: Bool)>) -> Set<String> {
        var vips: Set<String> = []
        for (member, metadata, mayActOn) in members where member.state == .alive && member.name != node && mayActOn {
            for (vip, target) in metadata?.handovers ?? [:] where target == node { vips.insert(vip) }
        }
        return vips
    }
}
