// Restarts asked of other boards (hcctl restart): what travels in gossip metadata ("rq" from the coordinating
// board, "rd" from the asked board) and which requests a board acts on. Pure: the shells carry them out.

/// A coordinator's request: restart `units` on `nodes` (one board at a time for a rolling restart, all at once
/// otherwise). `id` is new per roll: a board acts on an id once, and keeps the ids it acted on across restarts.
public struct RestartRequest: Sendable, Equatable {
    public var id: String
    public var units: [String]
    public var nodes: [String]
    /// The board an asked VIP holder hands its VIPs to (a board already restarted and healthy); nil: whichever
    /// board the election picks.
    public var successor: String?

    public init(id: String, units: [String], nodes: [String], successor: String? = nil) {
        self.id = id
        self.units = units
        self.nodes = nodes
        self.successor = successor
    }
}

/// What an asked board says of the last request it acted on: running, done (its units active again), or failed.
public struct RestartReport: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        case running
        case done
        case failed(String)
    }

    public var id: String
    public var outcome: Outcome

    public init(id: String, outcome: Outcome) {
        self.id = id
        self.outcome = outcome
    }

    /// On the wire: "run", "ok", or "fail: reason" (the reason cut to 80 bytes: metadata is small).
    public var text: String {
        switch outcome {
        case .running: "run"
        case .done: "ok"
        case .failed(let reason): "fail: " + String(decoding: Array(reason.utf8.prefix(80)), as: UTF8.self)
        }
    }

    public init?(id: String, text: String) {
        self.id = id
        switch text {
        case "run": outcome = .running
        case "ok": outcome = .done
        default:
            guard text.hasPrefix("fail: ") else { return nil }
            outcome = .failed(String(text.dropFirst(6)))
        }
    }
}

/// A request this board may act on, and who asked.
public struct RestartAsk: Sendable, Equatable {
    public var by: String
    public var request: RestartRequest

    public init(by: String, request: RestartRequest) {
        self.by = by
        self.request = request
    }
}

public enum RestartRequests {
    /// The restarts alive members other than `node` ask of it (the coordinator hands its own request to itself
    /// directly), counting only those a member may make (`mayActOn`: sealed with its own node key, or nothing is
    /// checked here). A dead or departed coordinator's request no longer counts.
    public static func asked(of node: String,
                             by members: some Sequence<(member: GossipMember, metadata: NodeMetadata?, mayActOn: Bool)>) -> [RestartAsk] {
        var asks: [RestartAsk] = []
        for (member, metadata, mayActOn) in members where member.state == .alive && member.name != node && mayActOn {
            if let request = metadata?.restartRequest, request.nodes.contains(node) {
                asks.append(RestartAsk(by: member.name, request: request))
            }
        }
        return asks.sorted { $0.by < $1.by }
    }

    /// Each member's last restart report, as its metadata says.
    public static func reports(in members: some Sequence<(member: GossipMember, metadata: NodeMetadata?)>) -> [String: RestartReport] {
        var reports: [String: RestartReport] = [:]
        for (member, metadata) in members { if let report = metadata?.restartReport { reports[member.name] = report } }
        return reports
    }
}

/// What this board's metadata carries about restarts: the request it coordinates and its last report.
public struct RestartMetadata: Sendable, Equatable {
    public var request: RestartRequest?
    public var report: RestartReport?

    public init(request: RestartRequest? = nil, report: RestartReport? = nil) {
        self.request = request
        self.report = report
    }
}
