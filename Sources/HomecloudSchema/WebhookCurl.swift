// An https:// webhook goes out through Debian's curl, one process per event: what it is told (a config on a
// pipe, the event on its stdin: neither the URL, which may carry a token, nor the event is on its command line,
// which every local user can read in /proc) and what its exit status means. Pure: the shell spawns it.

public enum WebhookCurl {
    /// Where the agent looks for curl (the Debian package's path; the agent never searches PATH for it).
    public static let path = "/usr/bin/curl"
    /// The descriptor curl reads its config from (`--config /dev/fd/3`); the event is on descriptor 0.
    public static let configDescriptor: Int32 = 3

    /// The command line: nothing in it but where to read the rest. `-q` first: no ~/.curlrc of whoever runs it.
    public static var argv: [String] { [path, "-q", "--config", "/dev/fd/\(configDescriptor)"] }

    /// curl's config for one POST to `target` (secure), within `timeout`. The certificate is always verified:
    /// against `caFile` when the document names one (it then replaces the system's CA store), the system's CAs
    /// otherwise. No proxy (as the agent's own HTTP), no redirect followed (a 3xx with a Location is a failure,
    /// as in the agent's own HTTP; curl counts a 3xx without one as delivered), https only, a 4xx or 5xx a failure.
    public static func config(for target: WebhookTarget, timeout: Duration) -> String {
        var lines = [
            "url = \"\(target.description)\"",
            "header = \"Content-Type: application/json\"",
            "user-agent = \"hcagent\"",
            "data-binary = \"@-\"",
            "proto = \"=https\"",
            "noproxy = \"*\"",
            "fail",
            "location",
            "max-redirs = 0",
            "connect-timeout = \(max(1, timeout.components.seconds))",
            "max-time = \(max(1, timeout.components.seconds))",
            "silent",
            "output = \"/dev/null\"",
        ]
        if let caFile = target.caFile { lines.append("cacert = \"\(caFile)\"") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Why a delivery failed, from curl's exit status (its own words go to /dev/null: they may quote the URL).
    public static func explain(exitStatus: Int, caFile: String?) -> String {
        switch exitStatus {
        case 6: "curl: cannot resolve the host"
        case 7: "curl: cannot connect"
        case 22: "curl: the server answered with an error status (400 or more)"
        case 28: "curl: no answer in time"
        case 35: "curl: the TLS handshake failed"
        case 47: "curl: the server answered with a redirect (not followed)"
        case 52: "curl: the connection closed without an answer"
        case 55, 56: "curl: the connection broke"
        case 60:
            "curl: the server's certificate is not trusted (not signed by "
                + (caFile.map { "ca_file \($0)" } ?? "a CA of the system's store") + ", or not for this host name)"
        case 77: "curl: cannot read ca_file " + (caFile ?? "(the system's CA store)")
        default: "curl exited with \(exitStatus)"
        }
    }
}
