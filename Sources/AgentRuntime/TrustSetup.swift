// From agent.yaml to the document checks: trusted admin keys into a verifier, and what --check and the start
// log say about keys and policy.
import Gossip
import HomecloudSchema
import HomecloudYAML
import Trust

public enum TrustSetup {
    /// The verifier for agent.yaml's trusted_admin_keys; nil when there are none; every bad line located.
    public static func verifier(for config: AgentConfig, file: String) -> Result<DocumentVerifier?, FileRejected> {
        guard !config.trustedAdminKeys.isEmpty else { return .success(nil) }
        var keys: [AdminPublicKey] = []
        var problems: [Diagnostic] = []
        for (index, line) in config.trustedAdminKeys.enumerated() {
            do {
                let key = try AdminPublicKey(line: line)
                if !keys.contains(key) { keys.append(key) }
            } catch {
                problems.append(Diagnostic(file: file, mark: nil, path: "trusted_admin_keys[\(index)]", message: error.description))
            }
        }
        return problems.isEmpty ? .success(DocumentVerifier(trusted: keys)) : .failure(FileRejected(problems))
    }

    /// The warnings a board without keys or without policy logs once at start (and shows in status).
    public static func warnings(for config: AgentConfig) -> [String] {
        var lines: [String] = []
        if config.trustedAdminKeys.isEmpty {
            lines.append("no trusted_admin_keys in agent.yaml: this board takes unsigned desired-state documents, from anyone who holds the gossip key")
        }
        if config.policy == nil {
            lines.append("no policy in agent.yaml: the desired-state document may manage any unit, run any exec probe and publish any file as a shared secret on this board")
        }
        return lines
    }

    /// `hcagent --check`'s lines about keys and policy, and whether the document passes them.
    static func check(config: AgentConfig, configPath: String, document: DesiredState?, text: String?) -> (lines: [String], ok: Bool) {
        var lines: [String] = []
        var ok = true
        switch verifier(for: config, file: configPath) {
        case .failure(let rejected):
            return (rejected.diagnostics.map(\.description), false)
        case .success(nil):
            lines.append("\(configPath): warning: \(warnings(for: config)[0])")
        case .success(let verifier?):
            lines.append("\(configPath): trusted_admin_keys ok (\(verifier.trusted.map(\.id).joined(separator: ", ")))")
            if let text {
                switch verifier.verify(text) {
                case .success(let id): lines.append("\(config.desired): signed by trusted key \(id)")
                case .failure(let why):
                    lines.append("\(config.desired): \(why)")
                    ok = false
                }
            }
            if let document {  // NODE IDENTITY: node_keys, as this board will use them
                let nodeKeys = GossipIdentity.checkLines(node: config.node, stateDir: config.stateDir, document: document, file: config.desired)
                lines += nodeKeys.lines
                ok = ok && nodeKeys.ok
            }
        }
        if let check = config.policyCheck {
            lines.append("\(configPath): policy ok (\(check.policy.summary))")
            if let document, let text {
                let violations = check.violations(of: document, text: text, file: config.desired)
                lines += violations.map(\.description)
                if violations.isEmpty { lines.append("\(config.desired): within this board's policy") } else { ok = false }
                // Not a refusal of the document: this board only declines to publish the file (status says so).
                for (name, reason) in SharedSecretSources.plan(document.secrets, node: config.node, policy: check.policy,
                                                               policyFile: configPath).refused.sorted(by: { $0.key < $1.key }) {
                    lines.append("\(config.desired): warning: secrets.\(name): \(reason)")
                }
            }
        } else {
            lines.append("\(configPath): warning: \(warnings(for: config).last!)")
        }
        return (lines, ok)
    }
}
