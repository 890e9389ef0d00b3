// Runs the reconcile planner against the board's systemd: feeds it documents, unit states and job results over
// sd-bus, carries out its steps, and publishes what it sees for hcctl status and gossip.
import HomecloudSchema
import Logging
import Metrics
import PartWiring
import Reactor
import PartLifecycle
import Synchronization

public struct ReconcilerService: Service {
    /// What the reconciler follows and what it publishes; made and connected by the agent.
    public struct Channels: Sendable {
        public var documents: LatestValue<AcceptedDocument>
        /// The VIPs this node holds (VRRP): `vip:NAME` units follow them.
        public var heldVIPs: LatestValue<Set<String>>
        /// Gossip's members and their states: `one` units run on one node of their role, on the side of a
        /// split that sees a majority of it.
        public var memberView: LatestValue<MemberView>
        /// Probes' restart asks (events, not a state: each ask counts).
        public var unitHealth: AsyncStream<UnitHealthReport>
        /// This node's units as hcctl shows them, and its convergence (for gossip's metadata and the status line).
        public var units: LatestValue<UnitsReport>
        public var convergence: LatestValue<ReconcileCore.Convergence>
        /// The generation this board's serial restarts are finished for (SerialRestarts), for gossip's "sr".
        public var serialDone = LatestValue<UInt64?>(nil)
        /// This board's claims on its `placement: one` units (ReconcileCore.singletonClaims), for gossip's "oc".
        public var singletonClaims = LatestValue<SingletonClaims?>(nil)
        /// The shared secrets this board holds (gossip): templates print them, `wait_for: secret` waits for them.
        public var secrets = LatestValue<SharedSecretValues>(SharedSecretValues())
        /// The per-board facts known of the document's boards (gossip): templates print them (`N.facts.NAME`).
        public var facts = LatestValue<NodeFactValues>(NodeFactValues())

        public init(documents: LatestValue<AcceptedDocument>, heldVIPs: LatestValue<Set<String>>, memberView: LatestValue<MemberView>,
                    unitHealth: AsyncStream<UnitHealthReport>, units: LatestValue<UnitsReport>, convergence: LatestValue<ReconcileCore.Convergence>) {
            self.documents = documents
            self.heldVIPs = heldVIPs
            self.memberView = memberView
            self.unitHealth = unitHealth
            self.units = units
            self.convergence = convergence
        }
    }

    /// The reconciler's view of this node's units, for hcctl status.
    public struct UnitsReport: Sendable, Equatable {
        public var convergence: ReconcileCore.Convergence
        public var units: [UnitStatus]
        /// This board's managed files (empty when the document gives it none).
        public var files: [FileStatus] = []
    }

    let node: String
    /// This board's IP as agent.yaml gives it (templates' `{{ address }}`); nil when it binds a wildcard.
    let address: String?
    let channels: Channels
    let problems: PartProblems
    let logger: Logger
    /// The bus once run() has connected it; `unit` probes read through it.
    let connection = BusConnection()
    let inputs: AsyncStream<Input>
    let sink: AsyncStream<Input>.Continuation
    /// hcctl plan and `unit` probes reach the reconciler through this.
    public let handle: ReconcilerHandle

    /// The reconciler connects to systemd when it runs; without it, it stays off (the rest of the agent still serves).
    public init(node: String, address: String? = nil, channels: Channels, problems: PartProblems, logger: Logger) {
        self.node = node
        self.address = address
        self.channels = channels
        self.problems = problems
        self.logger = logger
        (inputs, sink) = AsyncStream.makeStream(of: Input.self)
        handle = ReconcilerHandle(connection: connection, sink: sink)
    }

    enum Input: Sendable {
        case document(DesiredState)
        case vips(Set<String>)
        case members(MemberView)
        case bus(SystemdBus.Event)
        case timer
        /// Read the managed files again (drift), on the files' own timer.
        case filesTimer
        /// hcctl plan: the steps a document would cause here, from a copy of the planner.
        case plan(DesiredState, CheckedContinuation<[String]?, Never>)
        /// A probe's verdict on a unit it may restart.
        case probe(UnitHealthReport)
        /// The shared secrets this board holds changed (one arrived, or a new value).
        case secrets(SharedSecretValues)
        /// The per-board facts known changed (a board published one, or a new value).
        case facts(NodeFactValues)
        /// Look again at the files units wait for (WaitForFiles.swift).
        case awaitedFilesTimer
    }

    public func run() async throws {
        let bus: SystemdBus
        do {
            bus = try await SystemdBus.connect()
        } catch {
            // Without systemd (a container without it, a laptop) the rest of the agent still serves; while
            // the document gives this board units, that is a problem in status.
            let reason = "reconciler off: \(error): this board's units are not started or stopped"
            logger.warning("\(reason)")
            let node = self.node, problems = self.problems
            let documents = channels.documents.follow()
            // No planner here: plans asked meanwhile, and later ones, get no steps.
            sink.finish()
            for await input in inputs { if case .plan(_, let answer) = input { answer.resume(returning: nil) } }
            await cancelWhenGracefulShutdown {
                for await accepted in documents {
                    if UnitsForNode.units(of: node, in: accepted.document).isEmpty {
                        problems.clear("reconciler")
                    } else {
                        problems.report("reconciler", reason, alreadyLogged: true)
                    }
                }
            }
            return
        }
        connection.bus = bus
        defer {
            connection.bus = nil
            bus.close()
        }
        let channels = self.channels, sink = self.sink, inputs = self.inputs
        let documents = channels.documents.follow()
        let held = channels.heldVIPs.follow()
        let memberViews = channels.memberView.follow()
        let secretValues = channels.secrets.follow()
        let factValues = channels.facts.follow()
        let driver = ReconcileDriver(node: node, address: address, bus: bus, channels: channels, sink: sink, problems: problems, logger: logger)

        await withDiscardingTaskGroup { group in
            group.addTask { for await accepted in documents { sink.yield(.document(accepted.document)) } }
            group.addTask { for await event in bus.events { sink.yield(.bus(event)) } }
            group.addTask { for await names in held { sink.yield(.vips(names)) } }
            group.addTask { for await view in memberViews { sink.yield(.members(view)) } }
            group.addTask { for await report in channels.unitHealth { sink.yield(.probe(report)) } }
            group.addTask { for await values in secretValues { sink.yield(.secrets(values)) } }
            group.addTask { for await values in factValues { sink.yield(.facts(values)) } }
            await withGracefulShutdownHandler {
                for await input in inputs { await driver.step(input) }
            } onGracefulShutdown: {
                sink.finish()
            }
            group.cancelAll()
        }
    }
}

/// What other parts may ask of the reconciler: a dry run for hcctl plan, a unit's ActiveState for `unit` probes.
/// Made with the service; a reconciler without systemd answers nil.
public struct ReconcilerHandle: Sendable {
    let connection: BusConnection?
    private let sink: AsyncStream<ReconcilerService.Input>.Continuation?

    init(connection: BusConnection, sink: AsyncStream<ReconcilerService.Input>.Continuation) {
        self.connection = connection
        self.sink = sink
    }

    /// A handle of a reconciler that does not run (tests of the control commands).
    public static let notRunning = ReconcilerHandle()
    private init() {
        connection = nil
        sink = nil
    }

    /// The steps applying `document` would take here now; nil when the reconciler does not run here.
    public func plan(_ document: DesiredState) async -> [String]? {
        guard let sink else { return nil }
        return await withCheckedContinuation { answer in
            if case .terminated = sink.yield(.plan(document, answer)) { answer.resume(returning: nil) }
        }
    }

    /// A unit's ActiveState through the reconciler's bus; nil when unknown or while systemd is not connected.
    public func activeState(of unit: String) async -> String? {
        guard let bus = connection?.bus else { return nil }
        return (try? await bus.readUnit(unit))?.unit.activeState
    }
}

/// The reconciler's bus while it is connected (set by the service's run, read by its handle).
final class BusConnection: Sendable {
    private let current = Mutex<SystemdBus?>(nil)

    var bus: SystemdBus? {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }
}

/// The loop's state: the planner, unit paths and the backoff timer. Used by the service's own task only.
final class ReconcileDriver {
    var core: ReconcileCore
    let node: String
    let bus: SystemdBus
    let channels: ReconcilerService.Channels
    let sink: AsyncStream<ReconcilerService.Input>.Continuation
    let logger: Logger
    /// Where a fence that cannot be armed is reported (fail safe: its unit is not run here meanwhile).
    private let problems: PartProblems
    private var pathToUnit: [String: String] = [:]
    /// Each unit's ActiveState and SubState as last read, to tell a signal that changes nothing.
    private var lastRead: [String: (active: String, sub: String)] = [:]
    private var timer: Task<Void, Never>?
    /// The lease each fence timer was armed with by this agent (a restart keeps OnActiveSec: a new lease needs
    /// a new timer).
    private var fenceLeases: [String: Duration] = [:]
    /// Managed files (ManagedFilesDriver.swift): their planner, this board's address and their drift timer.
    var files: ManagedFilesCore
    /// Restarts of `serial: true` files' units, one board of the role at a time.
    var serial: SerialRestarts
    /// The boards a serial restart was last logged as waiting for (logged once per change).
    var serialWaitLogged: [String] = []
    /// The serial waits the status last showed (published again when they change).
    var serialTurnsShown: [String: SerialRestarts.TurnWait] = [:]
    /// Object paths of the units restarted serially, to follow their state changes.
    var serialPaths: [String: String] = [:]
    let address: String?
    var filesTimer: Task<Void, Never>?
    /// Looks at the files `wait_for: file` names, while some unit waits for one (WaitForFiles.swift).
    var awaitedFilesTimer: Task<Void, Never>?
    let filesWritten = Counter(label: "hcagent_files_written_total")
    let filesRefused = Counter(label: "hcagent_files_refused_total")
    /// Each file's last logged problem, so a write failing every retry is logged once.
    var fileProblemLogged: [String: String] = [:]
    private let startsCounter = Counter(label: "hcagent_reconcile_starts_total")
    private let stopsCounter = Counter(label: "hcagent_reconcile_stops_total")
    private let restartsCounter = Counter(label: "hcagent_reconcile_probe_restarts_total")
    private let failuresCounter = Counter(label: "hcagent_reconcile_failed_calls_total")
    private let unitGauges = [
        ReconcileCore.Convergence.converged, .converging, .degraded,
    ].map { ($0, Gauge(label: "hcagent_units", dimensions: [("state", $0.rawValue)])) }

    init(node: String, address: String?, bus: SystemdBus, channels: ReconcilerService.Channels, sink: AsyncStream<ReconcilerService.Input>.Continuation,
         problems: PartProblems, logger: Logger) {
        self.core = ReconcileCore(node: node, seed: UInt64.random(in: .min ... .max))
        self.files = ManagedFilesCore(node: node, lookupOwner: ManagedFileIO.lookupOwner)
        self.serial = SerialRestarts(node: node)
        self.address = address
        self.node = node
        self.bus = bus
        self.channels = channels
        self.sink = sink
        self.problems = problems
        self.logger = logger
    }

    deinit {
        timer?.cancel()
        filesTimer?.cancel()
        awaitedFilesTimer?.cancel()
    }

    func step(_ input: ReconcilerService.Input) async {
        // Whatever the step changed (a document, a unit's state), the files units wait for are looked at.
        defer { followAwaitedFiles() }
        var actions: [ReconcileCore.Action] = []
        switch input {
        case .document(let document):
            // Files first: a unit the same document starts reads its new configuration.
            files.onDocument(document, address: address)
            serial.onDocument(document)
            let notify = await syncFiles()
            actions = core.onDocument(document, now: .now)
            actions += await read(managedNames())
            actions += lookAtAwaitedFiles()
            await carryOut(actions)
            await notifyUnits(notify)
            await stepSerial()
            followFiles()
            publish()
            return
        case .filesTimer:
            // Quiet while nothing differs: syncFiles publishes when it writes.
            await notifyUnits(await syncFiles())
            if !serial.isIdle { await stepSerial() }
            return
        case .secrets(let values):
            // Units waiting for a secret may start now; only the files whose rendered bytes change (those using a
            // changed secret) are written.
            actions = core.onSecrets(Set(values.values.keys), now: .now)
            if files.onSecrets(values.values) {
                await notifyUnits(await syncFiles())
                followFiles()
            }
        case .facts(let values):
            // Only the files whose rendered bytes change (those printing a changed fact) are written.
            if files.onFacts(values) {
                await notifyUnits(await syncFiles())
                followFiles()
            }
        case .vips(let held):
            actions = core.onVIPs(held: held, now: .now)
        case .members(let view):
            actions = core.onMembers(view, now: .now)
            await stepSerial()
        case .bus(.unitChanged(let path, let activeState, let subState)):
            if let name = serialPaths[path], serial.isRestarting(name) { await serialUnitChanged(name) }
            guard let name = pathToUnit[path] else { break }
            // Loading a unit (as every read of ours does) announces its states again; when they are the ones
            // last read, nothing changed. Reading anyway kept systemd loading and unloading a stopped, disabled
            // unit for seconds (each read loads it, each load signals, the signal brought another read).
            if let activeState, let subState, let last = lastRead[name], last == (activeState, subState) { break }
            actions = await read([name])
        case .bus(.jobRemoved(let unit, let result)):
            if serial.isRestarting(unit) {
                serial.onJobDone(unit)
                await serialUnitChanged(unit)
            }
            guard managedNames().contains(unit) else { break }
            actions = core.onJobDone(unit: unit, result: ReconcileCore.JobResult(rawValue: result) ?? .failed, now: .now)
            actions += await read([unit])
        case .bus(.unitFilesChanged):
            actions = await read(managedNames())
        case .timer:
            actions = core.onTimer(now: .now)
        case .probe(.failing(let unit, let reason)):
            actions = core.onProbeFailing(unit: unit, reason: reason, now: .now)
            if actions.isEmpty { logger.info("\(unit): its probe fails (\(reason)); not restarted now (backoff, a job under way, or not run here)") }
        case .probe(.healthy(let unit)):
            actions = core.onProbeHealthy(unit: unit, now: .now)
        case .awaitedFilesTimer:
            // Quiet while nothing appeared or went: the report changes only with the files present.
            let before = core.presentFiles
            actions = lookAtAwaitedFiles()
            if core.presentFiles == before { return }
        case .plan(let document, let answer):
            answer.resume(returning: await dryRun(document))
            return
        }
        await carryOut(actions)
        publish()
    }

    /// The same planner on a copy of its state: what applying `document` would do here now. Units not read
    /// yet are read (reading changes nothing).
    private func dryRun(_ document: DesiredState) async -> [String] {
        var copy = core
        var actions = copy.onDocument(document, now: .now)
        var unread: [ObservedUnit] = []
        for unit in UnitsForNode.units(of: node, in: document) where !pathToUnit.values.contains(unit.name) {
            if let (_, observed) = try? await bus.readUnit(unit.name) { unread.append(observed) }
        }
        if !unread.isEmpty { actions += copy.onUnits(unread, now: .now) }
        let unitSteps: [String] = actions.compactMap { action in
            switch action {
            case .start(let name): return "start \(name)"
            case .stop(let name): return "stop \(name)"
            case .restart(let name): return "restart \(name)"
            case .resetFailed(let name): return "reset-failed \(name)"
            case .enable(let names): return "enable \(names.joined(separator: " "))"
            case .disable(let names): return "disable \(names.joined(separator: " "))"
            case .wakeUp, .armFence, .removeFence: return nil
            }
        }
        return await fileSteps(document) + unitSteps
    }

    private func managedNames() -> [String] {
        guard let document = core.document else { return [] }
        return UnitsForNode.units(of: node, in: document).map(\.name)
    }

    /// Reads the units, then plans once: planning after each read would enable (a daemon reload each) and
    /// start the units of a new document one by one, each waiting behind the reload before it.
    private func read(_ names: [String]) async -> [ReconcileCore.Action] {
        var units: [ObservedUnit] = []
        for name in names {
            do {
                let (path, unit) = try await bus.readUnit(name)
                pathToUnit[path] = name
                lastRead[name] = (unit.activeState, unit.subState)
                units.append(unit)
            } catch {
                logger.warning("cannot read \(name): \(error)")
            }
        }
        return units.isEmpty ? [] : core.onUnits(units, now: .now)
    }

    private func carryOut(_ actions: [ReconcileCore.Action]) async {
        // Claims go out before any step is taken: a board that has just become a `one` unit's runner says so at
        // once (the fast start elsewhere relies on it being said well within the takeover delay).
        channels.singletonClaims.publishIfChanged(core.singletonClaims)
        var pending = actions
        while !pending.isEmpty {
            let action = pending.removeFirst()
            do {
                switch action {
                case .start(let name):
                    logger.info("starting \(name)")
                    startsCounter.increment()
                    try await bus.startUnit(name)
                case .stop(let name):
                    logger.info("stopping \(name)")
                    stopsCounter.increment()
                    try await bus.stopUnit(name)
                case .restart(let name):
                    logger.notice("restarting \(name): its probe fails")
                    restartsCounter.increment()
                    try await bus.restartUnit(name)
                case .resetFailed(let name):
                    try await bus.resetFailedUnit(name)
                case .enable(let names):
                    logger.info("enabling \(names.joined(separator: " "))")
                    try await bus.enableUnitFiles(names)
                    pending += core.onEnableDone(units: names, now: .now)
                    pending += await read(names)
                case .disable(let names):
                    logger.info("disabling \(names.joined(separator: " "))")
                    try await bus.disableUnitFiles(names)
                    pending += core.onEnableDone(units: names, now: .now)
                    pending += await read(names)
                case .armFence(let unit, let timing):
                    let recreate = fenceLeases[unit].map { $0 != timing.lease } ?? false
                    do {
                        try await bus.armFence(of: unit, timing: timing, recreate: recreate)
                    } catch {
                        fenceLeases[unit] = nil
                        problems.report("fence:\(unit)", "cannot arm the fence of \(unit), so it is not run here (fail safe): \(error)")
                        pending += core.onFenceFailed(unit: unit, reason: "\(error)", now: .now)
                        continue
                    }
                    if fenceLeases[unit] == nil { logger.info("fence of \(unit) armed (\(SingletonFence.timerName(for: unit)), \(DurationText.format(timing.lease)))") }
                    fenceLeases[unit] = timing.lease
                    problems.clear("fence:\(unit)", message: "the fence of \(unit) is armed again")
                    pending += core.onFenceArmed(unit: unit, now: .now)
                case .removeFence(let unit):
                    if fenceLeases.removeValue(forKey: unit) != nil { logger.info("fence of \(unit) removed") }
                    await bus.removeFence(of: unit)
                case .wakeUp(let at):
                    timer?.cancel()
                    let sink = self.sink
                    timer = Task {
                        try? await Task.sleep(until: MonotonicTime.instant(at), clock: .continuous)
                        if !Task.isCancelled { sink.yield(.timer) }
                    }
                }
            } catch {
                logger.error("\(error)")
                failuresCounter.increment()
                // A refused job ends like a failed one: the planner backs off instead of retrying at once.
                switch action {
                case .start(let name), .stop(let name), .restart(let name):
                    pending += core.onJobDone(unit: name, result: .failed, now: .now)
                case .enable(let names), .disable(let names):
                    pending += core.onEnableDone(units: names, now: .now)
                default:
                    break
                }
            }
        }
    }

    func publish() {
        let report = ReconcileCore.withSerialTurns(core.report(now: .now), serial.turnWaits)
        for (state, gauge) in unitGauges {
            gauge.record(report.units.filter { $0.state == state }.count)
        }
        channels.units.publish(ReconcilerService.UnitsReport(convergence: report.state, units: report.units.map {
            UnitStatus(name: $0.name, desired: $0.desired, active: $0.active, state: $0.state.rawValue, reason: $0.reason,
                       waitingFor: $0.waitingFor.isEmpty ? nil : $0.waitingFor, waitingForTurn: $0.waitingForTurn.isEmpty ? nil : $0.waitingForTurn)
        }, files: files.report().map {
            FileStatus(path: $0.path, role: $0.role, state: $0.state, reason: $0.reason, writes: $0.writes)
        }))
        channels.convergence.publishIfChanged(report.state)
        channels.singletonClaims.publishIfChanged(core.singletonClaims)
    }
}
