// agent.yaml's `policy:` read from its YAML node, and the check that refuses, whole and with the lines of the
// document's text, a document that asks this board for more than its policy allows (LocalPolicy is the model).
import HomecloudSchema

extension LocalPolicy {
    static let policyKeys = ["units", "exec", "paths", "secrets"]

    /// `policy: { units: [...], exec: [...], paths: [...], secrets: [...] }`; a list left out allows nothing.
    static func read(_ node: YAMLNode, at path: KeyPath, reader: inout YAMLReader) -> LocalPolicy? {
        guard let entries = reader.mapping(node, at: path, allowed: policyKeys) else { return nil }
        var policy = LocalPolicy()
        for entry in entries {
            let listPath = path.key(entry.key)
            let items = reader.sequence(entry.value, at: listPath) ?? []
            for (index, item) in items.enumerated() {
                let itemPath = listPath.index(index)
                switch entry.key {
                case "units":
                    guard let glob = reader.string(item, at: itemPath) else { continue }
                    if glob.isEmpty || glob.contains(where: { $0 == " " || $0 == "/" }) {
                        reader.fail(item.mark, itemPath, "\"\(glob)\" is not a unit name glob such as k3s*.service")
                    } else {
                        policy.units.append(glob)
                    }
                case "exec":
                    if let rule = readExecRule(item, at: itemPath, reader: &reader) { policy.exec.append(rule) }
                case "paths", "secrets":
                    guard let glob = reader.string(item, at: itemPath) else { continue }
                    if glob.hasPrefix("/") {
                        if entry.key == "paths" { policy.paths.append(glob) } else { policy.secrets.append(glob) }
                    } else {
                        reader.fail(item.mark, itemPath, "expected an absolute path or glob such as /etc/samba/*.conf, found \"\(glob)\"")
                    }
                default: break
                }
            }
        }
        return policy
    }

    /// An exec rule: a string split on spaces (`/usr/bin/test -f /run/k3s.pid`) or a list of words (for an
    /// argument with a space in it).
    private static func readExecRule(_ node: YAMLNode, at path: KeyPath, reader: inout YAMLReader) -> ExecRule? {
        var words: [String]
        if case .sequence = node.content {
            guard let items = reader.sequence(node, at: path) else { return nil }
            let strings = items.enumerated().compactMap { reader.string($0.element, at: path.index($0.offset)) }
            guard strings.count == items.count else { return nil }
            words = strings
        } else {
            guard let text = reader.string(node, at: path) else { return nil }
            words = text.split(separator: " ").map(String.init)
        }
        var more = false
        if words.last == ExecRule.ellipsis {
            words.removeLast()
            more = true
        }
        guard let first = words.first else {
            reader.fail(node.mark, path, "an exec rule needs at least the command's absolute path")
            return nil
        }
        guard first.hasPrefix("/") else {
            reader.fail(node.mark, path, "the command must be an absolute path such as /usr/bin/test, found \"\(first)\"")
            return nil
        }
        if words.contains(ExecRule.ellipsis) {
            reader.fail(node.mark, path, "\(ExecRule.ellipsis) may only be the last word (any further arguments)")
            return nil
        }
        return ExecRule(words: words, moreArguments: more)
    }
}

/// A board's policy and what it needs to locate its refusals: this board's name and agent.yaml's path.
public struct PolicyCheck: Sendable, Equatable {
    public var policy: LocalPolicy
    public var node: String
    public var policyFile: String

    public init(policy: LocalPolicy, node: String, policyFile: String) {
        self.policy = policy
        self.node = node
        self.policyFile = policyFile
    }

    /// What the document asks of this board beyond the policy: the units of this board's roles, every exec
    /// probe (every board runs every probe), and the units `restart: true` probes would restart. Empty: allowed.
    public func violations(of document: DesiredState, text: String, file: String) -> [Diagnostic] {
        let root = try? YAMLParser.parse(text)
        var found: [Diagnostic] = []
        func refuse(_ steps: [PathStep], _ message: String) {
            let node = root.flatMap { Self.locate(steps, in: $0) }
            let path = steps.reduce(KeyPath()) { path, step in
                switch step {
                case .key(let key): return path.key(key)
                case .index(let index): return path.index(index)
                }
            }
            found.append(Diagnostic(file: file, mark: node?.mark, path: path.description, message: message))
        }
        for roleName in document.roles(of: node) {
            guard let role = document.role(named: roleName) else { continue }
            for (index, unit) in role.units.enumerated() where !policy.allowsUnit(unit.name) {
                refuse([.key("roles"), .key(roleName), .key("units"), .index(index), .key("name")],
                       "\"\(unit.name)\" is not allowed by policy.units in \(policyFile)")
            }
            // Managed files: the path, the validate command (run as root like an exec probe), and the units a
            // write restarts or reloads.
            for (index, file) in role.files.enumerated() {
                let filePath: [PathStep] = [.key("roles"), .key(roleName), .key("files"), .index(index)]
                if !policy.allowsPath(file.path) {
                    refuse(filePath + [.key("path")], "\"\(file.path)\" is not allowed by policy.paths in \(policyFile)")
                }
                if let argv = file.validate, !policy.allowsExec(argv) {
                    refuse(filePath + [.key("validate")], "\"\(argv.joined(separator: " "))\" is not allowed by policy.exec in \(policyFile) (write %s where the new file's path goes)")
                }
                for (key, names) in [("restart", file.restart), ("reload", file.reload)] {
                    for name in names where !policy.allowsUnit(name) {
                        refuse(filePath + [.key(key)], "\(key) would act on \"\(name)\", which is not allowed by policy.units in \(policyFile)")
                    }
                }
            }
        }
        for probe in document.probes {
            if case .exec(let argv) = probe.check, !policy.allowsExec(argv) {
                refuse([.key("probes"), .key(probe.name), .key("exec")],
                       "\"\(argv.joined(separator: " "))\" is not allowed by policy.exec in \(policyFile)")
            }
            if probe.restart, let unit = probe.unit, !policy.allowsUnit(unit) {
                refuse([.key("probes"), .key(probe.name), .key("unit")],
                       "restart: true would restart \"\(unit)\", which is not allowed by policy.units in \(policyFile)")
            }
        }
        return found
    }

    enum PathStep { case key(String), index(Int) }

    /// The node at a key path, to give a refusal its line and column.
    static func locate(_ steps: [PathStep], in root: YAMLNode) -> YAMLNode? {
        var node = root
        for step in steps {
            switch (step, node.content) {
            case (.key(let key), .mapping(let pairs)):
                guard let value = pairs.first(where: { if case .scalar(key, _) = $0.key.content { true } else { false } })?.value else { return nil }
                node = value
            case (.index(let index), .sequence(let items)):
                guard items.indices.contains(index) else { return nil }
                node = items[index]
            default:
                return nil
            }
        }
        return node
    }
}
