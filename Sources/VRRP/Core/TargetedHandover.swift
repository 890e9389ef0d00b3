// Targeted handover (hcctl vip handover NAME --to NODE) on one board: who may ask, the successor's priority
// 254, the 10 s window and what ends it; a drained board's VIPs (hcctl drain): handed over make before
// break, priority 1 while drained, never a chosen successor; and every planned step-down (a drain, a handover
// without --to, a graceful stop) moving the VIP once, to the best other live board. Pure: the shell carries out
// the actions. Which members' requests this board hears is gossip's rule (Gossip's HandoverRequests).

/// The old master asks through its gossip metadata (VIP → node) and keeps the VIP until the successor announces
/// it (make before break: the usual higher-priority step-down, after which it does not preempt back); the
/// successor raises its priority above any configured one while asked, and keeps it while it holds the VIP (or
/// the others would preempt it back) and its own priority has not fallen. A request ends when the old master is
/// no longer master (the successor took the VIP, or something else did) or when the window has passed: then it
/// keeps the VIP and preempts as usual again.
public struct TargetedHandover: Sendable {
    /// Above any configured priority (1-254 are configurable, 255 is the address owner's): the successor wins.
    public static let successorPriority = 254
    /// How long the old master waits for the successor before it withdraws the request and keeps the VIP.
    public static let window = Duration.seconds(10)
    /// A drained board's priority: the lowest there is, so it is master only where no other live board runs the VIP.
    public static let drainedPriority = 1
    /// Why a drained board's VIPs advertise `drainedPriority`, as hcctl vip shows it.
    public static let drainedReason = "drained: priority 1, master only as the last live board"
    /// How long a drained master advertises just below the best other live board before it hands over to any
    /// board (priority 0): an RFC router (keepalived) preempts a lower master after its master down interval,
    /// 3.5 s at 1 s adverts; hcagent after its skew time.
    public static let stepDownWindow = Duration.seconds(5)
    /// The same wait on a graceful stop, shorter so that the stop ends within its budget (VRRPService.stopBudget):
    /// an hcagent board preempts after its skew time, under one advert interval (1 s by default); then priority 0.
    public static let stopStepDownWindow = Duration.milliseconds(1500)
    /// The longest preempt delay a drain's wait covers (`drainWindow`): beyond it, priority 0 as before.
    public static let longestPreemptDelayCovered = Duration.seconds(60)

    /// How long a drained master waits for the best other board before priority 0. That board is an hcagent board
    /// (gossip knows it), so the document's `preempt_delay` is its own: counted from its router's start (a restart,
    /// an upgrade), it keeps the board from preempting even one below it. Priority 0 would not wait for it (RFC
    /// 5798 §6.4.2: leaving is no preemption), but it starts every backup's skew timer at once, and a lower one
    /// that wins the race keeps the VIP until the delay ends and the best board preempts it: two moves. So a
    /// drain, which has no deadline, waits the delay out too (up to `longestPreemptDelayCovered`). A handover
    /// without --to keeps `stepDownWindow` (a rolling restart gives it 15 s), a stop `stopStepDownWindow` (its budget).
    public static func drainWindow(preemptDelay: Duration) -> Duration {
        stepDownWindow + min(max(preemptDelay, .zero), longestPreemptDelayCovered)
    }

    /// Why a master steps down to the best other live board (each reason ends its own way).
    public enum StepDownReason: String, Sendable, Equatable {
        /// hcctl drain: priority 1 afterwards, until undrained.
        case drain
        /// hcctl vip handover NAME (no --to): the usual priority afterwards, without preempting back.
        case handover
        /// The agent stops gracefully (SIGTERM): the router ends `stopped`.
        case stop
    }

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
        /// This board starts acting as the chosen successor (worth a log line; `setPriority` follows). Its router
        /// preempts again (`stopDeferring`): a board that handed this VIP over earlier may be asked to take it back.
        case becomeSuccessor(vip: String)
        case setPriority(vip: String, priority: Int)
        /// The handovers this board asks of others changed (VIP → node): for its gossip metadata.
        case publishRequests([String: String])
        /// Undrained: a router that handed its VIP over preempts again as usual (`stopDeferring`).
        case resumePreempting(vip: String)
        /// A graceful stop: the router stops (`stop`); `handOver` false: a master stepping down to the best other
        /// board keeps the VIP until that board announces it (or until the rule says `handOver`).
        case stop(vip: String, handOver: Bool)
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
    public var boosted: Set<String> { Set(boostedFrom.keys) }
    /// Each boosted VIP's base priority when the boost began: kept while the base stays there, so that a probe
    /// failing on the successor lowers it as on any board (the old master's deferral ends, VRRPInstance).
    private var boostedFrom: [String: Int] = [:]
    /// The requests last published, so that gossip hears only of changes.
    private var published: [String: String] = [:]
    /// False after what sets the routers' priorities changed (the document, the probes' weights, a new router).
    private var prioritiesSettled = false
    /// hcctl drain: this board hands its VIPs over and advertises `drainedPriority` until undrained.
    public private(set) var drained = false
    /// Masters stepping down to the best other live board (drained, asked to hand over, stopping): VIP → that
    /// board's priority, the end of the wait and why. Priority 0 would start every backup's skew timer at once,
    /// and a lower backup whose timer fires first (a late board, skew times a few ms apart) takes the VIP and is
    /// preempted by the better one: two moves. Advertising one below the best board's priority lets that board
    /// alone preempt: one move.
    public private(set) var steppingDown: [String: (best: Int, until: Duration, reason: StepDownReason)] = [:]

    public init() {}

    /// The priority a router advertises when no handover concerns it: the document's, moved by the weights of
    /// its failing tracked probes, within 1-254.
    public static func basePriority(configured: Int, adjustment: Int) -> Int {
        AdvertisedPriorities.base(configured: configured, adjustment: adjustment)
    }

    /// Nothing to carry forward: a step would do nothing (the shell skips building the routers' facts).
    public var isQuiet: Bool {
        asked.isEmpty && published.isEmpty && requestedOfMe.isEmpty && boostedFrom.isEmpty && steppingDown.isEmpty && prioritiesSettled
    }

    /// The handovers this board asks of others (VIP → node).
    public var outgoing: [String: String] { asked.mapValues(\.successor) }

    // MARK: events

    /// The operator asks this board to hand `vip` over, to `successor` or (nil) to whichever board the election
    /// picks. Only the master may ask, and not of itself. `holder`: the state of this board's router for `vip`
    /// (nil: none runs here); `known`: the VIPs that run here, for the refusal. Without a successor, `best` (the
    /// highest priority among the other live boards that preempt, as for a drain) makes it a step-down to that
    /// board: one below it, the VIP kept until it preempts, priority 0 after `stepDownWindow`; without it,
    /// priority 0 at once.
    public mutating func onRequest(vip: String, to successor: String?, node: String, holder: VRRPInstance.State?,
                                   known: [String], best: Int? = nil, now: Duration) -> Result<[Action], Refusal> {
        guard let holder else { return .failure(.unknownVIP(vip, known: known.sorted())) }
        guard holder == .master else { return .failure(.notHolder(vip, state: holder)) }
        guard let successor else {
            guard let best, best > Self.drainedPriority else { return .success([.handOver(vip: vip)]) }
            steppingDown[vip] = (best, now + Self.stepDownWindow, .handover)
            prioritiesSettled = false
            // It does not preempt back once the best board holds the VIP (its priority comes back then).
            return .success([.deferToSuccessor(vip: vip)])
        }
        guard successor != node else { return .failure(.alreadyHeld(vip)) }
        // The chosen successor's 254 decides now; a step-down underway gives way to it.
        if steppingDown.removeValue(forKey: vip) != nil { prioritiesSettled = false }
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

    /// This board was drained or undrained. Drained: every VIP it holds is handed over, make before break, its
    /// handovers asked of others are withdrawn, and every priority drops to `drainedPriority` at the next step.
    /// A VIP whose best other live board is known (`best`: VIP → the highest priority among the other live,
    /// undrained boards as each advertises it (AdvertisedPriorities), given only where they preempt) steps down
    /// to it: the master advertises one below it and keeps the VIP until that board preempts it, so no other
    /// backup races it (`drainWindow`, which covers the VIP's `preemptDelays`, then as below). Any other master
    /// advertises priority 0 and keeps the VIP until another board announces it (with no other live board it
    /// keeps it). Undrained: the priorities come back and every router preempts again
    /// as its VIP says (a higher priority takes the VIP back when `preempt` is on).
    public mutating func onDrained(_ value: Bool, routers: [String: Router], best: [String: Int] = [:],
                                   preemptDelays: [String: Duration] = [:], now: Duration = .zero) -> [Action] {
        guard value != drained else { return [] }
        drained = value
        prioritiesSettled = false
        if value {
            asked = [:]
            var actions: [Action] = []
            for vip in routers.keys.sorted() where routers[vip]!.state == .master {
                if let priority = best[vip], priority > Self.drainedPriority {
                    steppingDown[vip] = (priority, now + Self.drainWindow(preemptDelay: preemptDelays[vip] ?? .zero), .drain)
                } else {
                    steppingDown[vip] = nil
                    actions.append(.handOver(vip: vip))
                }
            }
            return actions
        }
        // A handover or a stop underway goes on; only the drain's step-downs end.
        steppingDown = steppingDown.filter { $0.value.reason != .drain }
        return routers.keys.sorted().map { .resumePreempting(vip: $0) }
    }

    /// The agent stops gracefully (SIGTERM, `systemctl stop`): every router stops. A master whose best other
    /// live board is known (`best`, as for a drain) steps down to it as a drain does, but waits only
    /// `stopStepDownWindow` for it before priority 0 (`handOver`, which a stopping router ends `stopped` when
    /// another announces the VIP); any other master hands over at priority 0 at once, and the rest stop now.
    /// An in-place restart (reload) is no stop: it keeps the VIPs and never comes here.
    public mutating func onStop(routers: [String: Router], best: [String: Int], now: Duration) -> [Action] {
        var actions: [Action] = []
        for vip in routers.keys.sorted() {
            var stepsDown = false
            if routers[vip]!.state == .master, let priority = best[vip], priority > Self.drainedPriority {
                stepsDown = true
                // Already stepping down (a drain, a handover): the best board is the same; the stop's wait is shorter.
                let until = min(steppingDown[vip]?.until ?? (now + Self.stopStepDownWindow), now + Self.stopStepDownWindow)
                steppingDown[vip] = (priority, until, .stop)
                prioritiesSettled = false
            } else {
                steppingDown[vip] = nil
            }
            actions.append(.stop(vip: vip, handOver: !stepsDown))
        }
        return actions
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
        for (vip, wait) in steppingDown {
            guard routers[vip]?.state == .master else {
                // Stepped down (the best board preempted it), or something else took it.
                steppingDown[vip] = nil
                prioritiesSettled = false
                continue
            }
            if now > wait.until {
                // The best board did not come (its probes lowered it, it stopped): any board may take it now.
                steppingDown[vip] = nil
                prioritiesSettled = false
                actions.append(.handOver(vip: vip))
            }
        }
        // With no successor asked of this board, a priority moves only with what sets the base priorities.
        if requestedOfMe.isEmpty && boostedFrom.isEmpty && prioritiesSettled { return actions }
        prioritiesSettled = true
        for vip in routers.keys.sorted() {
            let router = routers[vip]!
            // A drained board is no one's successor, and gives up a raised priority it kept. A successor keeps it
            // while it holds the VIP, unless its own priority fell since (a failing tracked probe).
            let wanted = !drained && requestedOfMe.contains(vip) && (router.state == .backup || router.state == .master)
            let keep = !drained && router.state == .master && boostedFrom[vip].map { router.basePriority >= $0 } == true
            if let wait = steppingDown[vip] {
                // Below the best other board, so that it alone preempts this master; and below this board's own
                // priority, so that a board that deferred to this one (it handed the VIP over here) preempts too.
                boostedFrom[vip] = nil
                actions.append(.setPriority(vip: vip, priority: max(1, min(router.basePriority - 1, wait.best - 1))))
            } else if wanted || keep {
                if boostedFrom[vip] == nil {
                    actions.append(.becomeSuccessor(vip: vip))
                    boostedFrom[vip] = router.basePriority
                }
                actions.append(.setPriority(vip: vip, priority: Self.successorPriority))
            } else {
                boostedFrom[vip] = nil
                actions.append(.setPriority(vip: vip, priority: effectivePriority(base: router.basePriority)))
            }
        }
        return actions
    }
}
