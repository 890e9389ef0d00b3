// agent.yaml's policy: globs, whole-argv exec rules, and located refusals of a document that asks for more.
import HomecloudSchema
import HomecloudYAML
import Testing

@Suite struct LocalPolicyTests {
    @Test func globsMatchWholeNamesAndStarStaysInOneSegment() {
        #expect(Glob.matches("k3s*.service", "k3s.service"))
        #expect(Glob.matches("k3s*.service", "k3s-agent.service"))
        #expect(!Glob.matches("k3s*.service", "k3s.socket"))
        #expect(!Glob.matches("k3s*.service", "xk3s.service"))
        #expect(Glob.matches("syncthing@*.service", "syncthing@dnas.service"))
        #expect(!Glob.matches("smbd.service", "smbd.service.d"))
        #expect(Glob.matches("smb?.service", "smbd.service"))
        #expect(!Glob.matches("/etc/samba/*", "/etc/samba/x/y.conf"))
        #expect(Glob.matches("/etc/samba/**", "/etc/samba/x/y.conf"))
        #expect(Glob.matches("/etc/**.conf", "/etc/a/b.conf"))
        #expect(Glob.matches("*", ""))
        #expect(!Glob.matches("", "a"))
    }

    @Test func anExecRuleMatchesTheWholeArgv() {
        let shell = LocalPolicy.ExecRule(words: ["/bin/sh"])
        #expect(shell.allows(["/bin/sh"]))
        #expect(!shell.allows(["/bin/sh", "-c", "anything"]))
        #expect(!shell.allows(["sh"]))
        let test = LocalPolicy.ExecRule(words: ["/usr/bin/test", "-f", "/run/*.pid"])
        #expect(test.allows(["/usr/bin/test", "-f", "/run/k3s.pid"]))
        #expect(!test.allows(["/usr/bin/test", "-f", "/run/a/b.pid"]))
        #expect(!test.allows(["/usr/bin/test", "-f", "/run/k3s.pid", "-o", "x"]))
        let curl = LocalPolicy.ExecRule(words: ["/usr/bin/curl", "-fsS"], moreArguments: true)
        #expect(curl.allows(["/usr/bin/curl", "-fsS", "http://127.0.0.1/"]))
        #expect(!curl.allows(["/usr/bin/curl"]))
        #expect(!curl.allows(["/usr/bin/curl", "-o", "/etc/passwd"]))
    }

    func config(_ policy: String) -> Result<AgentConfig, FileRejected> {
        AgentConfig.parse("node: n1\npolicy:\n" + policy, file: "agent.yaml", hostname: "h")
    }

    @Test func aPolicyIsReadWithItsSpellingsAndBadEntriesAreLocated() throws {
        let config = try config("""
              units: [k3s*.service, smbd.service]
              exec:
                - /usr/bin/test -f /run/k3s.pid
                - [/usr/bin/printf, "a b"]
                - /usr/bin/curl -fsS ...
              paths: [/etc/samba/*.conf]

            """).get()
        let policy = try #require(config.policy)
        #expect(policy.units == ["k3s*.service", "smbd.service"])
        #expect(policy.exec == [
            .init(words: ["/usr/bin/test", "-f", "/run/k3s.pid"]), .init(words: ["/usr/bin/printf", "a b"]),
            .init(words: ["/usr/bin/curl", "-fsS"], moreArguments: true),
        ])
        #expect(policy.paths == ["/etc/samba/*.conf"])
        #expect(config.policyFile == "agent.yaml")

        guard case .failure(let rejected) = self.config("  exec: [sh -c x, /bin/a ... b]\n  paths: [etc/x]\n  users: []\n") else {
            Issue.record("a bad policy was taken")
            return
        }
        let text = rejected.diagnostics.map(\.description)
        #expect(text.contains { $0.hasPrefix("agent.yaml:3:10: policy.exec[0]: the command must be an absolute path") })
        #expect(text.contains { $0.contains("policy.exec[1]: ... may only be the last word") })
        #expect(text.contains { $0.contains("policy.paths[0]: expected an absolute path") })
        #expect(text.contains { $0.contains("policy.users") })
    }

    @Test func aDocumentAskingThisBoardForMoreIsRefusedWithLocatedMessages() throws {
        let text = """
            generation: 2
            cluster: c
            nodes:
              n1: [base]
              n2: [other]
            roles:
              base:
                units:
                  - { name: k3s.service }
                  - { name: debug-shell.service }
              other:
                units:
                  - { name: forbidden-elsewhere.service }
            probes:
              shell: { exec: "/bin/sh -c id" }
              plain: { exec: "/bin/sh" }
              again: { unit: getty@tty1.service, restart: true }

            """
        let document = try DesiredStateParser.parse(text, file: "desired.yaml").get()
        let policy = LocalPolicy(units: ["k3s*.service"], exec: [.init(words: ["/bin/sh"])])
        let check = PolicyCheck(policy: policy, node: "n1", policyFile: "/etc/homecloud/agent.yaml")
        let found = check.violations(of: document, text: text, file: "desired.yaml").map(\.description)
        #expect(found == [
            "desired.yaml:10:17: roles.base.units[1].name: \"debug-shell.service\" is not allowed by policy.units in /etc/homecloud/agent.yaml",
            "desired.yaml:15:18: probes.shell.exec: \"/bin/sh -c id\" is not allowed by policy.exec in /etc/homecloud/agent.yaml",
            "desired.yaml:17:18: probes.again.unit: restart: true would restart \"getty@tty1.service\", which is not allowed by policy.units in /etc/homecloud/agent.yaml",
        ])
        // n2's units are n2's business; with its roles allowed, n1 has nothing to refuse.
        let wide = PolicyCheck(policy: LocalPolicy(units: ["k3s*.service", "debug-shell.service", "getty@*.service"], exec: [.init(words: ["/bin/sh", "-c", "id"]), .init(words: ["/bin/sh"])]),
                               node: "n1", policyFile: "agent.yaml")
        #expect(wide.violations(of: document, text: text, file: "desired.yaml").isEmpty)
    }

    @Test func trustedAdminKeysAreCheckedForShape() {
        let good = "ed25519 0123456789abcdef " + String(repeating: "A", count: 43) + "="
        #expect((try? AgentConfig.parse("trusted_admin_keys: [\"\(good)\"]\n", file: "a", hostname: "h").get())?.trustedAdminKeys == [good])
        guard case .failure(let rejected) = AgentConfig.parse("trusted_admin_keys:\n  - ed25519 xyz AAAA\n", file: "a", hostname: "h") else {
            Issue.record("a bad key line was taken")
            return
        }
        #expect(rejected.diagnostics.first?.description.hasPrefix("a:2:5: trusted_admin_keys[0]: expected a public admin key") == true)
    }
}
