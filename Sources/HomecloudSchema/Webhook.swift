// The document's `notify: { webhook: URL }`: where every board POSTs the cluster's events as JSON, and the
// outbox rule (WebhookOutbox, pure): which events this board sends, in order, a bounded queue, bounded retries.

/// An http:// or https:// URL, split for a POST: plain HTTP from the agent itself, HTTPS through curl
/// (WebhookCurl.swift), so that no TLS library lives in the agent's memory.
public struct WebhookTarget: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var path: String
    /// https://: sent through curl, the server's certificate verified (the system's CAs, or `caFile`).
    public var secure = false
    /// `notify: { ca_file: PATH }`: the CA (PEM) an https:// webhook's certificate must chain to, for a home
    /// server with its own CA; nil: the system's CA store.
    public var caFile: String? = nil

    /// nil unless `http(s)://HOST[:PORT][/PATH]` with a host and a port of 1-65535 (80 or 443 by default), in
    /// printable ASCII with no space, quote or backslash (the URL goes to curl in a quoted config line).
    public init?(_ url: String) {
        guard url.utf8.allSatisfy({ (33...126).contains($0) && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) else { return nil }
        let scheme: String
        if url.hasPrefix("http://") {
            scheme = "http://"
        } else if url.hasPrefix("https://") {
            scheme = "https://"
            secure = true
        } else {
            return nil
        }
        let rest = url.dropFirst(scheme.count)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        var host = String(authority), port = secure ? 443 : 80
        if authority.hasPrefix("[") {  // [v6]:port
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let number = Int(after.dropFirst()) else { return nil }
                port = number
            }
        } else if let colon = authority.lastIndex(of: ":") {
            guard let number = Int(authority[authority.index(after: colon)...]) else { return nil }
            host = String(authority[..<colon])
            port = number
        }
        guard !host.isEmpty, (1...65535).contains(port), !host.contains(where: { $0 == " " || $0 == "@" || $0 == "?" || $0 == "#" }) else { return nil }
        self.host = host
        self.port = port
        self.path = path.isEmpty ? "/" : String(path)
    }

    /// Whether `path` may be a `ca_file`: absolute, printable ASCII with no quote or backslash (it goes to curl
    /// in a quoted config line), no `..` step.
    public static func isAcceptableCAFile(_ path: String) -> Bool {
        path.hasPrefix("/") && path.utf8.allSatisfy { (32...126).contains($0) && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
            && !path.split(separator: "/").contains("..")
    }

    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        let defaultPort = secure ? 443 : 80
        return "\(secure ? "https" : "http")://\(shownHost)\(port == defaultPort ? "" : ":\(port)")\(path)"
    }
}

public struct WebhookOutbox: Sendable {
    /// Events waiting to be sent; more are dropped (and counted) until the hook answers again.
    public static let capacity = 64
    /// Tries per event: the first and three retries, 1 s, 2 s and 4 s apart; then the event is dropped.
    public static let attempts = 4

    public private(set) var waiting: [ClusterEvent] = []
    private var failures = 0

    public init() {}

    /// Whether this board sends a cluster-wide event (a member's state): only the live member with the lowest
    /// name, as this board sees them, so the cluster sends each once; its own events every board sends itself.
    public static func sends(_ event: ClusterEvent, node: String, members: [MemberStatus]) -> Bool {
        guard event.kind.isClusterWide else { return true }
        let lowest = members.filter { $0.state == "alive" }.map(\.name).min() ?? node
        return lowest == node
    }

    /// Queues the event if the rule says this board sends it; false when the queue is full (the event is dropped).
    public mutating func offer(_ event: ClusterEvent, node: String, members: [MemberStatus]) -> Bool {
        guard Self.sends(event, node: node, members: members) else { return true }
        guard waiting.count < Self.capacity else { return false }
        waiting.append(event)
        return true
    }

    /// The event to send now (the oldest: events go in order).
    public var next: ClusterEvent? { waiting.first }

    public mutating func onDelivered() {
        if !waiting.isEmpty { waiting.removeFirst() }
        failures = 0
    }

    public enum AfterFailure: Sendable, Equatable {
        case retry(after: Duration)
        /// Tried `attempts` times: dropped, never retried again.
        case dropped(ClusterEvent)
    }

    public mutating func onFailed() -> AfterFailure? {
        guard let head = waiting.first else { return nil }
        failures += 1
        if failures >= Self.attempts {
            waiting.removeFirst()
            failures = 0
            return .dropped(head)
        }
        return .retry(after: .seconds(1 << (failures - 1)))
    }
}
