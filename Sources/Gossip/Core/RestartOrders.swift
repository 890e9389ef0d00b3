// The asked board's side of hcctl restart: which request it acts on (each id once, kept across restarts of
// the agent), its VIPs handed over before its units restart, and what it reports in its metadata ("rd").
// Pure: the shell hands VIPs over, restarts units over sd-bus and keeps the ids in state_dir.

public struct RestartOrders: Sendable {
    /// How long the VIPs may take to reach another board before the restart is refused (the share would go away).
    public static let handoverWindow = Duration.seconds(15)
    /// How many acted-on ids are kept: a coordinator asks one id per roll.
    public static let keptIDs = 16

    public enum Action: Sendable, Equatable {
        /// Keep these ids (oldest first) in state_dir: a restarted agent does not act on them again.
        case remember([String])
        /// What this board's metadata says now.
        case report(RestartReport)
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

    public init(node: String, actedOn: [String] = []) {
        self.node = node
        self.actedOn = actedOn
    }

    public var isBusy: Bool { current != nil }

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
            return actions
        }
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

    /// The clock: VIPs not handed over in time mean no restart (the share would go away), a failed restart.
    public mutating func onTick(now: Duration) -> [Action] {
        guard let current, case .handingOver(let vips, let until) = current.phase, now > until else { return [] }
        self.current = nil
        let reason = "\(vips.sorted().joined(separator: ", ")) not handed over within \(RestartRoll.seconds(Self.handoverWindow)): not restarted"
        return [.log(reason), .report(RestartReport(id: current.id, outcome: .failed(reason)))]
    }

    /// The shell's restart ended: the units are active again (nil), or why not.
    public mutating func onRestarted(id: String, failure: String?, now: Duration) -> [Action] {
        guard let current, current.id == id, case .restarting = current.phase else { return [] }
        self.current = nil
        if let failure {
            return [.log("restart \(id) failed: \(failure)"), .report(RestartReport(id: id, outcome: .failed(failure)))]
        }
        return [.log("restart \(id): \(current.units.joined(separator: ", ")) active again"), .report(RestartReport(id: id, outcome: .done))]
    }
}
