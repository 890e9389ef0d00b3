// hcctl restart ROLE|UNIT: which units and which boards the document gives it. Pure.
import HomecloudSchema

public enum RestartTarget {
    /// A role's units on the boards with that role, or a unit (`k3s` stands for `k3s.service` when only that
    /// exists) on the boards whose roles run it; boards in the document's order. Nil: neither is in the document.
    public static func resolve(_ target: String, in document: DesiredState) -> (units: [String], boards: [String])? {
        if let role = document.role(named: target) {
            return (role.units.map(\.name), document.nodes(withRole: role.name).map(\.name))
        }
        let names = Set(document.roles.flatMap { $0.units.map(\.name) })
        let unit = names.contains(target) ? target : names.contains(target + ".service") ? target + ".service" : nil
        guard let unit else { return nil }
        let roles = Set(document.roles.filter { $0.units.contains { $0.name == unit } }.map(\.name))
        return ([unit], document.nodes.filter { !roles.isDisjoint(with: $0.roles) }.map(\.name))
    }
}
