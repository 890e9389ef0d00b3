// Which live members would refuse a document for being older than its `requires:` (what `hcctl plan` warns of).

public enum VersionSkew {
    /// One line per alive or suspect member whose agent reports a version older than `requires`. A member that
    /// reports none (an agent from before versions were gossiped) is named too: it cannot read `requires:`.
    public static func warnings(requires: AgentVersion?, members: [MemberStatus], inForce: UInt64?) -> [String] {
        guard let requires else { return [] }
        let keeps = inForce.map { "keeps generation \($0)" } ?? "keeps the document it has"
        return members.filter { $0.state == "alive" || $0.state == "suspect" }.compactMap { member in
            guard let text = member.version else {
                return "\(member.name) does not say which hcagent it runs; the document requires \(requires) (it would refuse it and \(keeps))"
            }
            guard let version = AgentVersion(text), version < requires else { return nil }
            return "\(member.name) runs hcagent \(text), older than the \(requires) this document requires: it would refuse it and \(keeps) until upgraded"
        }.sorted()
    }
}
