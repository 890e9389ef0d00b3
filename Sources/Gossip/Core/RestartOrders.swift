// The asked board's side of hcctl restart: which request it acts on (each id once, kept across restarts of
// the agent), its VIPs handed over before its units restart, and what it reports in its metadata ("rd").
// Pure: the shell hands VIPs over, restarts units over sd-bus and keeps the ids in state_dir.

public struct RestartOrders: Sendable {
    /// How long the VIPs may take to reach another board before the restart is refused (the share would go away).
    public static let handoverWindow = Duration.seconds(15)
    /// How many acted-on ids are kept: a coordinator asks one id per roll.
    public static let keptIDs = 16
    /// How long a final report (done, failed) stays in this board's metadata: the coordinator reads it within
    /// a gossip round or two; after this it only made every metadata message longer, for as long as the agent ran.
    public static let reportRetention = Duration.seconds(600)

    public enum Action: Sendable, Equatable {
        /// Keep these ids (oldest first) in state_dir: a restarted agent does not act on them again.
        case remember([String])
        /// What this board's metadata says now.
        case report(RestartReport)
        /// The last report is old and final: the metadata carries none any more ("rd" trimmed).
        case clearReport
        /// Hand these VIPs over, make before break, to `successor` (nil: whichever board the election picks).
        case handOver(vips: [String], to: String?)
        /// Restart these units and report (`onRestarted`) once they are active again or have failed.
        case restart(id: String, units: [String])
        case log(String)
    }

    private enum Phase: Sendable {
        case handingOver(vips: Set<String>, until: Duration)
        case restarting
    }

    public let node: String
    public private(set) var actedOn: [String]
    private var current: (id: String, units: [String], phase: Phase)?
    /// Who asked for the restart under way (for status).
    private var askedBy: String?
    /// Since when the metadata carries a final report (trimmed after reportRetention); nil: none, or running.
    private var finalReportSince: Duration?

    public init(node: String, actedOn: [String] = []) {
        self.node = node
        self.actedOn = actedOn
    }

    public var isBusy: Bool { current != nil }

    /// When `onTick` next has something to do: the end of the hand-over window, or the trim of a final report;
    /// nil when nothing waits on the clock (the shell then arms no timer).
    public var nextDeadline: Duration? {
        if let current {
            if case .handingOver(_, let until) = current.phase { return until }
            return nil
        }
        return finalReportSince.map { $0 + Self.reportRetention }
    }

    /// The restart under way here, for hcctl status: its id, who asked, its units, and whether this board still
    /// hands its VIPs over (else its units restart now).
    public var underWay: (id: String, by: String, units: [String], handingOver: Bool)? {
        guard let current else { return nil }
        if case .handingOver = current.phase { return (current.id, askedBy ?? "?", current.units, true) }
        return (current.id, askedBy ?? "?", current.units, false)
    }

    /// What alive members ask of this board now. `units`: the asked units the document runs here (the others
    /// are not this board's to restart); `held`: the VIPs it holds. A request already acted on is not repeated,
    /// and one arriving while another runs waits for it (it is still asked after).
    public mutating func onAsked(_ asks: [RestartAsk], units: (RestartRequest) -> [String], held: Set<String>, now: Duration) -> [Action] {
        guard current == nil, let ask = asks.first(where: { !actedOn.contains($0.request.id) }) else { return [] }
        let id = ask.request.id
        actedOn.append(id)
        if actedOn.count > Self.keptIDs { actedOn.removeFirst(actedOn.count - Self.keptIDs) }
        var actions: [Action] = [.remember(actedOn)]
        let ours = units(ask.request)
        guard !ours.isEmpty else {
            actions.append(.log("\(ask.by) asked this board to restart \(ask.request.units.joined(separator: ", ")), which do not run here"))
            actions.append(.report(RestartReport(id: id, outcome: .done)))
            finalReportSince = now
            return actions
        }
        askedBy = ask.by
        finalReportSince = nil
        actions.append(.log("\(ask.by) asked this board to restart \(ours.joined(separator: ", ")) (restart \(id))"))
        actions.append(.report(RestartReport(id: id, outcome: .running)))
        let successor = ask.request.successor.flatMap { $0 == node ? nil : $0 }
        if held.isEmpty {
            current = (id, ours, .restarting)
            actions.append(.restart(id: id, units: ours))
        } else {
            current = (id, ours, .handingOver(vips: held, until: now + Self.handoverWindow))
            actions.append(.handOver(vips: held.sorted(), to: successor))
        }
        return actions
    }

    /// The VIPs this board holds now: once none of those it hands over is left, its units restart.
    public mutating func onHeld(_ held: Set<String>, now: Duration) -> [Action] {
        guard let current, case .handingOver(let vips, _) = current.phase, vips.isDisjoint(with: held) else { return [] }
        self.current?.phase = .restarting
        return [.log("VIPs \(vips.sorted().joined(separator: ", ")) handed over: restarting"), .restart(id: current.id, units: current.units)]
    }

    /// The clock: VIPs not handed over in time mean no restart (the share would go away), a failed restart; a
    /// final report older than reportRetention leaves the metadata.
    public mutating func onTick(now: Duration) -> [Action] {
        if current == nil, let since = finalReportSince, now - since > Self.reportRetention {
            finalReportSince = nil
            return [.clearReport]
        }
        guard let current, case .handingOver(let vips, let until) = current.phase, now > until else { return [] }
        self.current = nil
        finalReportSince = now
        let reason = "\(vips.sorted().joined(separator: ", ")) not handed over within \(RestartRoll.seconds(Self.handoverWindow)): not restarted"
        return [.log(reason), .report(RestartReport(id: current.id, outcome: .failed(reason)))]
    }

    /// The shell's restart ended: the units are active again (nil), or why not.
    public mutating func onRestarted(id: String, failure: String?, now: Duration) -> [Action] {
        guard let current, current.id == id, case .restarting = current.phase else { return [] }
        self.current = nil
        finalReportSince = now
        if let failure {
            return [.log("restart \(id) failed: \(failure)"), .report(RestartReport(id: id, outcome: .failed(failure)))]
        }
        return [.log("restart \(id): \(current.units.joined(separator: ", ")) active again"), .report(RestartReport(id: id, outcome: .done))]
    }
}
