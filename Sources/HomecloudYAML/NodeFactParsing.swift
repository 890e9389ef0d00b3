// desired.yaml's `facts: { NAME: { role: ROLE, file: /ABS/PATH, as: KIND } }`, each error located: a name a
// template can print, a role the document has, an absolute path, a kind this agent derives.
import HomecloudSchema

extension DesiredStateParser {
    static let factKeys = ["role", "file", "as"]

    static func readFacts(_ node: YAMLNode, roles: [Role], reader: inout YAMLReader) -> [NodeFactSpec] {
        let path = KeyPath("facts")
        guard let entries = reader.mapping(node, at: path) else { return [] }
        var result: [NodeFactSpec] = []
        for entry in entries {
            let factPath = path.key(entry.key)
            // Printed as {{ N.facts.NAME }} and sent in every gossip message: short, no dots.
            let nameOK = !entry.key.isEmpty && entry.key.utf8.count <= 32
                && entry.key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
            if !nameOK {
                reader.fail(entry.mark, factPath, "\"\(entry.key)\" is not a valid fact name (letters, digits, _ and - only, at most 32: it is printed as {{ N.facts.NAME }})")
            }
            guard let fields = reader.mapping(entry.value, at: factPath, allowed: factKeys) else { continue }
            let byKey = Dictionary(uniqueKeysWithValues: fields.map { ($0.key, $0.value) })
            for required in factKeys where byKey[required] == nil {
                reader.fail(entry.value.mark, factPath.key(required), "missing (required)")
            }
            var role: String?
            if let roleNode = byKey["role"], let name = reader.name(roleNode, at: factPath.key("role"), what: "role name") {
                if roles.contains(where: { $0.name == name }) {
                    role = name
                } else {
                    reader.fail(roleNode.mark, factPath.key("role"), "unknown role \"\(name)\"\(known(roles.map(\.name), in: "roles"))")
                }
            }
            var file: String?
            if let fileNode = byKey["file"], let text = reader.string(fileNode, at: factPath.key("file")) {
                let parts = text.split(separator: "/", omittingEmptySubsequences: false)
                if !text.hasPrefix("/") || text.hasSuffix("/") || parts.dropFirst().contains(where: { $0.isEmpty || $0 == "." || $0 == ".." })
                    || text.contains(where: { $0 == "\0" || $0 == "\n" }) {
                    reader.fail(fileNode.mark, factPath.key("file"), "expected an absolute path to a file, without . or .. or //, found \"\(text)\"")
                } else {
                    file = text
                }
            }
            var kind: NodeFactSpec.Kind?
            if let kindNode = byKey["as"], let text = reader.string(kindNode, at: factPath.key("as")) {
                kind = NodeFactSpec.Kind(rawValue: text)
                if kind == nil {
                    reader.fail(kindNode.mark, factPath.key("as"), "unknown kind \"\(text)\" (known: \(NodeFactSpec.Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
            }
            if nameOK, let role, let file, let kind { result.append(NodeFactSpec(name: entry.key, role: role, file: file, kind: kind)) }
        }
        return result
    }
}
