// An https:// webhook: its URL and ca_file as the document says them (located errors for what is wrong), and
// what curl is told and what its exit status means (WebhookCurl).
import HomecloudSchema
import HomecloudYAML
import Testing

@Suite struct WebhookHTTPSTests {
    private let base = "generation: 1\ncluster: c\n"

    private func refusal(_ notify: String) -> [String] {
        guard case .failure(let rejected) = DesiredStateParser.parse(base + notify, file: "d.yaml") else { return ["taken"] }
        return rejected.diagnostics.map(\.description)
    }

    @Test func httpsURLsTakeTheirDefaultPortAndPrintBack() {
        let target = WebhookTarget("https://hooks.lan/hc")
        #expect(target?.secure == true && target?.port == 443 && target?.path == "/hc")
        #expect(target?.description == "https://hooks.lan/hc")
        #expect(WebhookTarget("https://[fd00::5]:8443/x")?.description == "https://[fd00::5]:8443/x")
        #expect(WebhookTarget("https://hooks.lan:80/")?.description == "https://hooks.lan:80/", "80 is not https's default: kept")
        #expect(WebhookTarget("http://hooks.lan/")?.secure == false)
        // What would break curl's quoted config line, or the request line of the agent's own HTTP.
        for bad in ["https://", "https://host:0/", "https://a b/", "https://host/a\"b", "https://host/a\\b", "https://host/\u{7}",
                    "https://user@host/", "https://host/é", "HTTPS://host/"] {
            #expect(WebhookTarget(bad) == nil, "\(bad)")
        }
    }

    @Test func theDocumentNamesAnHTTPSWebhookAndItsCAFile() throws {
        let parsed = try DesiredStateParser.parse(base + "notify: { webhook: \"https://10.0.0.5:8443/hc\", ca_file: /etc/homecloud/ca.pem }\n",
                                                  file: "d.yaml").get()
        #expect(parsed.webhook?.description == "https://10.0.0.5:8443/hc")
        #expect(parsed.webhook?.secure == true)
        #expect(parsed.webhook?.caFile == "/etc/homecloud/ca.pem")
        let systemCAs = try DesiredStateParser.parse(base + "notify: { webhook: \"https://hooks.example/x\" }\n", file: "d.yaml").get()
        #expect(systemCAs.webhook?.caFile == nil, "no ca_file: the system's CA store")
    }

    @Test func aBadCAFileIsLocatedAndRefusesTheDocument() {
        #expect(refusal("notify: { webhook: \"https://h/\", ca_file: ca.pem }\n") == [
            "d.yaml:3:43: notify.ca_file: expected an absolute path to a PEM file such as /etc/homecloud/ca.pem (no quote, backslash or `..`), found \"ca.pem\"",
        ])
        #expect(refusal("notify: { webhook: \"https://h/\", ca_file: /etc/../shadow }\n").count == 1)
        #expect(refusal("notify:\n  webhook: http://h/\n  ca_file: /etc/ca.pem\n") == [
            "d.yaml:5:3: notify.ca_file: ca_file applies to an https:// webhook only; this one is http://h/",
        ])
        #expect(refusal("notify:\n  ca_file: /etc/ca.pem\n") == [
            "d.yaml:4:3: notify.ca_file: ca_file without a webhook: add `webhook: https://...` beside it",
        ])
        #expect(refusal("notify:\n  webhook: https://h/\n  insecure: true\n") == [
            "d.yaml:5:3: notify.insecure: unknown key (known keys: webhook, ca_file)",
        ], "no way to turn verification off")
    }

    @Test func curlIsToldEverythingOnAPipeAndNothingOnItsCommandLine() {
        var target = WebhookTarget("https://hooks.lan:8443/hc?token=s3cret")!
        #expect(WebhookCurl.argv == ["/usr/bin/curl", "-q", "--config", "/dev/fd/3"])
        #expect(!WebhookCurl.argv.joined().contains("s3cret"))
        let config = WebhookCurl.config(for: target, timeout: .seconds(5))
        let lines = config.split(separator: "\n").map(String.init)
        #expect(lines.first == "url = \"https://hooks.lan:8443/hc?token=s3cret\"")
        #expect(lines.contains("data-binary = \"@-\""), "the event on stdin")
        #expect(lines.contains("proto = \"=https\"") && lines.contains("fail") && lines.contains("max-time = 5"))
        #expect(!lines.contains { $0.hasPrefix("cacert") }, "the system's CAs")
        #expect(!lines.contains { $0.hasPrefix("insecure") || $0 == "k" }, "verification is never off")
        target.caFile = "/etc/homecloud/ca.pem"
        #expect(WebhookCurl.config(for: target, timeout: .seconds(5)).hasSuffix("cacert = \"/etc/homecloud/ca.pem\"\n"))
    }

    @Test func curlsExitStatusSaysWhy() {
        #expect(WebhookCurl.explain(exitStatus: 60, caFile: "/etc/ca.pem")
            == "curl: the server's certificate is not trusted (not signed by ca_file /etc/ca.pem, or not for this host name)")
        #expect(WebhookCurl.explain(exitStatus: 60, caFile: nil).contains("a CA of the system's store"))
        #expect(WebhookCurl.explain(exitStatus: 77, caFile: "/etc/ca.pem") == "curl: cannot read ca_file /etc/ca.pem")
        #expect(WebhookCurl.explain(exitStatus: 22, caFile: nil) == "curl: the server answered with an error status (400 or more)")
        #expect(WebhookCurl.explain(exitStatus: 99, caFile: nil) == "curl exited with 99")
    }
}
