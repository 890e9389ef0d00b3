// Which members are drained (hcctl drain), read from their gossip metadata, for `placement: one`. Pure.

public enum DrainedMembers {
    /// The members whose metadata says drained, whatever their state and identity standing: a drain only takes
    /// a board out of the candidates for `one` units, so every board must count the same ones, and a board
    /// saying so of itself harms no other (under node identity the metadata is the last its own key sealed).
    public static func names(in members: some Sequence<(member: GossipMember, metadata: NodeMetadata?)>) -> Set<String> {
        var names: Set<String> = []
        for (member, metadata) in members where metadata?.drained == true { names.insert(member.name) }
        return names
    }
}
