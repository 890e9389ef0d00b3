// The transition hooks' rule: which of this board's VIP transitions run which `notify:` command, exactly once
// each, one at a time per VIP in the order they happened, and only what the local policy allows. Pure: the
// shell starts what it says and tells it when a run has ended.
import HomecloudSchema

public struct TransitionHooks: Sendable {
    /// One hook to run: its argv (the command, then the VIP's name and the new state) and environment.
    public struct Run: Sendable, Equatable {
        public var id: UInt64
        public var vip: String
        public var state: String
        public var previous: String
        public var argv: [String]
        /// `NAME=VALUE` entries added to the agent's environment.
        public var environment: [String]
        public var timeout: Duration
    }

    public enum Action: Sendable, Equatable {
        case start(Run)
        /// The local policy does not allow the command: it is not run (the shell logs, counts and reports it).
        case refuse(vip: String, state: String, argv: [String], why: String)
        /// More transitions of a VIP waited than `maxWaiting` while its hook ran: the oldest waiting is dropped.
        case drop(Run)
    }

    /// Transitions a VIP may have waiting behind its running hook; a flapping VIP cannot grow memory.
    public static let maxWaiting = 4

    public let node: String
    /// nil: no `policy:` in agent.yaml, every command may run (the agent warns about that at start).
    public let policy: LocalPolicy?
    public let policyFile: String

    private var notify: [String: VIPNotify] = [:]
    /// The state each VIP's hooks last saw it enter: a transition into the same state again is no transition.
    private var lastState: [String: String] = [:]
    private var running: [String: UInt64] = [:]
    private var waiting: [String: [Run]] = [:]
    private var nextID: UInt64 = 1

    public init(node: String, policy: LocalPolicy?, policyFile: String) {
        self.node = node
        self.policy = policy
        self.policyFile = policyFile
    }

    /// The document in force: its VIPs' hooks from now on. A VIP gone from it is forgotten (its waiting runs
    /// are dropped: they belong to a router that no longer exists); a hook running ends by its own timeout.
    public mutating func onDocument(_ vips: [VirtualIP]) -> [Action] {
        notify = Dictionary(vips.compactMap { vip in vip.notify.map { (vip.name, $0) } }, uniquingKeysWith: { first, _ in first })
        let names = Set(vips.map(\.name))
        var actions: [Action] = []
        for vip in Array(lastState.keys) where !names.contains(vip) { lastState[vip] = nil }
        for vip in Array(waiting.keys) where !names.contains(vip) {
            actions += (waiting.removeValue(forKey: vip) ?? []).map { .drop($0) }
        }
        return actions
    }

    /// One transition as VRRP made it. Hooks exist for master, backup and fault (starting as backup is a
    /// transition into backup); init and stopped run nothing.
    public mutating func onTransition(_ transition: VIPTransition) -> [Action] {
        let vip = transition.vip, state = transition.to
        guard transition.from != state, lastState[vip] != state else { return [] }
        lastState[vip] = state
        guard let hooks = notify[vip], let command = hooks.command(for: state) else { return [] }
        let argv = VIPNotify.argv(command, vip: vip, state: state)
        if let policy, !policy.allowsExec(argv) {
            return [.refuse(vip: vip, state: state, argv: argv,
                            why: "\"\(argv.joined(separator: " "))\" is not allowed by policy.exec in \(policyFile)")]
        }
        let run = Run(id: nextID, vip: vip, state: state, previous: transition.from, argv: argv,
                      environment: ["HC_VIP=\(vip)", "HC_STATE=\(state)", "HC_PREVIOUS=\(transition.from)",
                                    "HC_REASON=\(transition.reason)", "HC_NODE=\(node)"],
                      timeout: hooks.timeout)
        nextID += 1
        if running[vip] == nil {
            running[vip] = run.id
            return [.start(run)]
        }
        var queue = waiting[vip] ?? []
        var actions: [Action] = []
        if queue.count >= Self.maxWaiting { actions.append(.drop(queue.removeFirst())) }
        queue.append(run)
        waiting[vip] = queue
        return actions
    }

    /// A run has ended (however: exit, failure, timeout). The VIP's next waiting run starts; a failed run is
    /// never started again.
    public mutating func onFinished(id: UInt64, vip: String) -> [Action] {
        guard running[vip] == id else { return [] }
        running[vip] = nil
        guard var queue = waiting[vip], !queue.isEmpty else { return [] }
        let next = queue.removeFirst()
        waiting[vip] = queue.isEmpty ? nil : queue
        running[vip] = next.id
        return [.start(next)]
    }

    /// Runs started and not yet finished, by VIP (for tests and status).
    public var runningCount: Int { running.count }
}
