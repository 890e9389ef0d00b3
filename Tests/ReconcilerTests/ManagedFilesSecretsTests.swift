// Managed files with shared secrets: a file waits for a secret it lacks (never written with a hole), a new
// value rewrites only the files that use it, mode 0600 by default, and hcctl plan's placeholders.
import Testing
import HomecloudSchema
import HomecloudYAML
import ReconcilerCore

@Suite struct ManagedFilesSecretsTests {
    static func document() throws -> DesiredState {
        try DesiredStateParser.parse("""
            generation: 1
            cluster: hc
            nodes:
              n1: { roles: [k3s], address: 10.0.0.1 }
              n2: { roles: [k3s], address: 10.0.0.2 }
            secrets:
              token: { from: n1, file: /var/lib/k3s/node-token }
              other: { from: n1, file: /etc/other }
            roles:
              k3s:
                files:
                  - { path: /etc/k3s/agent.env, restart: [k3s-agent.service], content: "K3S_TOKEN={{ secrets.token }}\\n" }
                  - { path: /etc/k3s/other, content: "{{ secrets.other }}" }
                  - { path: /etc/k3s/plain, content: "node={{ node }}" }

            """, file: "d.yaml").get()
    }

    static func writes(_ actions: [ManagedFilesCore.Action]) -> [String] {
        actions.compactMap { if case .write(let file, _) = $0 { file.path } else { nil } }
    }

    static let paths = ["/etc/k3s/agent.env", "/etc/k3s/other", "/etc/k3s/plain"]

    @Test func aFileWaitsForItsSecretThenIsWrittenWithMode0600() throws {
        var core = ManagedFilesCore(node: "n2")
        core.onDocument(try Self.document(), address: nil)
        var actions = core.onObserved(Self.paths.map { ($0, ObservedFile.missing) }, now: .seconds(1))
        // Only the file without a secret is written; the others wait, and say for what.
        #expect(Self.writes(actions) == ["/etc/k3s/plain"])
        let report = core.report()
        #expect(report[0].state == "converging")
        #expect(report[0].reason == "waiting for secret token")
        #expect(report[1].reason == "waiting for secret other")
        #expect(core.waitingForSecrets == ["token", "other"])
        _ = core.onWritten([("/etc/k3s/plain", .written)], now: .seconds(1))

        let changed = core.onSecrets(["token": "K10secret"])
        #expect(changed)
        actions = core.onObserved(Self.paths.map { ($0, ObservedFile.missing) }, now: .seconds(2))
        #expect(Self.writes(actions) == ["/etc/k3s/agent.env", "/etc/k3s/plain"])
        #expect(core.desired(at: "/etc/k3s/agent.env")?.bytes == Array("K3S_TOKEN=K10secret\n".utf8))
        #expect(core.desired(at: "/etc/k3s/agent.env")?.mode == 0o600)
        #expect(core.desired(at: "/etc/k3s/plain")?.mode == 0o644)
        #expect(core.waitingForSecrets == ["other"])
    }

    @Test func aChangedSecretRewritesOnlyTheFilesUsingIt() throws {
        var core = ManagedFilesCore(node: "n2")
        core.onSecrets(["token": "old", "other": "same"])
        core.onDocument(try Self.document(), address: nil)
        let first = core.onObserved(Self.paths.map { ($0, ObservedFile.missing) }, now: .seconds(1))
        #expect(Self.writes(first).count == 3)
        var written: [(path: String, outcome: ManagedFilesCore.WriteOutcome)] = []
        for path in Self.writes(first) { written.append((path, .written)) }
        let notify = core.onWritten(written, now: .seconds(1))
        #expect(notify == [.restart(["k3s-agent.service"])])
        let disk = Self.paths.map { path in (path, ObservedFile.present(bytes: core.desired(at: path)!.bytes, mode: core.desired(at: path)!.mode, uid: 0, gid: 0)) }
        #expect(core.onObserved(disk, now: .seconds(2)).isEmpty)

        // The same values again change nothing; a new token rewrites agent.env alone.
        let same = core.onSecrets(["token": "old", "other": "same"])
        #expect(!same)
        let changed = core.onSecrets(["token": "new", "other": "same"])
        #expect(changed)
        let second = core.onObserved(disk, now: .seconds(3))
        #expect(Self.writes(second) == ["/etc/k3s/agent.env"])
        #expect(core.onWritten([("/etc/k3s/agent.env", .written)], now: .seconds(3)) == [.restart(["k3s-agent.service"])])
    }

    @Test func planSeesPlaceholdersForAFileHoldingSecrets() throws {
        var core = ManagedFilesCore(node: "n2")
        core.onSecrets(["token": "K10secret"])
        core.onDocument(try Self.document(), address: nil)
        #expect(core.placeholderText(at: "/etc/k3s/agent.env") == "K3S_TOKEN=«secret token»\n")
        // Files without a secret show as they are on disk.
        #expect(core.placeholderText(at: "/etc/k3s/plain") == nil)
    }

    @Test func theRendererPrintsSecretsOrPlaceholders() throws {
        let template = try Template.parse("a={{ secrets.token }} b={{ node }}").get()
        var facts = TemplateFacts(node: "n1", address: nil, cluster: "hc")
        guard case .failure(let missing) = TemplateRenderer.render(template, facts: facts) else { Issue.record("rendered"); return }
        #expect(missing.waitingForSecret == "token")
        #expect(try TemplateRenderer.render(template, facts: facts, secretPlaceholder: true).get() == "a=«secret token» b=n1")
        facts.secrets = ["token": "xyz"]
        #expect(try TemplateRenderer.render(template, facts: facts).get() == "a=xyz b=n1")
        #expect(try TemplateRenderer.render(template, facts: facts, secretPlaceholder: true).get() == "a=«secret token» b=n1")
    }
}
