// Targeted handover (hcctl vip handover NAME --to NODE) on one board: who may ask, the successor's priority
// 254, the 10 s window and what ends it; and a drained board's VIPs (hcctl drain): handed over make before
// break, priority 1 while drained, never a chosen successor. Pure: the shell carries out the actions. Which members' requests
// this board hears is gossip's rule (Gossip's HandoverRequests).

/// The old master asks through its gossip metadata (VIP → node) and keeps the VIP until the successor announces
/// it (make before break: the usual higher-priority step-down, after which it does not preempt back); the
/// successor raises its priority above any configured one while asked, and keeps it while it holds the VIP (or
/// the others would preempt it back). A request ends when the old master is no longer master (the successor
/// took the VIP, or something else did) or when the window has passed: then it keeps the VIP and preempts as
/// usual again.
public struct TargetedHandover: Sendable {
    /// Above any configured priority (1-254 are configurable, 255 is the address owner's): the successor wins.
    public static let successorPriority = 254
    /// How long the old master waits for the successor before it withdraws the request and keeps the VIP.
    public static let window = Duration.seconds(10)
    /// A drained board's priority: the lowest there is, so it is master only where no other live board runs the VIP.
    public static let drainedPriority = 1
    /// Why a drained board's VIPs advertise `drainedPriority`, as hcctl vip shows it.
    public static let drainedReason = "drained: priority 1, master only as the last live board"

    /// What the rule needs to know of one of this board's routers at a step.
    public struct Router: Sendable, Equatable {
        public var state: VRRPInstance.State
        /// The priority it advertises when no handover concerns it (`basePriority`).
        public var basePriority: Int

        public init(state: VRRPInstance.State, basePriority: Int) {
            self.state = state
            self.basePriority = basePriority
        }
    }

    public enum Action: Sendable, Equatable {
        /// Targeted: the master lets the successor take the VIP and does not preempt back (`deferToSuccessor`).
        case deferToSuccessor(vip: String)
        /// Untargeted: the master advertises priority 0 and keeps the VIP until another announces it (`handOver`).
        case handOver(vip: String)
        /// The successor did not take over within the window: the master keeps the VIP (`stopDeferring`).
        case successorMissed(vip: String, successor: String)
        /// This board starts acting as the chosen successor (worth a log line; `setPriority` follows).
        case becomeSuccessor(vip: String)
        case setPriority(vip: String, priority: Int)
        /// The handovers this board asks of others changed (VIP → node): for its gossip metadata.
        case publishRequests([String: String])
        /// Undrained: a router that handed its VIP over preempts again as usual (`stopDeferring`).
        case resumePreempting(vip: String)
    }

    /// Why a handover request is refused, as hcctl shows it.
    public enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        case unknownVIP(String, known: [String])
        case notHolder(String, state: VRRPInstance.State)
        case alreadyHeld(String)

        public var description: String {
            switch self {
            case .unknownVIP(let name, let known):
                "no VIP named \(name) runs here\(known.isEmpty ? "" : " (known: \(known.joined(separator: ", ")))")"
            case .notHolder(let name, let state):
                "this node does not hold \(name) (it is \(state.rawValue)); ask the holder"
            case .alreadyHeld(let name):
                "this node already holds \(name)"
            }
        }
    }

    /// Handovers this board asked for: VIP → the successor and the end of its window.
    public private(set) var asked: [String: (successor: String, until: Duration)] = [:]
    /// VIPs other boards ask this board to take.
    public private(set) var requestedOfMe: Set<String> = []
    /// VIPs this board advertises `successorPriority` for.
    public private(set) var boosted: Set<String> = []
    /// The requests last published, so that gossip hears only of changes.
    private var published: [String: String] = [:]
    /// False after what sets the routers' priorities changed (the document, the probes' weights, a new router).
    private var prioritiesSettled = false
    /// hcctl drain: this board hands its VIPs over and advertises `drainedPriority` until undrained.
    public private(set) var drained = false

    public init() {}

    /// The priority a router advertises when no handover concerns it: the document's, moved by the weights of
    /// its failing tracked probes, within 1-254.
    public static func basePriority(configured: Int, adjustment: Int) -> Int {
        max(1, min(254, configured + adjustment))
    }

    /// Nothing to carry forward: a step would do nothing (the shell skips building the routers' facts).
    public var isQuiet: Bool {
        asked.isEmpty && published.isEmpty && requestedOfMe.isEmpty && boosted.isEmpty && prioritiesSettled
    }

    /// The handovers this board asks of others (VIP → node).
    public var outgoing: [String: String] { asked.mapValues(\.successor) }

    // MARK: events

    /// The operator asks this board to hand `vip` over, to `successor` or (nil) to whichever board the election
    /// picks. Only the master may ask, and not of itself. `holder`: the state of this board's router for `vip`
    /// (nil: none runs here); `known`: the VIPs that run here, for the refusal.
    public mutating func onRequest(vip: String, to successor: String?, node: String, holder: VRRPInstance.State?,
                                   known: [String], now: Duration) -> Result<[Action], Refusal> {
        guard let holder else { return .failure(.unknownVIP(vip, known: known.sorted())) }
        guard holder == .master else { return .failure(.notHolder(vip, state: holder)) }
        guard let successor else { return .success([.handOver(vip: vip)]) }
        guard successor != node else { return .failure(.alreadyHeld(vip)) }
        asked[vip] = (successor, now + Self.window)
        return .success([.deferToSuccessor(vip: vip)])
    }

    /// What hcctl is told of an accepted request.
    public static func accepted(_ vip: String, to successor: String?) -> String {
        guard let successor else { return "handing \(vip) over: it stays here until another board announces it" }
        return "handing \(vip) over to \(successor): it stays here until \(successor) announces it"
    }

    /// The VIPs other boards now ask this board to take (`asked(of:by:)`).
    public mutating func onRequestsOfMe(_ vips: Set<String>) {
        requestedOfMe = vips
    }

    /// This board was drained or undrained. Drained: every VIP it holds is handed over, make before break (the
    /// master advertises priority 0 and keeps the VIP until another board announces it; with no other live
    /// board it keeps it), its handovers asked of others are withdrawn, and every priority drops to
    /// `drainedPriority` at the next step. Undrained: the priorities come back and every router preempts again
    /// as its VIP says (a higher priority takes the VIP back when `preempt` is on).
    public mutating func onDrained(_ value: Bool, routers: [String: Router]) -> [Action] {
        guard value != drained else { return [] }
        drained = value
        prioritiesSettled = false
        if value {
            asked = [:]
            return routers.keys.sorted().filter { routers[$0]!.state == .master }.map { .handOver(vip: $0) }
        }
        return routers.keys.sorted().map { .resumePreempting(vip: $0) }
    }

    /// The priority a router of this board advertises when no handover raises it.
    public func effectivePriority(base: Int) -> Int {
        drained ? Self.drainedPriority : base
    }

    /// What sets the routers' base priorities changed: the next step sets them all again.
    public mutating func onPrioritiesChanged() {
        prioritiesSettled = false
    }

    /// After every event of the shell, with its routers as they are now (by VIP name): requests ended or
    /// withdrawn, the outgoing requests published when they changed, priorities raised or restored.
    public mutating func onStep(routers: [String: Router], now: Duration) -> [Action] {
        var actions: [Action] = []
        if !asked.isEmpty || !published.isEmpty {
            for (vip, request) in asked {
                guard let router = routers[vip] else {
                    asked[vip] = nil
                    continue
                }
                if router.state != .master {
                    // Stepped down: the successor (or another board) holds it now.
                    asked[vip] = nil
                } else if now > request.until {
                    actions.append(.successorMissed(vip: vip, successor: request.successor))
                    asked[vip] = nil
                }
            }
            let outgoing = self.outgoing
            if outgoing != published {
                published = outgoing
                actions.append(.publishRequests(outgoing))
            }
        }
        // With no successor asked of this board, a priority moves only with what sets the base priorities.
        if requestedOfMe.isEmpty && boosted.isEmpty && prioritiesSettled { return actions }
        prioritiesSettled = true
        for vip in routers.keys.sorted() {
            let router = routers[vip]!
            // A drained board is no one's successor, and gives up a raised priority it kept.
            let wanted = !drained && requestedOfMe.contains(vip) && (router.state == .backup || router.state == .master)
            let keep = !drained && boosted.contains(vip) && router.state == .master
            if wanted || keep {
                if !boosted.contains(vip) { actions.append(.becomeSuccessor(vip: vip)) }
                boosted.insert(vip)
                actions.append(.setPriority(vip: vip, priority: Self.successorPriority))
            } else {
                boosted.remove(vip)
                actions.append(.setPriority(vip: vip, priority: effectivePriority(base: router.basePriority)))
            }
        }
        return actions
    }
}
