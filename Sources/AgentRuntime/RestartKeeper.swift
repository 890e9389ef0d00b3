// hcctl restart on this board, both sides: as the board where it was typed, a RestartRoll asks boards through
// this board's gossip metadata ("rq") and streams its progress to hcctl; as an asked board (this one included),
// RestartOrders acts on each request once (ids kept in state_dir/restarts), hands its VIPs over first and
// restarts the units over sd-bus, reporting in its metadata ("rd"). The rules are in the cores; this carries out.
import Gossip
import HomecloudSchema
import HomecloudYAML
import Logging
import PartWiring
import Reconciler
import PartLifecycle
import Synchronization
import VRRP

public final class RestartKeeper: Service, Sendable {
    /// What it follows (gossip, VRRP, the reconciler, the document) and what it publishes (its metadata).
    public struct Channels: Sendable {
        public var documents: LatestValue<AcceptedDocument>
        public var members: LatestValue<[MemberStatus]>
        public var held: LatestValue<Set<String>>
        public var units: LatestValue<ReconcilerService.UnitsReport>
        public var outgoing: LatestValue<RestartMetadata>
        public var asked: LatestValue<[RestartAsk]>
        public var reports: LatestValue<[String: RestartReport]>

        public init(documents: LatestValue<AcceptedDocument>, members: LatestValue<[MemberStatus]>, held: LatestValue<Set<String>>,
                    units: LatestValue<ReconcilerService.UnitsReport>, outgoing: LatestValue<RestartMetadata>,
                    asked: LatestValue<[RestartAsk]>, reports: LatestValue<[String: RestartReport]>) {
            self.documents = documents
            self.members = members
            self.held = held
            self.units = units
            self.outgoing = outgoing
            self.asked = asked
            self.reports = reports
        }
    }

    /// Each board's time to be done when hcctl restart gives no --timeout.
    public static let defaultTimeout = Duration.seconds(120)
    /// How long one unit may take to be active again after its restart, on the asked board.
    static let unitLimit = Duration.seconds(110)
    /// The clock's step while a roll coordinated here runs (its boards' deadlines, hcctl's progress).
    static let tick = Duration.milliseconds(250)

    private struct State: Sendable {
        var orders: RestartOrders
        var roll: RestartRoll?
        /// The roll's target as typed and how many boards it asks in all (for hcctl status).
        var rollTarget = ""
        var rollTotal = 0
        var progress: AsyncStream<ControlReply>.Continuation?
        var replyID: Int?
        var metadata = RestartMetadata()
    }

    private enum Work: Sendable {
        case handOver(vips: [String], to: String?)
        case restart(id: String, units: [String])
    }

    let node: String
    let path: String
    let channels: Channels
    let vrrp: VRRPHandle
    let reconciler: ReconcilerHandle
    let logger: Logger
    private let state: Mutex<State>
    /// The armed timer and when it fires (armClock).
    private let clock = Mutex<(task: Task<Void, Never>?, due: Duration?)>((nil, nil))
    private let work: AsyncStream<Work>
    private let workSink: AsyncStream<Work>.Continuation
    private let origin = ContinuousClock.now

    public init(node: String, stateDir: String, channels: Channels, vrrp: VRRPHandle, reconciler: ReconcilerHandle, logger: Logger) {
        self.node = node
        path = stateDir + "/restarts"
        self.channels = channels
        self.vrrp = vrrp
        self.reconciler = reconciler
        self.logger = logger
        // The ids this board acted on before the agent restarted: not acted on again.
        let kept = ((try? TextFile.read(stateDir + "/restarts")) ?? "").split(whereSeparator: \.isNewline).map(String.init)
        state = Mutex(State(orders: RestartOrders(node: node, actedOn: kept)))
        (work, workSink) = AsyncStream.makeStream(of: Work.self)
    }

    private var now: Duration { ContinuousClock.now - origin }

    /// hcctl restart TARGET [--rolling]: the first reply and the progress replies after it (the stream ends with
    /// the roll: its last reply is ok when every board is done, an error naming the failed board otherwise).
    public func start(target: String, rolling: Bool, timeout: Duration?, id replyID: Int?) -> (ControlReply, AsyncStream<ControlReply>) {
        let (stream, sink) = AsyncStream.makeStream(of: ControlReply.self, bufferingPolicy: .bufferingNewest(256))
        func refuse(_ message: String) -> (ControlReply, AsyncStream<ControlReply>) {
            sink.finish()
            var refusal = ControlReply.failure(ControlError(.failed, message), id: replyID)
            refusal.last = true
            return (refusal, stream)
        }
        guard let document = channels.documents.value?.document else { return refuse("no document in force on this board") }
        guard let (units, boards) = RestartTarget.resolve(target, in: document) else {
            return refuse("\(target) is neither a role nor a unit of the document in force (generation \(document.generation))")
        }
        let members = channels.members.value ?? []
        let alive = boards.filter { board in board == node || members.contains { $0.name == board && $0.state == "alive" } }
        let skipped = boards.filter { !alive.contains($0) }
        let id = "\(node.prefix(12))-\(String(UInt32.random(in: 0 ... .max), radix: 36))"
        let view = boardsView()
        let time = now
        let actions: [RestartRoll.Action]? = state.withLock { state in
            if let roll = state.roll, !roll.isFinished { return nil }
            var roll = RestartRoll(id: id, units: units, boards: alive, rolling: rolling, timeout: timeout ?? Self.defaultTimeout)
            let actions = roll.onStart(boards: view, now: time)
            state.roll = roll
            state.rollTarget = target
            state.rollTotal = alive.count
            state.progress = sink
            state.replyID = replyID
            return actions
        }
        guard let actions else { return refuse("a restart coordinated by this board is under way (see the journal); wait for it to end") }
        // hcctl interrupted (its connection closed before the verdict): the roll stops after the board asked now.
        sink.onTermination = { [weak self] _ in self?.cancelRoll(id: id) }
        logger.notice("hcctl restart \(target)\(rolling ? " --rolling" : ""): restart \(id) of \(units.joined(separator: ", ")) on \(alive.joined(separator: ", "))")
        let first = skipped.isEmpty ? "restart \(id)" : "restart \(id); not alive, skipped: \(skipped.joined(separator: ", "))"
        carryOut(actions)
        return (.success(id: replyID, message: first), stream)
    }

    public func run() async throws {
        let channels = self.channels, work = self.work
        await withDiscardingTaskGroup { group in
            group.addTask { for await _ in channels.asked.follow() { self.stepOrders() } }
            group.addTask { for await _ in channels.units.follow() { self.stepOrders() } }
            group.addTask { for await held in channels.held.follow() { self.onHeld(held) } }
            group.addTask { for await _ in channels.members.follow() { self.stepRoll() } }
            group.addTask { for await _ in channels.reports.follow() { self.stepRoll() } }
            group.addTask { for await item in work { await self.perform(item) } }
            await cancelWhenGracefulShutdown {
                await withTaskCancellationHandler {
                    // The clock is armed only while a core waits on it (armClock); an idle board sleeps here.
                    while (try? await Task.sleep(for: .seconds(86_400))) != nil {}
                } onCancel: {
                    self.clock.withLock { $0.task?.cancel() }
                }
            }
            // A roll coordinated here ends with the agent: nothing further is asked, hcctl hears why.
            let sink = self.state.withLock { state -> AsyncStream<ControlReply>.Continuation? in
                defer { state.progress = nil }
                return state.progress
            }
            var verdict = ControlReply.failure(ControlError(.failed, "the agent is stopping: the roll stops here"))
            verdict.last = true
            sink?.yield(verdict)
            sink?.finish()
            self.workSink.finish()
            group.cancelAll()
        }
    }

    /// For hcctl status: the roll this board coordinates, else the restart it carries out; nil: neither.
    public func status() -> RestartStatus? {
        state.withLock { state in
            if let roll = state.roll, !roll.isFinished {
                return .coordinating(id: roll.id, target: state.rollTarget, units: roll.units, rolling: roll.rolling,
                                     boards: roll.current, done: roll.done.count, total: state.rollTotal)
            }
            guard let run = state.orders.underWay else { return nil }
            return .restarting(id: run.id, by: run.by, units: run.units, handingOver: run.handingOver)
        }
    }

    // MARK: the coordinating side

    /// Every member as the roll needs it; this board's report and VIPs from here, not from its gossip echo.
    private func boardsView() -> [String: RestartRoll.Board] {
        let reports = channels.reports.value ?? [:]
        var view: [String: RestartRoll.Board] = [:]
        for member in channels.members.value ?? [] {
            view[member.name] = RestartRoll.Board(reachable: member.state == "alive" || member.state == "suspect", report: reports[member.name],
                                                  failingProbes: member.failingProbes ?? [], vips: member.vips ?? [])
        }
        var own = view[node] ?? RestartRoll.Board()
        own.reachable = true
        own.report = state.withLock { $0.metadata.report }
        own.vips = (channels.held.value ?? []).sorted()
        view[node] = own
        return view
    }

    private func cancelRoll(id: String) {
        let time = now
        carryOut(state.withLock { state -> [RestartRoll.Action] in
            guard state.roll?.id == id else { return [] }
            return state.roll!.onCancel(now: time)
        })
    }

    private func stepRoll() {
        let view = boardsView()
        let time = now
        let actions = state.withLock { state -> [RestartRoll.Action] in
            guard state.roll != nil else { return [] }
            return state.roll!.onBoards(view, now: time)
        }
        carryOut(actions)
    }

    private func carryOut(_ actions: [RestartRoll.Action]) {
        defer { if !actions.isEmpty { armClock() } }
        var askedHere = false
        for action in actions {
            switch action {
            case .publish(let request):
                let metadata = state.withLock { state in
                    state.metadata.request = request
                    return state.metadata
                }
                channels.outgoing.publishIfChanged(metadata)
                if request?.nodes.contains(node) == true { askedHere = true }
            case .progress(let line):
                logger.info("restart: \(line)")
                let (sink, id) = state.withLock { ($0.progress, $0.replyID) }
                sink?.yield(.success(id: id, message: line))
            case .finished(let ok, let line):
                if ok { logger.notice("restart: \(line)") } else { logger.warning("restart: \(line)") }
                let (sink, id) = state.withLock { state in
                    defer { state.progress = nil }
                    return (state.progress, state.replyID)
                }
                var verdict: ControlReply = ok ? .success(id: id, message: line) : .failure(ControlError(.failed, line), id: id)
                verdict.last = true
                sink?.yield(verdict)
                sink?.finish()
            }
        }
        if askedHere { stepOrders() }
    }

    // MARK: the asked side

    /// The requests of others and this board's own (when its turn comes).
    private func stepOrders() {
        var asks = channels.asked.value ?? []
        let own = state.withLock { $0.metadata.request }
        if let own, own.nodes.contains(node) { asks.insert(RestartAsk(by: node, request: own), at: 0) }
        guard !asks.isEmpty else { return }
        let held = channels.held.value ?? []
        let units = channels.units.value?.units
        let document = channels.documents.value?.document
        let node = self.node
        let time = now
        // A unit runs here when the reconciler wants it running (placement applied); without the reconciler's
        // report, when the document places it on every board with its role.
        let ours = { (request: RestartRequest) -> [String] in
            request.units.filter { name in
                if let units { return units.contains { $0.name == name && $0.desired == "running" } }
                guard let document else { return false }
                return UnitsForNode.units(of: node, in: document).contains { $0.name == name && $0.placement == .all && $0.state == .running }
            }
        }
        let actions = state.withLock { $0.orders.onAsked(asks, units: ours, held: held, now: time) }
        carryOut(actions)
    }

    private func onHeld(_ held: Set<String>) {
        let time = now
        carryOut(state.withLock { $0.orders.onHeld(held, now: time) })
        stepRoll()
    }

    private func onTick() {
        let time = now
        carryOut(state.withLock { $0.orders.onTick(now: time) })
        carryOut(state.withLock { state -> [RestartRoll.Action] in
            guard state.roll != nil else { return [] }
            return state.roll!.onTick(now: time)
        })
        armClock()
    }

    /// One timer, at the earliest moment a core needs the clock: every tick while a roll coordinated here runs,
    /// else the asked side's next deadline (a hand-over window, a final report's trim); none, no timer. (A timer
    /// every tick for the agent's life woke an idle board four times a second.)
    private func armClock() {
        let time = now
        let due: Duration? = state.withLock { state in
            var due = state.orders.nextDeadline
            if let roll = state.roll, !roll.isFinished { due = min(due ?? time + Self.tick, time + Self.tick) }
            return due
        }
        clock.withLock { clock in
            if let due, clock.task != nil, let armed = clock.due, armed <= due { return }
            clock.task?.cancel()
            guard let due else {
                clock = (nil, nil)
                return
            }
            let delay = max(due - time, .zero) + .milliseconds(1)
            clock = (Task { [weak self] in
                guard (try? await Task.sleep(for: delay)) != nil, let self else { return }
                self.clock.withLock { clock in if clock.due == due { clock = (nil, nil) } }
                self.onTick()
            }, due)
        }
    }

    private func carryOut(_ actions: [RestartOrders.Action]) {
        defer { if !actions.isEmpty { armClock() } }
        for action in actions {
            switch action {
            case .remember(let ids):
                do {
                    try TextFile.writeAtomically(path, ids.map { $0 + "\n" }.joined())
                } catch {
                    logger.warning("cannot keep the restart ids in \(path) (\(error.reason)): a restart of the agent would forget them")
                }
            case .report(let report):
                let metadata = state.withLock { state in
                    state.metadata.report = report
                    return state.metadata
                }
                channels.outgoing.publishIfChanged(metadata)
                stepRoll()
            case .clearReport:
                let metadata = state.withLock { state in
                    state.metadata.report = nil
                    return state.metadata
                }
                channels.outgoing.publishIfChanged(metadata)
            case .handOver(let vips, let successor):
                workSink.yield(.handOver(vips: vips, to: successor))
            case .restart(let id, let units):
                workSink.yield(.restart(id: id, units: units))
            case .log(let line):
                logger.notice("restart: \(line)")
            }
        }
    }

    private func perform(_ item: Work) async {
        switch item {
        case .handOver(let vips, let successor):
            for vip in vips {
                var outcome = await vrrp.handover(vip: vip, to: successor)
                // A successor that cannot be asked (gone meanwhile): whichever board the election picks.
                if case .failure = outcome, successor != nil { outcome = await vrrp.handover(vip: vip, to: nil) }
                if case .failure(let error) = outcome { logger.warning("restart: cannot hand \(vip) over: \(error.message)") }
            }
            // Already handed over (the held VIPs changed before the request was made) counts at once.
            onHeld(channels.held.value ?? [])
        case .restart(let id, let units):
            var failure: String?
            for unit in units {
                failure = await reconciler.restart(unit, within: Self.unitLimit)
                if failure != nil { break }
            }
            let time = now
            carryOut(state.withLock { $0.orders.onRestarted(id: id, failure: failure, now: time) })
        }
    }
}
