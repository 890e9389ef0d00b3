// desired.yaml's `secrets: { NAME: { from: NODE, file: /ABS/PATH } }`, each error located: a name a template can
// print, a node the document lists, an absolute path.
import HomecloudSchema

extension DesiredStateParser {
    static let secretKeys = ["from", "file"]

    static func readSecrets(_ node: YAMLNode, nodes: [NodeAssignment], reader: inout YAMLReader) -> [SharedSecretSpec] {
        let path = KeyPath("secrets")
        guard let entries = reader.mapping(node, at: path) else { return [] }
        var result: [SharedSecretSpec] = []
        for entry in entries {
            let secretPath = path.key(entry.key)
            // The name is printed as {{ secrets.NAME }} and names a file in state_dir: no dots, no slashes.
            let nameOK = !entry.key.isEmpty && entry.key.utf8.count <= 64
                && entry.key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
            if !nameOK {
                reader.fail(entry.mark, secretPath, "\"\(entry.key)\" is not a valid secret name (letters, digits, _ and - only, at most 64: it is printed as {{ secrets.NAME }})")
            }
            guard let fields = reader.mapping(entry.value, at: secretPath, allowed: secretKeys) else { continue }
            let byKey = Dictionary(uniqueKeysWithValues: fields.map { ($0.key, $0.value) })
            for required in secretKeys where byKey[required] == nil {
                reader.fail(entry.value.mark, secretPath.key(required), "missing (required)")
            }
            var from: String?
            if let fromNode = byKey["from"], let name = reader.name(fromNode, at: secretPath.key("from"), what: "node name") {
                // A document that lists no nodes yet (a starter) cannot be checked against them.
                if !nodes.isEmpty && !nodes.contains(where: { $0.name == name }) {
                    reader.fail(fromNode.mark, secretPath.key("from"), "unknown node \"\(name)\"\(known(nodes.map(\.name), in: "nodes"))")
                } else {
                    from = name
                }
            }
            var file: String?
            if let fileNode = byKey["file"], let text = reader.string(fileNode, at: secretPath.key("file")) {
                let parts = text.split(separator: "/", omittingEmptySubsequences: false)
                if !text.hasPrefix("/") || text.hasSuffix("/") || parts.dropFirst().contains(where: { $0.isEmpty || $0 == "." || $0 == ".." })
                    || text.contains(where: { $0 == "\0" || $0 == "\n" }) {
                    reader.fail(fileNode.mark, secretPath.key("file"), "expected an absolute path to a file, without . or .. or //, found \"\(text)\"")
                } else {
                    file = text
                }
            }
            if nameOK, let from, let file { result.append(SharedSecretSpec(name: entry.key, from: from, file: file)) }
        }
        return result
    }
}
