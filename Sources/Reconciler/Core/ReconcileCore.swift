// The reconcile planner: from the document in force, the VIPs held and what systemd reports, the steps to take.
import HomecloudSchema

/// A pure value type: events go in with the time, steps for the sd-bus shell come out. It only ever acts on
/// units the document names, and losing the document's source (gossip, the file) never stops a unit: only a
/// new accepted document does.
public struct ReconcileCore: Sendable {
    public enum Action: Sendable, Equatable {
        case start(String)
        case stop(String)
        /// A running unit that its probe finds unhealthy (probe `restart: true`).
        case restart(String)
        case resetFailed(String)
        case enable([String])
        case disable([String])
        /// Call onTimer at this time (a backoff ends).
        case wakeUp(at: Duration)
        /// Arm (or re-arm) the fence of a `one` unit (SingletonFence.swift); answer with onFenceArmed or onFenceFailed.
        case armFence(unit: String, timing: FenceTiming)
        /// Remove the fence of a unit that no longer runs here (a missing one is no error).
        case removeFence(unit: String)
    }

    public enum JobResult: String, Sendable, Equatable {
        case done, canceled, timeout, failed, dependency, skipped
    }

    public let node: String
    public let backoff: RestartBackoff
    /// `placement: one`: how long a member heard from counts as alive, and how long a board that has just
    /// become the one to run such a unit waits before starting it (a board that stops being that one stops
    /// it at once). Derived from the document's size unless given (tests). Why: SingletonPlacement.swift.
    private let timingOverride: SingletonTiming?
    public var singletonTiming: SingletonTiming { timingOverride ?? .forCluster(of: document?.nodes.count ?? 1) }
    public var fenceTiming: FenceTiming { .forSingleton(singletonTiming) }
    public private(set) var document: DesiredState?
    private var heldVIPs: Set<String> = []
    /// Gossip's view; nil until gossip has said (`one` units wait for it).
    public private(set) var members: MemberView?
    /// When the planner last planned (tests replay the time between on virtual clocks).
    public private(set) var lastPlanAt: Duration?
    /// `wait_for:`: the shared secrets available here, and which awaited files exist (both from the shell).
    public private(set) var secrets: Set<String> = []
    public private(set) var presentFiles: Set<String> = []
    private var observed: [String: ObservedUnit] = [:]
    private var tracks: [String: Track] = [:]
    private var random: SplitMix64

    /// Per-unit bookkeeping between events.
    struct Track: Sendable, Equatable {
        var jobInFlight = false
        /// A job ended: plan again only once systemd's new state has been read, not from the stale one.
        var awaitingState = false
        var failures = 0
        /// A start was issued and its outcome is not known yet: it ends as a failure or after stableAfter up.
        var attemptOpen = false
        /// The unit was seen up since the last start: going inactive now is a stop (drift), not a failed start.
        var upSinceStart = false
        var retryAt: Duration?
        var upSince: Duration?
        var enableInFlight = false
        /// Enablement changed: decide again only from a fresh read of UnitFileState.
        var awaitingFileState = false
        /// Why its probe asks for restarts, while it does (cleared when the probe is healthy again).
        var probeFailure: String?
        /// A `one` unit: since when this node has been, without a break, the one to run it.
        var runnerSince: Duration?
        /// Its fence (SingletonFence): armed until (counted from when the arm was asked, so never later than
        /// systemd's), an arm under way and when it was asked, the last arm's error and when to try again.
        var fenceUntil: Duration?
        var fenceAskedAt: Duration?
        var fenceError: String?
        var fenceRetryAt: Duration?
        /// A fence an earlier agent armed may still exist (unknown at start): removed once, if not needed.
        var fenceMayExist = true
        /// The fence lapsed while this board held the unit: stop the copy (systemd has already).
        var fenceLapsed = false
    }

    public init(node: String, backoff: RestartBackoff = RestartBackoff(), singletonTiming: SingletonTiming? = nil, seed: UInt64) {
        self.node = node
        self.backoff = backoff
        self.timingOverride = singletonTiming
        self.random = SplitMix64(seed: seed)
    }

    // MARK: events

    public mutating func onDocument(_ document: DesiredState, now: Duration) -> [Action] {
        if document != self.document {
            // A new document is a new chance for units given up on.
            for name in tracks.keys { tracks[name]?.failures = 0; tracks[name]?.retryAt = nil }
        }
        self.document = document
        return plan(now: now)
    }

    public mutating func onVIPs(held: Set<String>, now: Duration) -> [Action] {
        heldVIPs = held
        return plan(now: now)
    }

    /// Gossip's view: every member it knows (this node included or not) with its state, and when it was last
    /// heard from. A node of the document that gossip does not know counts as not alive.
    public mutating func onMembers(_ view: MemberView, now: Duration) -> [Action] {
        members = view
        return plan(now: now)
    }

    /// The names of the shared secrets this board has (`wait_for: secret`).
    public mutating func onSecrets(_ names: Set<String>, now: Duration) -> [Action] {
        secrets = names
        return plan(now: now)
    }

    /// Which of `awaitedFiles` exist now (`wait_for: file`): the shell looks while some unit waits for one.
    public mutating func onFiles(present: Set<String>, now: Duration) -> [Action] {
        presentFiles = present
        return plan(now: now)
    }

    public mutating func onUnit(_ unit: ObservedUnit, now: Duration) -> [Action] {
        observe(unit, now: now)
        return plan(now: now)
    }

    /// Several units read at once (a new document, unit files changed): all are observed before one plan, so
    /// the units to enable or disable go to systemd in one call, and so one daemon reload, not one each.
    public mutating func onUnits(_ units: [ObservedUnit], now: Duration) -> [Action] {
        for unit in units { observe(unit, now: now) }
        return plan(now: now)
    }

    private mutating func observe(_ unit: ObservedUnit, now: Duration) {
        let before = observed[unit.name]
        observed[unit.name] = unit
        var track = tracks[unit.name] ?? Track()
        track.awaitingState = false
        track.awaitingFileState = false
        if unit.isUp {
            if track.upSince == nil { track.upSince = now }
            track.upSinceStart = true
        } else {
            track.upSince = nil
        }
        if wantsUp(unit.name, now: now) {
            // Our start did not bring it up (it failed, or exited at once), or it crashed on its own later. Down with
            // a job still queued is no verdict yet: another caller's job ended (JobRemoved names no job) before ours.
            let attemptFailed = track.attemptOpen && !track.jobInFlight && !unit.hasJob
                && (unit.activeState == "failed" || (unit.activeState == "inactive" && !track.upSinceStart))
            let crashed = unit.activeState == "failed" && before.map { !$0.isDown } == true
            if attemptFailed || crashed { countFailure(&track, now: now) }
        }
        tracks[unit.name] = track
    }

    public mutating func onJobDone(unit: String, result: JobResult, now: Duration) -> [Action] {
        var track = tracks[unit] ?? Track()
        track.jobInFlight = false
        track.awaitingState = true
        if result != .done && result != .skipped && wantsUp(unit, now: now) && track.attemptOpen {
            countFailure(&track, now: now)
        }
        tracks[unit] = track
        return plan(now: now)
    }

    public mutating func onEnableDone(units: [String], now: Duration) -> [Action] {
        for name in units {
            tracks[name]?.enableInFlight = false
            tracks[name]?.awaitingFileState = true
        }
        return plan(now: now)
    }

    public mutating func onTimer(now: Duration) -> [Action] { plan(now: now) }

    /// The fence asked for by `.armFence` is armed.
    public mutating func onFenceArmed(unit: String, now: Duration) -> [Action] {
        if var track = tracks[unit], let asked = track.fenceAskedAt {
            track.fenceUntil = asked + fenceTiming.lease
            track.fenceAskedAt = nil
            track.fenceError = nil
            track.fenceRetryAt = nil
            track.fenceMayExist = true
            tracks[unit] = track
        }
        return plan(now: now)
    }

    /// The fence could not be armed: the unit is not started here, and one that runs is stopped once its
    /// fence lapses (fail safe); tried again a little later.
    public mutating func onFenceFailed(unit: String, reason: String, now: Duration) -> [Action] {
        tracks[unit]?.fenceAskedAt = nil
        tracks[unit]?.fenceError = reason
        tracks[unit]?.fenceRetryAt = now + .seconds(2)
        return plan(now: now)
    }

    /// A probe with `restart: true` has failed `fall` times on a unit this node runs: restart it, counted as a
    /// failure of the unit, so the same backoff applies as to a unit that crashes (the probe asks again while
    /// it keeps failing; asks inside the backoff are ignored). A unit the document does not run here, one
    /// with a job under way, or one given up on as degraded is left alone.
    public mutating func onProbeFailing(unit name: String, reason: String, now: Duration) -> [Action] {
        guard wantsUp(name, now: now), let seen = observed[name], seen.isUp else { return [] }
        var track = tracks[name] ?? Track()
        track.probeFailure = reason
        defer { tracks[name] = track }
        guard !track.jobInFlight, !track.awaitingState, track.failures < backoff.attempts else { return [] }
        if let retryAt = track.retryAt, retryAt > now { return [] }
        countFailure(&track, now: now)
        track.jobInFlight = true
        track.attemptOpen = true
        track.upSinceStart = false
        track.upSince = nil
        return [.restart(name)]
    }

    /// The unit's probe passes again.
    public mutating func onProbeHealthy(unit name: String, now: Duration) -> [Action] {
        tracks[name]?.probeFailure = nil
        return []
    }

    // MARK: planning

    /// The units this node must manage: every unit of its roles, with the role it came from and the nodes
    /// the document gives that role.
    private var managed: [(unit: UnitSpec, role: String, roleNodes: [String])] {
        guard let document else { return [] }
        var seen: Set<String> = []
        var result: [(unit: UnitSpec, role: String, roleNodes: [String])] = []
        for role in document.roles(of: node) {
            let roleNodes = document.nodes.filter { $0.roles.contains(role) }.map(\.name)
            for unit in document.role(named: role)?.units ?? [] where seen.insert(unit.name).inserted {
                result.append((unit, role, roleNodes))
            }
        }
        return result
    }

    /// The unit's `wait_for:` conditions that do not hold now (empty: it may be started).
    private func unmet(_ unit: UnitSpec) -> [WaitCondition] {
        guard !unit.waitFor.isEmpty, let document else { return [] }
        return WaitConditions.unmet(unit.waitFor, node: node, document: document,
                                    inputs: WaitConditions.Inputs(members: members, secrets: secrets, files: presentFiles))
    }

    /// The paths `wait_for: file` asks of units that should run here and are not up: the shell looks at them
    /// (and only while there are some) and answers with onFiles.
    public func awaitedFiles(now: Duration) -> Set<String> {
        var paths: Set<String> = []
        for (unit, _, roleNodes) in managed where observed[unit.name]?.isUp != true && shouldRun(unit, roleNodes: roleNodes, now: now) {
            for case .file(let path) in unit.waitFor { paths.insert(path) }
        }
        return paths
    }

    private func wantsUp(_ name: String, now: Duration) -> Bool {
        guard let entry = managed.first(where: { $0.unit.name == name }) else { return false }
        return shouldRun(entry.unit, roleNodes: entry.roleNodes, now: now)
    }

    private func shouldRun(_ unit: UnitSpec, roleNodes: [String], now: Duration) -> Bool {
        UnitPlacement.shouldRun(unit, roleNodes: roleNodes, node: node, heldVIPs: heldVIPs, members: members,
                                lease: singletonTiming.lease, now: now)
    }

    /// A `one` unit this node has just become the one to run: when it may start it. A role of one node has
    /// nobody else who could be running it; the home node with fresh proof that nobody else runs it or is about
    /// to starts at once (SingletonFastStart.swift).
    private func takeoverAt(_ unit: UnitSpec, roleNodes: [String], _ track: Track, now: Duration) -> Duration? {
        guard case .one = unit.placement, roleNodes.count > 1, let since = track.runnerSince else { return nil }
        if let members, let document,
           SingletonFastStart.mayStartAtOnce(unit: unit.name, roleNodes: roleNodes, node: node, generation: document.generation,
                                             view: members, timing: singletonTiming, now: now) {
            return nil
        }
        return since + singletonTiming.takeoverDelay
    }

    /// What this board claims of its `one` units, for gossip's "oc" (SingletonFastStart.swift): those up or not
    /// known down here, with a job under way, or whose runner this board is. nil until each has been read.
    public var singletonClaims: SingletonClaims? {
        guard let document else { return nil }
        var claimed: [String] = []
        for (unit, _, _) in managed where unit.placement == .one {
            guard let seen = observed[unit.name] else { return nil }
            let track = tracks[unit.name] ?? Track()
            if track.runnerSince != nil || !seen.isDown || seen.hasJob || track.jobInFlight || track.awaitingState || track.fenceLapsed {
                claimed.append(unit.name)
            }
        }
        return SingletonClaims(generation: document.generation, units: claimed)
    }

    /// The fence of a `one` unit this board may run (SingletonFence.swift): lapsed, re-armed, removed.
    private func fence(_ track: inout Track, unit: String, roleNodes: [String], up: Bool, seen: ObservedUnit,
                       now: Duration, actions: inout [Action], nextWake: inout Duration?) {
        let timing = fenceTiming
        if let until = track.fenceUntil, now >= until {
            // This board may have lost the unit meanwhile (the agent frozen or starved past the fence): stop
            // any copy, and as the runner wait the takeover delay again, like a board that has just become it.
            track.fenceUntil = nil
            track.fenceLapsed = !seen.isDown
            if up { track.runnerSince = now }
        }
        if up {
            guard track.fenceAskedAt == nil else { return }
            if let retryAt = track.fenceRetryAt, retryAt > now {
                nextWake = min(nextWake ?? retryAt, retryAt)
            } else if SingletonFence.rearmDue(armedUntil: track.fenceUntil, now: now, timing: timing) {
                let lapse = members.flatMap {
                    SingletonPlacement.majorityLapse(roleNodes: roleNodes, node: node, view: $0, lease: singletonTiming.lease, now: now)
                }
                // Not armed beyond the time this board's majority could lapse: the next plan (news) tries again.
                if SingletonFence.mayArm(majorityLapse: lapse, now: now, timing: timing) {
                    track.fenceAskedAt = now
                    actions.append(.armFence(unit: unit, timing: timing))
                }
            }
            if let until = track.fenceUntil {
                // Due and not armed (the majority too close to lapsing): look again shortly, not in a loop.
                let due = until - timing.rearmWithin
                let wake = due > now ? due : min(until, now + .milliseconds(500))
                nextWake = min(nextWake ?? wake, wake)
            }
        } else if seen.isDown && (track.fenceUntil != nil || track.fenceMayExist) && track.fenceAskedAt == nil {
            track.fenceUntil = nil
            track.fenceMayExist = false
            track.fenceError = nil
            actions.append(.removeFence(unit: unit))
        } else if let until = track.fenceUntil {
            // Being stopped here: the fence stays, and is forgotten when it lapses.
            nextWake = min(nextWake ?? until, until)
        }
    }

    private mutating func countFailure(_ track: inout Track, now: Duration) {
        track.attemptOpen = false
        track.failures += 1
        if track.failures < backoff.attempts {
            track.retryAt = now + backoff.delay(afterFailures: track.failures, using: &random)
        }
    }

    private mutating func plan(now: Duration) -> [Action] {
        lastPlanAt = now
        var actions: [Action] = []
        var toEnable: [String] = []
        var toDisable: [String] = []
        var nextWake: Duration?
        var fenced: Set<String> = []
        for (unit, _, roleNodes) in managed {
            guard let seen = observed[unit.name], seen.loadState == "loaded" else { continue }
            var track = tracks[unit.name] ?? Track()
            // Up for a while with no probe complaining: recovered.
            if let since = track.upSince, now - since >= backoff.stableAfter, track.probeFailure == nil {
                track.failures = 0
                track.attemptOpen = false
            }
            let up = shouldRun(unit, roleNodes: roleNodes, now: now)
            // A `one` unit before gossip has said who is alive (an agent just started): neither started nor
            // stopped, so a restarted agent does not stop the unit it runs while it rejoins.
            let undecided = unit.placement == .one && members == nil
            if case .one = unit.placement {
                track.runnerSince = up ? (track.runnerSince ?? now) : nil
                if roleNodes.count > 1 && !undecided {
                    fenced.insert(unit.name)
                    fence(&track, unit: unit.name, roleNodes: roleNodes, up: up, seen: seen, now: now,
                          actions: &actions, nextWake: &nextWake)
                }
                // Plan again when the majority could lapse for lack of news, even if gossip says nothing new.
                if up, let members, let lapse = SingletonPlacement.nextLapse(roleNodes: roleNodes, node: node, view: members,
                                                                         lease: singletonTiming.lease, now: now) {
                    nextWake = min(nextWake ?? lapse, lapse)
                }
            }

            if !track.jobInFlight && !track.awaitingState && !undecided {
                if track.fenceLapsed && !seen.isDown {
                    actions.append(.stop(unit.name))
                    track.jobInFlight = true
                    track.fenceLapsed = false
                } else if up && !seen.isUp && seen.activeState != "activating" {
                    if !unmet(unit).isEmpty {
                        // wait_for: not started until its conditions hold; the news that makes them hold (members,
                        // secrets, files) plans again. A unit that is up is never stopped for them.
                    } else if let takeoverAt = takeoverAt(unit, roleNodes: roleNodes, track, now: now), takeoverAt > now {
                        // Newly the runner: the board that ran it until now may not have stopped yet.
                        nextWake = min(nextWake ?? takeoverAt, takeoverAt)
                    } else if track.failures >= backoff.attempts {
                        // Degraded: left alone until a new document or the unit comes up by itself.
                    } else if let retryAt = track.retryAt, retryAt > now {
                        nextWake = min(nextWake ?? retryAt, retryAt)
                    } else if fenced.contains(unit.name) && track.fenceUntil.map({ $0 <= now }) ?? true {
                        // Not started without an armed fence: the arm asked for above comes back with a plan.
                    } else if seen.hasJob {
                        // Another caller's job is under way (a managed file's try-restart stops the unit first): its
                        // end (JobRemoved) brings a fresh read. Starting now would take the restart's stop for drift,
                        // and the StartUnit would only merge into that job.
                    } else {
                        if seen.activeState == "failed" { actions.append(.resetFailed(unit.name)) }
                        actions.append(.start(unit.name))
                        track.jobInFlight = true
                        track.attemptOpen = true
                        track.upSinceStart = false
                        track.retryAt = nil
                    }
                } else if !up && !seen.isDown {
                    actions.append(.stop(unit.name))
                    track.jobInFlight = true
                }
            }
            if let enabled = unit.enabled, !track.enableInFlight, !track.awaitingFileState, seen.unitFileState != "masked" {
                if enabled && !seen.isEnabled {
                    toEnable.append(unit.name)
                    track.enableInFlight = true
                } else if !enabled && seen.unitFileState == "enabled" {
                    toDisable.append(unit.name)
                    track.enableInFlight = true
                }
            }
            tracks[unit.name] = track
        }
        // A fence of a unit that is no longer a `one` unit of this board's roles: it would stop a unit the
        // document no longer gives this agent to manage.
        for (name, track) in tracks where track.fenceUntil != nil && !fenced.contains(name) {
            tracks[name]?.fenceUntil = nil
            tracks[name]?.fenceMayExist = false
            actions.append(.removeFence(unit: name))
        }
        if !toEnable.isEmpty { actions.append(.enable(toEnable)) }
        if !toDisable.isEmpty { actions.append(.disable(toDisable)) }
        if let nextWake { actions.append(.wakeUp(at: nextWake)) }
        return actions
    }

    // MARK: reporting

    public enum Convergence: String, Sendable, Equatable { case converged, converging, degraded }

    public struct UnitReport: Sendable, Equatable {
        public var name: String
        /// running or stopped, after placement.
        public var desired: String
        /// systemd's ActiveState, or "unknown" before the first read.
        public var active: String
        public var state: Convergence
        public var reason: String?
        /// `wait_for:` conditions that keep it from starting (their texts), while they do.
        public var waitingFor: [String] = []
        /// The boards of its role whose serial restarts its own restart waits for (SerialTurnReport).
        public var waitingForTurn: [String] = []
    }

    public func report(now: Duration) -> (state: Convergence, units: [UnitReport]) {
        var units: [UnitReport] = []
        for (unit, role, roleNodes) in managed {
            let up = shouldRun(unit, roleNodes: roleNodes, now: now)
            let desired = up ? "running" : "stopped"
            guard let seen = observed[unit.name] else {
                units.append(UnitReport(name: unit.name, desired: desired, active: "unknown", state: .converging, reason: "not read yet"))
                continue
            }
            let track = tracks[unit.name] ?? Track()
            var state = Convergence.converged
            var reason: String?
            let waiting = up && !seen.isUp && !track.jobInFlight ? unmet(unit).map(\.text) : []
            let fenceFails = up && unit.placement == .one && roleNodes.count > 1 && !seen.isUp ? tracks[unit.name]?.fenceError : nil
            if seen.loadState != "loaded" {
                state = .degraded
                reason = seen.loadState == "not-found" ? "no such unit on this node" : "unit is \(seen.loadState)"
            } else if let fenceFails {
                state = .degraded
                reason = "its fence cannot be armed (\(fenceFails)): not run here until it can"
            } else if up && !seen.isUp && track.failures >= backoff.attempts {
                state = .degraded
                reason = "failed \(track.failures) times in a row (systemd result: \(seen.result)); not retried until it changes"
            } else if let probeFailure = track.probeFailure, up && seen.isUp {
                state = track.failures >= backoff.attempts ? .degraded : .converging
                reason = track.failures >= backoff.attempts
                    ? "restarted \(track.failures) times, its probe still fails (\(probeFailure)); not restarted again until it changes"
                    : "its probe fails (\(probeFailure)); restarted \(track.failures) times"
            } else if !waiting.isEmpty {
                // Not degraded: the bring-up order holds it back, and it starts once the conditions hold.
                state = .converging
                reason = "waiting: \(waiting.joined(separator: ", "))"
            } else if unit.placement == .one && members == nil {
                state = .converging
                reason = "waits for gossip's view of role \(role)"
            } else if up != seen.isUp || track.jobInFlight {
                state = .converging
                if let retryAt = track.retryAt, retryAt > now {
                    reason = "failed \(track.failures) times (\(seen.result)); retry in \(DurationText.format(retryAt - now))"
                } else if up, !seen.isUp, let takeoverAt = takeoverAt(unit, roleNodes: roleNodes, track, now: now), takeoverAt > now {
                    reason = "takes over in \(DurationText.format(takeoverAt - now)): the board that ran it must stop first"
                }
            } else if let enabled = unit.enabled, enabled != seen.isEnabled, seen.unitFileState != "static" {
                state = .converging
                reason = enabled ? "not enabled yet" : "not disabled yet"
            }
            if reason == nil, case .one = unit.placement, unit.state == .running, let members,
               !SingletonPlacement.hasMajority(roleNodes: roleNodes, node: node, view: members, lease: singletonTiming.lease, now: now) {
                let alive = SingletonPlacement.aliveCount(roleNodes: roleNodes, node: node, view: members, lease: singletonTiming.lease, now: now)
                reason = "no majority of role \(role): \(alive) of its \(roleNodes.count) nodes alive and heard from here (a partition?); runs only on the side that has one"
            }
            units.append(UnitReport(name: unit.name, desired: desired, active: seen.activeState, state: state, reason: reason, waitingFor: waiting))
        }
        let overall: Convergence = units.contains { $0.state == .degraded } ? .degraded
            : units.contains { $0.state == .converging } ? .converging : .converged
        return (overall, units)
    }
}
