// How a part hears that it should stop gracefully: a one-shot signal per part, found through a task local.
import Synchronization

/// One part's stop request: set once by its ServiceGroup, heard by the handlers and waiters registered for it.
final class ShutdownSignal: Sendable {
    private struct State {
        var triggered = false
        var nextID: UInt64 = 0
        var handlers: [UInt64: @Sendable () -> Void] = [:]
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        /// Waiters whose task was cancelled before their continuation was registered.
        var cancelled: Set<UInt64> = []
    }

    private let state = Mutex(State())

    /// The signal of the part the current task belongs to; nil outside a ServiceGroup (tests run parts bare).
    @TaskLocal static var current: ShutdownSignal?

    var isTriggered: Bool { state.withLock { $0.triggered } }

    /// Runs every handler and wakes every waiter, once.
    func trigger() {
        let (handlers, waiters) = state.withLock { state -> ([@Sendable () -> Void], [CheckedContinuation<Void, Never>]) in
            guard !state.triggered else { return ([], []) }
            state.triggered = true
            defer { state.handlers = [:]; state.waiters = [:] }
            return (Array(state.handlers.values), Array(state.waiters.values))
        }
        // Outside the lock: a handler may register or remove another.
        for handler in handlers { handler() }
        for waiter in waiters { waiter.resume() }
    }

    /// Registers `handler`, or runs it now when the stop was already asked for; nil then.
    func register(_ handler: @escaping @Sendable () -> Void) -> UInt64? {
        let id: UInt64? = state.withLock { state in
            guard !state.triggered else { return nil }
            state.nextID += 1
            state.handlers[state.nextID] = handler
            return state.nextID
        }
        if id == nil { handler() }
        return id
    }

    func remove(_ id: UInt64) {
        _ = state.withLock { $0.handlers.removeValue(forKey: id) }
    }

    /// Returns when the stop is asked for, or when the calling task is cancelled (then it throws).
    func wait() async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.triggered || state.cancelled.remove(id) != nil { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
                if !state.triggered { state.cancelled.insert(id) }
                return nil
            }
            waiter?.resume()
        }
        if !isTriggered { throw CancellationError() }
    }
}

/// Runs `operation`; `handler` is called once when this part is asked to stop gracefully while it runs (at
/// once if it already was). Outside a ServiceGroup the handler is never called.
public func withGracefulShutdownHandler<T>(
    isolation: isolated (any Actor)? = #isolation,
    operation: () async throws -> T,
    onGracefulShutdown handler: @Sendable @escaping () -> Void
) async rethrows -> T {
    guard let signal = ShutdownSignal.current else { return try await operation() }
    let id = signal.register(handler)
    defer { if let id { signal.remove(id) } }
    return try await operation()
}

/// Returns when this part is asked to stop gracefully; throws CancellationError when its task is cancelled first.
public func gracefulShutdown() async throws {
    guard let signal = ShutdownSignal.current else {
        // No group will ever ask: wait for cancellation.
        while true { try await Task.sleep(for: .seconds(86_400)) }
    }
    try await signal.wait()
}

private enum OperationOrStop<T: Sendable>: Sendable {
    case value(T)
    case stop
}

/// Runs `operation` in a child task that is cancelled when this part is asked to stop gracefully (or when the
/// calling task is cancelled), and returns what it returns.
public func cancelWhenGracefulShutdown<T: Sendable>(_ operation: @Sendable @escaping () async throws -> T) async rethrows -> T {
    try await withThrowingTaskGroup(of: OperationOrStop<T>.self) { group in
        group.addTask { .value(try await operation()) }
        group.addTask {
            try? await gracefulShutdown()
            return .stop
        }
        while let next = try await group.next() {
            switch next {
            case .value(let value):
                group.cancelAll()
                return value
            case .stop:
                group.cancelAll()
            }
        }
        // Both children have ended, and the operation's value came first or threw: unreachable.
        throw CancellationError()
    }
}
