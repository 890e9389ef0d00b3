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
            return NodePlan(node: node, changes: changes)
        }
    }

    private static func units(of node: String, in document: DesiredState?) -> [UnitSpec] {
        guard let document else { return [] }
        var seen: Set<String> = []
        return document.roles(of: node).flatMap { document.role(named: $0)?.units ?? [] }.filter { seen.insert($0.name).inserted }
    }

    static func describe(_ unit: UnitSpec) -> String {
        var text = "\(unit.name) \(unit.state.rawValue)"
        if let enabled = unit.enabled { text += enabled ? ", enabled" : ", disabled" }
        if unit.placement != .all { text += ", placement \(unit.placement)" }
        return text
    }
}

extension DesiredStateParser {
    /// The same text with its top-level `generation:` value replaced, everything else byte for byte as written;
    /// nil when the text has no plain top-level generation to replace.
    public static func settingGeneration(of text: String, to generation: UInt64) -> String? {
        guard let root = try? YAMLParser.parse(text), case .mapping(let pairs) = root.content,
              let value = pairs.first(where: { if case .scalar("generation", _) = $0.key.content { true } else { false } })?.value,
              case .scalar(let old, quoted: false) = value.content else { return nil }
        // The value's line and column as libyaml counts them: characters (after a byte order mark), lines
        // ended by \n, \r, \r\n, NEL, LS or PS. Walked in place: a document may be large.
        let scalars = text.unicodeScalars
        var position = scalars.startIndex
        if position < scalars.endIndex, scalars[position] == "\u{FEFF}" { position = scalars.index(after: position) }
        var line = 1, column = 1
        while position < scalars.endIndex, line < value.mark.line || (line == value.mark.line && column < value.mark.column) {
            let scalar = scalars[position]
            position = scalars.index(after: position)
            switch scalar {
            case "\r":
                if position < scalars.endIndex, scalars[position] == "\n" { position = scalars.index(after: position) }
                fallthrough
            case "\n", "\u{85}", "\u{2028}", "\u{2029}":
                line += 1
                column = 1
            default:
                column += 1
            }
        }
        guard line == value.mark.line, column == value.mark.column, scalars[position...].starts(with: old.unicodeScalars) else { return nil }
        let end = scalars.index(position, offsetBy: old.unicodeScalars.count)
        return String(Substring(scalars[..<position])) + String(generation) + String(Substring(scalars[end...]))
    }
}
