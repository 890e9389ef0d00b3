// agent.yaml read from its text: every key checked, every mistake located (AgentConfig is the model).
import HomecloudSchema

extension AgentConfig {
    static let agentConfigKeys = ["node", "bind", "advertise", "join", "interface", "key_file", "socket", "state_dir", "desired",
                                  "metrics", "trusted_admin_keys", "policy"]

    /// Parses agent.yaml. `hostname` is the default node name. An empty file gives every default.
    public static func parse(_ text: String, file: String, hostname: String) -> Result<AgentConfig, FileRejected> {
        var reader = YAMLReader(file: file)
        var config = AgentConfig(node: hostname)
        let root = reader.parse(text)
        if let root, let entries = reader.mapping(root, at: KeyPath(), allowed: agentConfigKeys) {
            for entry in entries {
                let path = KeyPath(entry.key)
                let value = entry.value
                switch entry.key {
                case "node": config.node = reader.name(value, at: path, what: "node name") ?? config.node
                case "bind": config.bind = hostPort(value, at: path, reader: &reader) ?? config.bind
                case "advertise": config.advertise = hostPort(value, at: path, reader: &reader)
                case "join":
                    let items = reader.sequence(value, at: path) ?? []
                    config.join = items.enumerated().compactMap { hostPort($0.element, at: path.index($0.offset), reader: &reader) }
                case "interface": config.interface = reader.string(value, at: path)
                case "key_file": config.keyFile = absolutePath(value, at: path, reader: &reader)
                case "socket": config.socket = absolutePath(value, at: path, reader: &reader) ?? config.socket
                case "state_dir": config.stateDir = absolutePath(value, at: path, reader: &reader) ?? config.stateDir
                case "desired": config.desired = absolutePath(value, at: path, reader: &reader) ?? config.desired
                case "metrics": config.metrics = hostPort(value, at: path, reader: &reader) ?? config.metrics
                case "trusted_admin_keys":
                    let items = reader.sequence(value, at: path) ?? []
                    config.trustedAdminKeys = items.enumerated().compactMap { adminKeyLine($0.element, at: path.index($0.offset), reader: &reader) }
                case "policy":
                    config.policy = LocalPolicy.read(value, at: path, reader: &reader)
                    config.policyFile = file
                default: break
                }
            }
        }
        if let advertise = config.advertise, advertise.isWildcard {
            reader.fail(nil, KeyPath("advertise"), "\(advertise) is a wildcard; peers need a real address")
        }
        return reader.diagnostics.isEmpty ? .success(config) : .failure(FileRejected(reader.diagnostics))
    }

    /// The policy with what its refusals need (this board's name, agent.yaml's path); nil without a policy.
    public var policyCheck: PolicyCheck? {
        policy.map { PolicyCheck(policy: $0, node: node, policyFile: policyFile ?? Self.defaultPath) }
    }

    private static func hostPort(_ node: YAMLNode, at path: KeyPath, reader: inout YAMLReader) -> HostPort? {
        guard let text = reader.string(node, at: path) else { return nil }
        guard let value = HostPort(text) else {
            reader.fail(node.mark, path, "expected host:port such as 10.77.0.1:7964 or [fd00::1]:7964, found \"\(text)\"")
            return nil
        }
        return value
    }

    /// The shape of a public admin key line; whether its key id fits its key is checked where the crypto
    /// lives (Trust), when the agent loads its configuration.
    private static func adminKeyLine(_ node: YAMLNode, at path: KeyPath, reader: inout YAMLReader) -> String? {
        guard let text = reader.string(node, at: path) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count >= 3, fields[0] == "ed25519", fields[1].utf8.count == 16,
              fields[1].allSatisfy({ $0.isHexDigit && !$0.isUppercase }), Base64.decode(String(fields[2]))?.count == 32 else {
            reader.fail(node.mark, path, "expected a public admin key \"ed25519 KEYID BASE64\" as printed by `hcctl keys admin generate`, found \"\(text)\"")
            return nil
        }
        return text
    }

    private static func absolutePath(_ node: YAMLNode, at path: KeyPath, reader: inout YAMLReader) -> String? {
        guard let text = reader.string(node, at: path) else { return nil }
        guard text.hasPrefix("/") else {
            reader.fail(node.mark, path, "expected an absolute path, found \"\(text)\"")
            return nil
        }
        return text
    }
}
