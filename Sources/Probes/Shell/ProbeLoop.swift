// The probes' event loop: NIO's EventLoop over an EventThread, so futures, promises and `hop` work, and so does
// waiting on raw descriptors; a check's readiness, its result and the next start are one thread wake-up.
import Dispatch
import NIOCore
import Reactor
import Synchronization

/// Before it, a watcher thread saw the probes' sockets and children and handed each readiness to a NIO loop (NIO's
/// loops cannot watch a raw descriptor): two thread wake-ups per HTTP GET or command, and on a virtual machine a
/// wake-up costs more than the check. Channels (a name to resolve) still go through a NIO loop and hop back here.
public final class ProbeLoop: EventLoop, @unchecked Sendable {
    private struct Timer {
        let id: UInt64
        let deadline: NIODeadline
        let fire: () -> Void
        let cancel: () -> Void
    }

    let thread: EventThread
    // The thread's own.
    private var timers: [Timer] = []
    private let nextID = Atomic<UInt64>(1)

    /// Starts the loop's thread, named `name`.
    public init(name: String = "hcagent-probes") throws {
        thread = try EventThread(name: name)
    }

    // MARK: EventLoop

    public var inEventLoop: Bool { thread.isCurrent }

    /// A task given after `stop` is dropped.
    public func execute(_ task: @escaping @Sendable () -> Void) {
        thread.execute(task)
    }

    public func scheduleTask<T>(deadline: NIODeadline, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        let promise = makePromise(of: T.self)
        // Numbered at once, from any thread, so a cancel finds its timer whichever of the two reaches the loop.
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        let add: @Sendable () -> Void = { [self] in
            timers.append(Timer(id: id, deadline: deadline, fire: {
                do { promise.assumeIsolatedUnsafeUnchecked().succeed(try task()) } catch { promise.fail(error) }
            }, cancel: { promise.fail(EventLoopError.cancelled) }))
            armThread()
        }
        if inEventLoop { add() } else { execute(add) }
        return Scheduled(promise: promise) { [self] in
            let cancel: @Sendable () -> Void = { [self] in
                guard let index = timers.firstIndex(where: { $0.id == id }) else { return }
                timers.remove(at: index).cancel()
                armThread()
            }
            if inEventLoop { cancel() } else { execute(cancel) }
        }
    }

    public func scheduleTask<T>(in delay: TimeAmount, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        scheduleTask(deadline: .now() + delay, task)
    }

    public func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable (Error?) -> Void) {
        stop()
        queue.async { callback(nil) }
    }

    /// Ends the loop's thread once the tasks already given to it have run (timers not yet due fail as cancelled);
    /// waits for it, unless called on it. Tasks given later are dropped.
    public func stop() {
        thread.execute { [self] in
            let pending = timers
            timers = []
            thread.schedule(at: nil)
            for timer in pending { timer.cancel() }
        }
        thread.stop()
        thread.waitUntilEnded()
    }

    // MARK: Descriptors

    /// Calls `ready` once, on the loop, when `fd` can be read (or has hung up, or failed), or written with
    /// `writable`. Call again to wait again. False if the kernel refuses the descriptor.
    func arm(_ fd: Int32, writable: Bool = false, _ ready: @escaping () -> Void) -> Bool {
        thread.watchOnce(fd, writable: writable, ready)
    }

    /// Before `fd` is closed: its callback will not be called.
    func forget(_ fd: Int32) {
        thread.forget(fd)
    }

    // MARK: Timers

    /// The thread keeps one timer: set for the earliest of these.
    private func armThread() {
        guard let next = timers.lazy.map(\.deadline).min() else { return thread.schedule(at: nil) }
        let instant = ContinuousClock.now + .nanoseconds(max(0, (next - .now()).nanoseconds))
        thread.schedule(at: instant) { [self] in runDueTimers() }
    }

    private func runDueTimers() {
        let now = NIODeadline.now()
        // In deadline order; a timer a fired one schedules waits for the next turn.
        let due = timers.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
        timers.removeAll { $0.deadline <= now }
        for timer in due { timer.fire() }
        armThread()
    }
}
