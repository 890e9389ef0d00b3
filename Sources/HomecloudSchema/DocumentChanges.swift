// What a new desired-state document changes for each node, compared with the one in force.

public enum DocumentChanges {
    /// One entry per node of either document, in the new document's order, then nodes it drops.
    public static func perNode(from old: DesiredState?, to new: DesiredState) -> [NodePlan] {
        var names = new.nodes.map(\.name)
        for node in old?.nodes ?? [] where !names.contains(node.name) { names.append(node.name) }
        return names.map { node in
            let before = Dictionary(units(of: node, in: old).map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            let after = units(of: node, in: new)
            var changes: [String] = []
            for unit in after {
                if let previous = before[unit.name] {
                    if previous != unit { changes.append("~ \(describe(unit)) (was \(describe(previous)))") }
                } else {
                    changes.append("+ \(describe(unit))")
                }
            }
            for unit in units(of: node, in: old) where !after.contains(where: { $0.name == unit.name }) {
                changes.append("- \(unit.name) (no longer managed: left as it is)")
            }
            changes += fileChanges(of: node, from: old, to: new)
            return NodePlan(node: node, changes: changes)
        }
    }

    private static func units(of node: String, in document: DesiredState?) -> [UnitSpec] {
        guard let document else { return [] }
        var seen: Set<String> = []
        return document.roles(of: node).flatMap { document.role(named: $0)?.units ?? [] }.filter { seen.insert($0.name).inserted }
    }

    /// Managed files as the documents give them to a node: added, changed (template, mode, validate or units;
    /// whether the rendered text changes on that board is its own plan's to say), dropped.
    static func fileChanges(of node: String, from old: DesiredState?, to new: DesiredState) -> [String] {
        func files(_ document: DesiredState?) -> [ManagedFile] {
            guard let document else { return [] }
            return document.roles(of: node).flatMap { document.role(named: $0)?.files ?? [] }
        }
        let before = files(old), after = files(new)
        var changes: [String] = []
        for file in after {
            if let previous = before.first(where: { $0.path == file.path }) {
                if previous != file { changes.append("~ file \(file.path) (its entry changed)") }
            } else {
                changes.append("+ file \(file.path) (mode \(ManagedFile.modeText(file.mode))\(file.owner == .root ? "" : ", owner \(file.owner)"))")
            }
        }
        for file in before where !after.contains(where: { $0.path == file.path }) {
            changes.append("- file \(file.path) (no longer managed: left as it is)")
        }
        return changes
    }

    static func describe(_ unit: UnitSpec) -> String {
        var text = "\(unit.name) \(unit.state.rawValue)"
        if let enabled = unit.enabled { text += enabled ? ", enabled" : ", disabled" }
        if unit.placement != .all { text += ", placement \(unit.placement)" }
        return text
    }
}
