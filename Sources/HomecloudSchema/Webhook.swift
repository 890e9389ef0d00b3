// The document's `notify: { webhook: URL }`: where every board POSTs the cluster's events as JSON, and the
// outbox rule (WebhookOutbox, pure): which events this board sends, in order, a bounded queue, bounded retries.

/// An http:// URL, split for a plain HTTP/1.1 POST.
public struct WebhookTarget: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var path: String

    /// nil unless `http://HOST[:PORT][/PATH]` with a host and a port of 1-65535 (80 by default).
    public init?(_ url: String) {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        var host = String(authority), port = 80
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
        guard !host.isEmpty, (1...65535).contains(port), !host.contains(where: { $0 == " " || $0 == "@" }) else { return nil }
        self.host = host
        self.port = port
        self.path = path.isEmpty ? "/" : String(path)
    }

    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "http://\(shownHost)\(port == 80 ? "" : ":\(port)")\(path)"
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
