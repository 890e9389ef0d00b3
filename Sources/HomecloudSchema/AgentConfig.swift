// agent.yaml: how this one agent runs (its name, addresses, paths); the cluster's wishes live in desired.yaml.

public struct AgentConfig: Sendable, Equatable {
    public static let defaultPath = "/etc/homecloud/agent.yaml"
    public static let defaultSocket = "/run/homecloud/hcagent.sock"
    /// 7964, not 7946: Docker Swarm, Serf and MetalLB already use 7946 on such boards.
    public static let defaultPort = 7964

    public var node: String
    public var bind: HostPort
    /// The address peers should use to reach this node; the bind address unless it is a wildcard.
    public var advertise: HostPort?
    public var join: [HostPort]
    public var interface: String?
    public var keyFile: String?
    public var socket: String
    public var stateDir: String
    public var desired: String
    public var metrics: HostPort
    /// Public admin keys (`ed25519 KEYID BASE64` lines): when any is set, only documents signed by one of them
    /// are taken, from every source. Empty: any well-formed document is (today's behaviour, with a warning).
    public var trustedAdminKeys: [String] = []
    /// What the shared document may do on this board; nil: anything (with a warning).
    public var policy: LocalPolicy?
    /// The file the policy was read from, for refusal messages.
    public var policyFile: String?

    public init(node: String, bind: HostPort = HostPort(host: "0.0.0.0", port: AgentConfig.defaultPort),
                advertise: HostPort? = nil, join: [HostPort] = [], interface: String? = nil, keyFile: String? = nil,
                socket: String = AgentConfig.defaultSocket, stateDir: String = "/var/lib/homecloud",
                desired: String = "/etc/homecloud/desired.yaml",
                metrics: HostPort = HostPort(host: "127.0.0.1", port: 9646)) {
        self.node = node
        self.bind = bind
        self.advertise = advertise
        self.join = join
        self.interface = interface
        self.keyFile = keyFile
        self.socket = socket
        self.stateDir = stateDir
        self.desired = desired
        self.metrics = metrics
    }

    /// What this node tells peers to use: advertise, else bind when that is a real address.
    public var advertisedAddress: HostPort? {
        advertise ?? (bind.isWildcard ? nil : bind)
    }
}

/// `host:port` with a numeric IPv4/IPv6 address (no name look-ups in a daemon that must start without DNS).
public struct HostPort: Sendable, Hashable, Codable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init?(_ text: String) {
        guard let (host, port) = Self.split(text), IPAddress(host) != nil else { return nil }
        self.init(host: host, port: port)
    }

    /// Splits `host:port` or `[v6]:port`.
    public static func split(_ text: String) -> (String, Int)? {
        var host: Substring
        var portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return nil }
        }
        guard !host.isEmpty, let port = Int(portText), (1...65535).contains(port) else { return nil }
        return (String(host), port)
    }

    public var isWildcard: Bool { host == "0.0.0.0" || host == "::" }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
