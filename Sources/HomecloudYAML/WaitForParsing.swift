// A unit's `wait_for:` read from desired.yaml: probes and roles checked against the document, located errors.
import HomecloudSchema

extension DesiredStateParser {
    static let waitKinds = ["probe", "secret", "file"]

    /// `wait_for: [{ probe: NAME, role: ROLE }, { secret: NAME }, { file: /ABSOLUTE/PATH }]`; nil when any
    /// entry is wrong (every error recorded). `roleNames`: every role of the document (a unit may wait for a
    /// role defined after its own).
    static func readWaitFor(_ node: YAMLNode, at path: KeyPath, probes: [Probe], roleNames: [String], secretNames: [String],
                            reader: inout YAMLReader) -> [WaitCondition]? {
        guard let items = reader.sequence(node, at: path) else { return nil }
        var result: [WaitCondition] = []
        var ok = true
        for (index, item) in items.enumerated() {
            let itemPath = path.index(index)
            guard let condition = readWaitCondition(item, at: itemPath, probes: probes, roleNames: roleNames, secretNames: secretNames, reader: &reader) else {
                ok = false
                continue
            }
            if result.contains(condition) {
                reader.fail(item.mark, itemPath, "\(condition.text) is listed twice")
                ok = false
            } else {
                result.append(condition)
            }
        }
        return ok ? result : nil
    }

    private static func readWaitCondition(_ node: YAMLNode, at path: KeyPath, probes: [Probe], roleNames: [String], secretNames: [String],
                                          reader: inout YAMLReader) -> WaitCondition? {
        guard let entries = reader.mapping(node, at: path, allowed: waitKinds + ["role"]) else { return nil }
        let fields = Dictionary(uniqueKeysWithValues: entries.map { ($0.key, $0.value) })
        let kinds = waitKinds.filter { fields[$0] != nil }
        guard kinds.count == 1, let kind = kinds.first, let valueNode = fields[kind] else {
            reader.fail(node.mark, path, kinds.isEmpty ? "expected one of probe, secret or file"
                        : "one condition per entry: found \(kinds.joined(separator: " and "))")
            return nil
        }
        if let roleNode = fields["role"], kind != "probe" {
            reader.fail(roleNode.mark, path.key("role"), "role goes with probe only")
            return nil
        }
        switch kind {
        case "probe":
            guard let name = reader.name(valueNode, at: path.key("probe"), what: "probe name") else { return nil }
            var ok = true
            if !probes.contains(where: { $0.name == name }) {
                reader.fail(valueNode.mark, path.key("probe"), "unknown probe \"\(name)\"\(known(probes.map(\.name), in: "probes"))")
                ok = false
            }
            var role: String?
            if let roleNode = fields["role"] {
                role = reader.name(roleNode, at: path.key("role"), what: "role name")
                if let roleName = role, !roleNames.contains(roleName) {
                    reader.fail(roleNode.mark, path.key("role"), "unknown role \"\(roleName)\"\(known(roleNames, in: "roles"))")
                    ok = false
                }
                if role == nil { ok = false }
            }
            return ok ? .probe(name, role: role) : nil
        case "secret":
            guard let name = reader.name(valueNode, at: path.key("secret"), what: "secret name") else { return nil }
            guard secretNames.contains(name) else {
                reader.fail(valueNode.mark, path.key("secret"),
                            "unknown secret \"\(name)\"\(known(secretNames, in: "secrets")) (secrets: { \(name): { from: NODE, file: /PATH } })")
                return nil
            }
            return .secret(name)
        default:
            guard let text = reader.string(valueNode, at: path.key("file")) else { return nil }
            guard text.hasPrefix("/"), !text.split(separator: "/").contains("..") else {
                reader.fail(valueNode.mark, path.key("file"), "\"\(text)\" is not an absolute path (it must start with / and have no ..)")
                return nil
            }
            return .file(text)
        }
    }
}
