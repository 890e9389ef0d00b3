// Runs the agent's parts as one group; on SIGTERM or SIGINT stops them one at a time, last part first.
import Logging
import UnixSignals

/// Runs its services side by side. A stop (one of `signals`, or a part that ends or fails on its own) asks
/// the parts to stop gracefully in reverse order, each only after the one after it has returned, so the order
/// of `services` is the order of the stop backwards (the agent lists gossip last: the others hear it leave
/// before its VIPs move). A graceful stop that takes longer than `gracefulBudget` cancels the parts still
/// running; parts that ignore cancellation for `cancellationBudget` more are reported to `onStuck`.
public struct ServiceGroup: Sendable {
    let services: [any Service]
    let signals: [UnixSignal]
    let gracefulBudget: Duration
    let cancellationBudget: Duration
    let logger: Logger
    let onStuck: @Sendable () -> Void

    public init(services: [any Service], gracefulShutdownSignals signals: [UnixSignal], gracefulBudget: Duration,
                cancellationBudget: Duration, logger: Logger, onStuck: @escaping @Sendable () -> Void = {}) {
        self.services = services
        self.signals = signals
        self.gracefulBudget = gracefulBudget
        self.cancellationBudget = cancellationBudget
        self.logger = logger
        self.onStuck = onStuck
    }

    private enum Event: Sendable {
        case ended(Int, (any Error)?)
        case signal
        case signalsEnded
        case gracefulBudgetSpent
        case cancellationBudgetSpent
    }

    /// Returns when every part has returned; throws the first error a part ended with on its own.
    public func run() async throws {
        let stops = services.map { _ in ShutdownSignal() }
        var running = Set(services.indices)
        var firstError: (any Error)?
        let signalWatch = await UnixSignalsSequence(trapping: signals)
        await withTaskGroup(of: Event.self) { tasks in
            for (index, service) in services.enumerated() {
                tasks.addTask {
                    do {
                        try await ShutdownSignal.$current.withValue(stops[index]) { try await service.run() }
                        return .ended(index, nil)
                    } catch {
                        return .ended(index, error)
                    }
                }
            }
            // The children never throw: a cancelled one reports what it was, and the loop knows what to ignore.
            if !signals.isEmpty {
                tasks.addTask {
                    for await _ in signalWatch { return .signal }
                    return .signalsEnded  // the group is being cancelled: the stop is under way already
                }
            }
            var stopping = false
            var cancelled = false
            /// Asks the last running part to stop; returns false when none is left.
            func stopNext() -> Bool {
                guard let last = running.max() else { return false }
                stops[last].trigger()
                return true
            }
            while !running.isEmpty, let event = await tasks.next() {
                switch event {
                case .ended(let index, let error):
                    running.remove(index)
                    if let error, !(error is CancellationError), firstError == nil {
                        firstError = error
                        logger.error("part \(type(of: services[index])) failed: \(error)")
                    }
                    if !stopping {
                        // A part ended on its own: the agent is no longer whole, so stop the rest gracefully.
                        if error == nil { logger.warning("part \(type(of: services[index])) ended: stopping the agent") }
                        stopping = true
                        let budget = gracefulBudget
                        tasks.addTask { try? await Task.sleep(for: budget); return .gracefulBudgetSpent }
                    }
                    if !cancelled { _ = stopNext() }
                case .signal:
                    guard !stopping else { continue }
                    stopping = true
                    let budget = gracefulBudget
                    tasks.addTask { try? await Task.sleep(for: budget); return .gracefulBudgetSpent }
                    _ = stopNext()
                case .signalsEnded:
                    continue
                case .gracefulBudgetSpent:
                    guard !running.isEmpty, !cancelled else { continue }
                    logger.warning("graceful stop took longer than \(gracefulBudget): cancelling \(running.count) part(s)")
                    cancelled = true
                    for index in running { stops[index].trigger() }
                    let budget = cancellationBudget
                    // A detached sleep: the group's cancellation below must not end this timer too.
                    tasks.addTask {
                        await Task.detached { try? await Task.sleep(for: budget) }.value
                        return .cancellationBudgetSpent
                    }
                    tasks.cancelAll()
                case .cancellationBudgetSpent:
                    guard !running.isEmpty else { continue }
                    logger.error("\(running.count) part(s) did not end \(cancellationBudget) after cancellation")
                    onStuck()
                }
            }
            tasks.cancelAll()
        }
        if let firstError { throw firstError }
    }
}
