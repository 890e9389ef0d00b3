// The files `hcctl init` and `hcctl join` write (agent.yaml, the starter document, the cluster key) and the join
// token that carries what a further board needs; text only, so the agent's own parsers are the judge.
import HomecloudSchema

/// What a further board needs from the first: where to join, the cluster key, the trusted admin keys.
/// `hcjoin1:` + base64 of lines: the first board's host:port, the cluster key (base64), then admin public lines.
/// Whoever holds it can read and join the cluster's gossip: it is a password.
struct JoinToken: Equatable {
    static let prefix = "hcjoin1:"

    var join: HostPort
    var clusterKey: String
    var trustedAdminKeys: [String]

    var text: String {
        Self.prefix + Base64.encode(Array(([join.description, clusterKey] + trustedAdminKeys).joined(separator: "\n").utf8))
    }

    init(join: HostPort, clusterKey: String, trustedAdminKeys: [String]) {
        self.join = join
        self.clusterKey = clusterKey
        self.trustedAdminKeys = trustedAdminKeys
    }

    /// nil with the reason when the text is not a whole token (a truncated copy, another version).
    static func parse(_ text: String) -> Result<JoinToken, BootstrapError> {
        let trimmed = text.filter { !$0.isWhitespace }
        guard trimmed.hasPrefix(prefix) else {
            return .failure(BootstrapError("the token should start with \(prefix); copy the whole line hcctl init printed"))
        }
        guard let bytes = Base64.decode(String(trimmed.dropFirst(prefix.count))) else {
            return .failure(BootstrapError("the token is damaged (not base64); copy the whole line again"))
        }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        guard lines.count >= 2, let join = HostPort(lines[0]) else {
            return .failure(BootstrapError("the token is damaged (no address); copy the whole line again"))
        }
        guard let key = Base64.decode(lines[1]), key.count == 32 else {
            return .failure(BootstrapError("the token is damaged (no 32-byte cluster key); copy the whole line again"))
        }
        return .success(JoinToken(join: join, clusterKey: lines[1], trustedAdminKeys: Array(lines.dropFirst(2))))
    }
}

struct BootstrapError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

enum BootstrapFiles {
    /// Beside agent.yaml: the cluster key and the desired document.
    static func directory(of config: String) -> String {
        config.lastIndex(of: "/").map { String(config[..<$0]) }.flatMap { $0.isEmpty ? "/" : $0 } ?? "."
    }
    static func keyFile(config: String) -> String { directory(of: config) + "/gossip.key" }
    static func desiredFile(config: String) -> String { directory(of: config) + "/desired.yaml" }

    /// A new cluster key: 32 bytes from getrandom(2) (SystemRandomNumberGenerator), in base64, as the agent reads it.
    static func newClusterKey() -> String {
        var random = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        for _ in 0..<4 { withUnsafeBytes(of: random.next() as UInt64) { bytes += $0 } }
        return Base64.encode(bytes)
    }

    static func clusterKeyFile(_ key: String) -> String {
        "# hcagent cluster (gossip) key: the same on every board; secret (mode 0600). Rotate with hcctl keys.\n\(key)\n"
    }

    /// What the starter document may do: nothing yet. The operator widens it when the document gives roles units.
    static let starterPolicy = """
        policy:
          units: []          # unit name globs the document may run here, e.g. [k3s*.service, smbd.service]
          exec: []           # exact commands an exec: probe may run, e.g. "/usr/bin/test -f /run/k3s.pid"
          paths: []
        """

    static func agentYAML(config: String, node: String, address: String, interface: String, join: [HostPort],
                          trustedAdminKeys: [String], stateDir: String, writtenBy: String) -> String {
        let bind = HostPort(host: address.contains(":") ? "::" : "0.0.0.0", port: AgentConfig.defaultPort)
        let advertise = HostPort(host: address, port: AgentConfig.defaultPort)
        let joinText = "[" + join.map(\.description).joined(separator: ", ") + "]"
        return """
            # \(config): written by \(writtenBy); `man homecloud-agent.yaml` explains each key.
            # Check it with `hcagent --check`.
            node: \(node)
            bind: \(bind)
            advertise: \(advertise)
            join: \(joinText)
            interface: \(interface)
            key_file: \(keyFile(config: config))
            state_dir: \(stateDir)
            desired: \(desiredFile(config: config))
            metrics: 127.0.0.1:9646
            # Only documents signed by these admin keys are taken.
            trusted_admin_keys:
            \(trustedAdminKeys.map { "  - \($0)" }.joined(separator: "\n"))
            # What any document, even a signed one, may do on this board.
            \(starterPolicy)

            """
    }

    /// Generation 1: this board alone, no roles, no VIP; `nodeKey` binds this board's name to its node key.
    static func starterDocument(cluster: String, node: String, nodeKey: String?) -> String {
        let keys = nodeKey.map { "node_keys:\n  \(node): \"\($0)\"\n" } ?? "node_keys: {}\n"
        return """
            # The cluster's desired state, written by hcctl init. Add each board that joins to nodes (and its
            # `hcctl keys node` line to node_keys), give roles units, then sign and apply it from any board:
            #   hcctl apply desired.yaml --sign ADMIN-KEY-FILE
            # `man homecloud-desired.yaml` explains each key; /usr/share/doc/hcagent/examples/desired.yaml is a larger one.
            generation: 1
            cluster: \(cluster)
            nodes:
              \(node): []
            roles: {}
            vips: []
            # vips:
            #   - { name: front, address: 192.168.1.250/24, interface: eth0, vrid: 51 }
            probes: {}

            """ + keys
    }
}
