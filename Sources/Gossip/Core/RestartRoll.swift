// The coordinating board's side of hcctl restart [--rolling]: which board is asked when, what counts as done
// (its report says its units are active again and no probe fails there that did not fail before), and when
// the roll stops (a failure, a board gone, the timeout). Pure: the shell publishes, prints and ticks.

public struct RestartRoll: Sendable {
    /// What the roll needs to know of one board at a step (from gossip; a board missing counts as gone).
    public struct Board: Sendable, Equatable {
        /// Alive or suspect: a board busy restarting may be late to answer without being gone.
        public var reachable: Bool
        public var report: RestartReport?
        public var failingProbes: [String]
        public var vips: [String]

        public init(reachable: Bool = true, report: RestartReport? = nil, failingProbes: [String] = [], vips: [String] = []) {
            self.reachable = reachable
            self.report = report
            self.failingProbes = failingProbes
            self.vips = vips
        }
    }

    public enum Action: Sendable, Equatable {
        /// The request this board's metadata carries now (nil: none).
        case publish(RestartRequest?)
        /// One line for the operator.
        case progress(String)
        /// The roll is over: every board done (true), or stopped with the reason.
        case finished(ok: Bool, String)
    }

    public let id: String
    public let units: [String]
    public let rolling: Bool
    /// How long one board (all boards at once without --rolling) may take to be done.
    public let timeout: Duration
    /// The boards not asked yet.
    public private(set) var remaining: [String]
    /// The boards asked now: since when, until when, and the probes that failed there before.
    private var asked: [String: (since: Duration, until: Duration, failingBefore: Set<String>)] = [:]
    public private(set) var done: [String] = []
    private var failures: [String] = []
    private var saidRunning: Set<String> = []
    private var saidProbes: Set<String> = []
    public private(set) var isFinished = false

    public init(id: String, units: [String], boards: [String], rolling: Bool, timeout: Duration) {
        self.id = id
        self.units = units
        self.rolling = rolling
        self.timeout = timeout
        remaining = Array(Set(boards)).sorted()
    }

    /// The boards asked now (for status).
    public var current: [String] { asked.keys.sorted() }

    /// Asks the first board (every board without --rolling).
    public mutating func onStart(boards: [String: Board], now: Duration) -> [Action] {
        guard !remaining.isEmpty else {
            isFinished = true
            return [.finished(ok: true, "no board runs \(units.joined(separator: ", ")): nothing to restart")]
        }
        var actions: [Action] = [.progress("restarting \(units.joined(separator: ", ")) on \(remaining.joined(separator: ", "))"
            + (rolling ? ", one board at a time" : ", all at once"))]
        actions += askNext(boards: boards, now: now)
        return actions
    }

    /// Gossip's view changed: boards report, come back, fail or go.
    public mutating func onBoards(_ boards: [String: Board], now: Duration) -> [Action] {
        guard !isFinished else { return [] }
        var actions: [Action] = []
        for (name, step) in asked.sorted(by: { $0.key < $1.key }) {
            let board = boards[name]
            guard let board, board.reachable else {
                actions += fail(name, "\(name) is gone from the cluster (dead or left) while asked to restart")
                continue
            }
            guard let report = board.report, report.id == id else { continue }
            switch report.outcome {
            case .running:
                if saidRunning.insert(name).inserted {
                    actions.append(.progress("\(name): restarting" + (board.vips.isEmpty ? "" : " (hands \(board.vips.joined(separator: ", ")) over first)")))
                }
            case .failed(let reason):
                actions += fail(name, "\(name) failed: \(reason)")
            case .done:
                let newlyFailing = Set(board.failingProbes).subtracting(step.failingBefore)
                if newlyFailing.isEmpty {
                    asked[name] = nil
                    done.append(name)
                    actions.append(.progress("\(name): done, active again\(saidProbes.contains(name) ? " and its probes healthy" : "") (\(Self.seconds(now - step.since)))"))
                } else if saidProbes.insert(name).inserted {
                    actions.append(.progress("\(name): active again, waiting for probe \(newlyFailing.sorted().joined(separator: ", "))"))
                }
            }
        }
        if !isFinished && asked.isEmpty { actions += askNext(boards: boards, now: now) }
        return actions
    }

    /// The clock: a board past its deadline stops the roll.
    public mutating func onTick(now: Duration) -> [Action] {
        guard !isFinished else { return [] }
        var actions: [Action] = []
        for (name, step) in asked.sorted(by: { $0.key < $1.key }) where now > step.until {
            let what = saidProbes.contains(name) ? "its probes were not healthy again" : "it did not report its units active again"
            actions += fail(name, "\(name) timed out: \(what) within \(Self.seconds(timeout))")
        }
        return actions
    }

    /// hcctl was interrupted (its connection closed): nothing further is asked; the board asked now finishes.
    public mutating func onCancel(now: Duration) -> [Action] {
        guard !isFinished else { return [] }
        let asked = current
        return finish(ok: false, "hcctl was interrupted" + (asked.isEmpty ? "" : " while \(asked.joined(separator: ", ")) restarted"))
    }

    private mutating func fail(_ name: String, _ reason: String) -> [Action] {
        asked[name] = nil
        failures.append(reason)
        // Without --rolling the others were asked too: their outcomes are awaited before the verdict.
        guard asked.isEmpty || rolling else { return [.progress(reason)] }
        return finish(ok: false, reason)
    }

    private mutating func finish(ok: Bool, _ last: String) -> [Action] {
        isFinished = true
        asked = [:]
        // One at a time, the boards in the order they went; all at once, by name.
        let done = rolling ? self.done : self.done.sorted()
        if ok {
            return [.publish(nil), .finished(ok: true, "restarted \(units.joined(separator: ", ")) on \(done.joined(separator: ", "))")]
        }
        var line = rolling ? last + "; the roll stops" : failures.joined(separator: "; ")
        if !remaining.isEmpty { line += " (not restarted: \(remaining.joined(separator: ", ")))" }
        if !done.isEmpty { line += " (done: \(done.joined(separator: ", ")))" }
        return [.publish(nil), .finished(ok: false, line)]
    }

    /// The next board: one holding no VIP before any that holds one (by name within each), so a VIP holder
    /// goes last; it hands its VIPs to the board restarted last, which is healthy again by then.
    private mutating func askNext(boards: [String: Board], now: Duration) -> [Action] {
        if !failures.isEmpty { return finish(ok: false, failures.last ?? "") }
        guard !remaining.isEmpty else { return finish(ok: true, "") }
        let batch: [String]
        if rolling {
            let holds = { (name: String) in !(boards[name]?.vips.isEmpty ?? true) }
            let next = remaining.first { !holds($0) } ?? remaining[0]
            batch = [next]
        } else {
            batch = remaining
        }
        remaining.removeAll { batch.contains($0) }
        for name in batch {
            asked[name] = (now, now + timeout, Set(boards[name]?.failingProbes ?? []))
        }
        let successor = rolling ? done.last : nil
        var actions: [Action] = [.publish(RestartRequest(id: id, units: units, nodes: batch, successor: successor))]
        if rolling { actions.append(.progress("\(batch[0]): asked")) }
        return actions
    }

    static func seconds(_ duration: Duration) -> String {
        let millis = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return "\(millis / 1000).\(millis % 1000 / 100) s"
    }
}
