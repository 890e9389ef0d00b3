// Which units the document asks of one node: the first step of the reconcile plan.
import HomecloudSchema

public enum UnitsForNode {
    /// The units of every role the node has, in document order, each once (the parser has already refused
    /// two roles that set the same unit differently).
    public static func units(of node: String, in document: DesiredState) -> [UnitSpec] {
        var seen: Set<String> = []
        var result: [UnitSpec] = []
        for roleName in document.roles(of: node) {
            guard let role = document.role(named: roleName) else { continue }
            for unit in role.units where seen.insert(unit.name).inserted {
                result.append(unit)
            }
        }
        return result
    }
}
