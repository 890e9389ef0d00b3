// A role's `files:` read from desired.yaml, and the check of their templates' names against the document
// (VIPs, roles, node addresses), every error located at the line and column inside the document's text.
import HomecloudSchema

extension DesiredStateParser {
    static let fileKeys = ["path", "mode", "content", "validate", "restart", "reload", "owner", "serial"]

    /// A file's content node, kept while parsing so that a template's errors point into the document's text.
    struct TemplateSource {
        var role: String
        var index: Int
        var node: YAMLNode
        var template: Template
    }

    static func readFiles(_ node: YAMLNode, at path: KeyPath, lines: [Substring], sources: inout [TemplateSource],
                          role: String, reader: inout YAMLReader) -> [ManagedFile] {
        guard let items = reader.sequence(node, at: path) else { return [] }
        var result: [ManagedFile] = []
        var listed: Set<String> = []
        for (index, item) in items.enumerated() {
            let filePath = path.index(index)
            guard let file = readFile(item, at: filePath, lines: lines, reader: &reader) else { continue }
            if !listed.insert(file.path).inserted {
                reader.fail(item.mark, filePath.key("path"), "\(file.path) is listed twice in this role")
                continue
            }
            if case .mapping(let pairs) = item.content,
               let contentNode = pairs.first(where: { if case .scalar("content", _) = $0.key.content { true } else { false } })?.value {
                sources.append(TemplateSource(role: role, index: result.count, node: contentNode, template: file.content))
            }
            result.append(file)
        }
        return result
    }

    private static func readFile(_ node: YAMLNode, at path: KeyPath, lines: [Substring], reader: inout YAMLReader) -> ManagedFile? {
        guard let entries = reader.mapping(node, at: path, allowed: fileKeys) else { return nil }
        let fields = Dictionary(uniqueKeysWithValues: entries.map { ($0.key, $0.value) })
        let errorsBefore = reader.diagnostics.count
        for required in ["path", "content"] where fields[required] == nil {
            reader.fail(node.mark, path.key(required), "missing (required)")
        }
        var filePath: String?
        if let pathNode = fields["path"], let text = reader.string(pathNode, at: path.key("path")) {
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            if !text.hasPrefix("/") || text.hasSuffix("/") || parts.dropFirst().contains(where: { $0.isEmpty || $0 == "." || $0 == ".." })
                || text.contains(where: { $0 == "\0" || $0 == "\n" }) {
                reader.fail(pathNode.mark, path.key("path"), "expected an absolute path to a file, without . or .. or //, found \"\(text)\"")
            } else {
                filePath = text
            }
        }
        var template: Template?
        if let contentNode = fields["content"], let text = reader.string(contentNode, at: path.key("content")) {
            switch Template.parse(text) {
            case .success(let parsed): template = parsed
            case .failure(let error):
                reader.fail(locate(error.position, in: contentNode, lines: lines), path.key("content"), "template: \(error.message)")
            }
        }
        var mode: UInt32?
        if let modeNode = fields["mode"], let text = reader.string(modeNode, at: path.key("mode")) {
            if (3...4).contains(text.count), let value = UInt32(text, radix: 8), value <= 0o7777, !text.contains("+") {
                if value & 0o6000 != 0 {
                    reader.fail(modeNode.mark, path.key("mode"), "setuid and setgid bits are not written (mode \(text))")
                } else {
                    mode = value
                }
            } else {
                reader.fail(modeNode.mark, path.key("mode"), "expected an octal mode such as \"0644\", found \"\(text)\"")
            }
        }
        var owner = FileOwner.root
        if let ownerNode = fields["owner"], let text = reader.string(ownerNode, at: path.key("owner")) {
            if let parsed = FileOwner(parsing: text) {
                owner = parsed
            } else {
                reader.fail(ownerNode.mark, path.key("owner"), "expected user:group such as \"dnas:dnas\" (names or numeric ids), found \"\(text)\"")
            }
        }
        var validate: [String]?
        if let validateNode = fields["validate"], let text = reader.string(validateNode, at: path.key("validate")) {
            let words = text.split(separator: " ").map(String.init)
            if words.isEmpty || !words.dropFirst().contains("%s") {
                reader.fail(validateNode.mark, path.key("validate"), "expected a command with %s for the new file, such as \"/usr/bin/testparm -s %s\", found \"\(text)\"")
            } else {
                validate = words
            }
        }
        var units: [String: [String]] = [:]
        for key in ["restart", "reload"] {
            guard let listNode = fields[key], let names = reader.names(listNode, at: path.key(key), what: "unit name") else { continue }
            for name in names where !unitSuffixes.contains(where: { name.hasSuffix($0) && name.count > $0.count }) {
                reader.fail(listNode.mark, path.key(key), "\"\(name)\" is not a systemd unit name (it needs a suffix such as .service)")
            }
            units[key] = names
        }
        let serial = fields["serial"].map { reader.bool($0, at: path.key("serial")) ?? false } ?? false
        if serial && (units["restart"] ?? []).isEmpty, let serialNode = fields["serial"] {
            reader.fail(serialNode.mark, path.key("serial"), "serial: true orders restarts, and this file restarts no unit (restart: [UNIT])")
        }
        guard reader.diagnostics.count == errorsBefore, let filePath, let template else { return nil }
        return ManagedFile(path: filePath, mode: mode ?? (template.usesSecret ? ManagedFile.secretMode : ManagedFile.defaultMode),
                           owner: owner, content: template, validate: validate, restart: units["restart"] ?? [], reload: units["reload"] ?? [], serial: serial)
    }

    /// What each template names must exist in the document: VIPs, roles, the addresses of a looped role's
    /// nodes, secrets (`secrets:`; when that section has errors of its own, they are the ones shown). One node
    /// with two roles that write one path differently is refused too.
    static func checkTemplates(_ sources: [TemplateSource], vips: [VirtualIP], nodes: [NodeAssignment], roles: [Role],
                               secrets: [SharedSecretSpec] = [], declaredSecrets: Bool = false,
                               facts: [NodeFactSpec] = [], declaredFacts: Bool = false,
                               lines: [Substring], reader: inout YAMLReader) {
        for source in sources {
            let path = KeyPath("roles").key(source.role).key("files").index(source.index).key("content")
            var loopRoles: [String: String] = [:]
            // A fact a loop names must be one `facts:` gives the loop's role (when that section has errors of its
            // own, they are the ones shown).
            func checkFact(_ name: String, role: String?, variable: String, at: Template.Position) {
                guard let role, !facts.contains(where: { $0.name == name && $0.role == role }) else { return }
                guard !declaredFacts || reader.diagnostics.allSatisfy({ !$0.path.hasPrefix("facts.\(name)") }) else { return }
                let ofRole = facts.filter { $0.role == role }.map(\.name)
                let elsewhere = facts.first { $0.name == name }.map { " (fact \(name) is read on role \($0.role)'s boards)" } ?? ""
                reader.fail(locate(at, in: source.node, lines: lines), path,
                            "template: unknown fact \"\(name)\" of role \(role)\(known(ofRole, in: "facts of role \(role)"))\(elsewhere) (facts: { \(name): { role: \(role), file: /PATH, as: KIND } })")
            }
            source.template.visit { piece in
                switch piece {
                case .loop(let variable, let role, _, let at, let requiring):
                    loopRoles[variable] = role
                    if !roles.contains(where: { $0.name == role }) {
                        reader.fail(locate(at, in: source.node, lines: lines), path, "template: unknown role \"\(role)\"\(known(roles.map(\.name), in: "roles"))")
                    } else if let requiring {
                        checkFact(requiring, role: role, variable: variable, at: at)
                    }
                case .fact(.loopFact(let variable, let name), let at):
                    if let role = loopRoles[variable], roles.contains(where: { $0.name == role }) {
                        checkFact(name, role: role, variable: variable, at: at)
                    }
                case .fact(.vipIP(let name), let at) where !vips.contains(where: { $0.name == name }):
                    reader.fail(locate(at, in: source.node, lines: lines), path, "template: unknown VIP \"\(name)\"\(known(vips.map(\.name), in: "vips"))")
                case .fact(.secret(let name), let at) where !secrets.contains(where: { $0.name == name }):
                    // A secret whose own entry was refused is already reported there.
                    if !declaredSecrets || reader.diagnostics.allSatisfy({ !$0.path.hasPrefix("secrets.\(name)") }) {
                        reader.fail(locate(at, in: source.node, lines: lines), path,
                                    "template: unknown secret \"\(name)\"\(known(secrets.map(\.name), in: "secrets")) (secrets: { \(name): { from: NODE, file: /PATH } })")
                    }
                case .fact(.loopAddress(let variable), let at):
                    guard let role = loopRoles[variable] else { break }
                    let missing = nodes.filter { $0.roles.contains(role) && $0.address == nil }.map(\.name)
                    if !missing.isEmpty {
                        reader.fail(locate(at, in: source.node, lines: lines), path,
                                    "template: \(variable).address: node\(missing.count == 1 ? "" : "s") \(missing.joined(separator: ", ")) of role \(role) \(missing.count == 1 ? "has" : "have") no address in the document (nodes: { NAME: { roles: [...], address: IP } })")
                    }
                default:
                    break
                }
            }
        }
        for assignment in nodes {
            var writers: [String: String] = [:]
            for roleName in assignment.roles {
                for file in roles.first(where: { $0.name == roleName })?.files ?? [] {
                    if let earlier = writers[file.path], earlier != roleName {
                        reader.fail(nil, KeyPath("nodes").key(assignment.name), "roles \(earlier) and \(roleName) both write \(file.path)")
                    }
                    writers[file.path] = roleName
                }
            }
        }
    }

    /// The document's line and column of a position inside a content scalar: a block scalar (`|`, `>`) starts
    /// on the line after its indicator, at its indentation; a quoted or plain one where its mark is.
    static func locate(_ position: Template.Position, in node: YAMLNode, lines: [Substring]) -> SourceMark {
        let markLine = node.mark.line
        let indicator = lines.indices.contains(markLine - 1)
            ? lines[markLine - 1].dropFirst(max(0, node.mark.column - 1)).first : nil
        if indicator == "|" || indicator == ">" {
            let firstContent = lines.indices.dropFirst(markLine).first { !lines[$0].allSatisfy { $0 == " " } }
            let indent = firstContent.map { lines[$0].prefix { $0 == " " }.count } ?? 0
            return SourceMark(line: markLine + position.line, column: indent + position.column)
        }
        let quoted: Bool
        if case .scalar(_, let isQuoted) = node.content { quoted = isQuoted } else { quoted = false }
        if position.line == 1 {
            return SourceMark(line: markLine, column: node.mark.column + (quoted ? 1 : 0) + position.column - 1)
        }
        return SourceMark(line: markLine + position.line - 1, column: position.column)
    }
}
