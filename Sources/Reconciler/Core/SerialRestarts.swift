// Restarts after a change of a `serial: true` file: one board of the role at a time, in the order of the role's
// node names, each waiting until the boards before it say in gossip metadata ("sr") that they are done.
import HomecloudSchema

/// The rule every board applies alike: a board restarts a serial file's units only once every board of that role
/// named before it, and alive, publishes "sr" (the generation its own serial restarts are finished for) at least
/// the generation this board runs. A board is finished when nothing waits and every unit it restarted is active
/// again (its restart job ended and systemd says active). A dead board, or one that publishes no "sr" at all (an
/// agent without this rule), is not waited for. A unit that does not come back holds the boards after it: that is
/// the point (k3s servers must not all restart at once), and the status says whom a board waits for.
public struct SerialRestarts: Sendable {
    public enum Action: Sendable, Equatable {
        /// This board's turn: try-restart these units if they run (onNotRunning if one does not), then onJobDone
        /// and onUnitState as systemd answers.
        case restart([String])
        /// This board is finished for this generation: publish it as "sr".
        case publish(UInt64)
    }

    enum Phase: Sendable, Equatable {
        /// The restart job is under way.
        case job
        /// The job ended; done when the unit is seen active.
        case settling
    }

    public let node: String
    public private(set) var generation: UInt64 = 0
    /// Each role's node names in order (the document's nodes with the role, sorted).
    private var order: [String: [String]] = [:]
    /// Restarts waiting for this board's turn, by role, in the order they came.
    private var waiting: [(role: String, units: [String])] = []
    private var restarting: [String: Phase] = [:]
    public private(set) var published: UInt64?
    /// The boards the waiting restarts wait for, as of the last step (for status and the log).
    public private(set) var waitingFor: [String] = []
    /// Each unit whose restart waits for this board's turn, with its role and the boards it waits for, as of
    /// the last step (hcctl status and units).
    public private(set) var turnWaits: [String: TurnWait] = [:]

    public struct TurnWait: Sendable, Equatable {
        public var role: String
        public var after: [String]
        public init(role: String, after: [String]) {
            self.role = role
            self.after = after
        }
    }

    public init(node: String) {
        self.node = node
    }

    public var isIdle: Bool { waiting.isEmpty && restarting.isEmpty }
    public var waitingUnits: [String] { waiting.flatMap(\.units) }
    public func isRestarting(_ unit: String) -> Bool { restarting[unit] != nil }

    public mutating func onDocument(_ document: DesiredState) {
        generation = document.generation
        var order: [String: [String]] = [:]
        for assignment in document.nodes {
            for role in assignment.roles { order[role, default: []].append(assignment.name) }
        }
        self.order = order.mapValues { $0.sorted() }
    }

    /// A serial file of `role` was written: its units restart in this board's turn (each named once).
    public mutating func onWritten(role: String, units: [String]) {
        let queued = Set(waitingUnits).union(restarting.keys)
        let new = units.filter { !queued.contains($0) }
        guard !new.isEmpty else { return }
        if let index = waiting.firstIndex(where: { $0.role == role }) {
            waiting[index].units += new
        } else {
            waiting.append((role, new))
        }
    }

    /// Gossip's view (alive members and their "sr"), or any other moment to decide: whose turn, and whether to publish.
    public mutating func onStep(alive: Set<String>, done: [String: UInt64]) -> [Action] {
        var actions: [Action] = []
        var turn: [String] = []
        var blockers: Set<String> = []
        var turnWaits: [String: TurnWait] = [:]
        waiting.removeAll { entry in
            let before = (order[entry.role] ?? []).prefix { $0 != node }
            let holding = before.filter { alive.contains($0) && $0 != node && done[$0].map { $0 < generation } == true }
            if holding.isEmpty {
                turn += entry.units
                return true
            }
            blockers.formUnion(holding)
            for unit in entry.units where turnWaits[unit] == nil { turnWaits[unit] = TurnWait(role: entry.role, after: Array(holding)) }
            return false
        }
        waitingFor = blockers.sorted()
        self.turnWaits = turnWaits
        if !turn.isEmpty {
            for unit in turn { restarting[unit] = .job }
            actions.append(.restart(turn))
        }
        if isIdle && published != generation {
            published = generation
            actions.append(.publish(generation))
        }
        return actions
    }

    /// The unit did not run: try-restart leaves it alone, so there is nothing to wait for.
    public mutating func onNotRunning(_ unit: String) {
        restarting[unit] = nil
    }

    /// The restart job ended (JobRemoved), whatever its result: what counts is the state read after it.
    public mutating func onJobDone(_ unit: String) {
        if restarting[unit] == .job { restarting[unit] = .settling }
    }

    /// The unit's state read after its job: active finishes its restart; anything else keeps the boards after
    /// this one waiting until it is active (Restart=, a probe, a person).
    public mutating func onUnitState(_ unit: String, active: Bool) {
        if restarting[unit] == .settling && active { restarting[unit] = nil }
    }
}
