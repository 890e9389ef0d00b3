// Whether this node should run a unit now, given its placement, the VIPs it holds and its role's members' states.
import HomecloudSchema

public enum UnitPlacement {
    /// `members`: gossip's view, nil until gossip has said. A `one` unit waits for that view (started without
    /// it, every board would run the unit), and then runs only on the side of a split that sees a majority of
    /// the role's nodes (`roleNodes`, as the document lists them) alive within `lease`: SingletonPlacement.
    public static func shouldRun(_ unit: UnitSpec, roleNodes: [String], node: String, heldVIPs: Set<String>,
                                 members: MemberView?, lease: Duration, now: Duration) -> Bool {
        guard unit.state == .running else { return false }
        switch unit.placement {
        case .all: return true
        case .vip(let name): return heldVIPs.contains(name)
        case .one:
            guard let members else { return false }
            return SingletonPlacement.runner(of: unit.name, roleNodes: roleNodes, node: node, view: members, lease: lease, now: now) == node
        }
    }

    /// Rendezvous hashing: every node computes the same winner from the same member list, and when the
    /// winner dies only its units move.
    public static func chosenNode(for unit: String, among nodes: [String]) -> String? {
        nodes.max { score(unit, $0) < score(unit, $1) || (score(unit, $0) == score(unit, $1) && $0 < $1) }
    }

    /// FNV-1a over "unit\u{0}node": stable across runs and machines (Swift's Hasher is seeded per process).
    static func score(_ unit: String, _ node: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in unit.utf8 + [0] + node.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }
}
