// The probes' own event loop: one thread in epoll_wait for their timers, sockets and children, so a check's
// readiness, its result and the next start are one thread wake-up.
import CLinuxEvents
import Dispatch
import NIOConcurrencyHelpers
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// A NIO event loop (futures, promises, `scheduleTask` and `hop` work with it) that can also watch raw descriptors,
/// which NIO's own loops cannot. Before it, one thread watched the probes' sockets and children and handed each
/// readiness to a NIO loop: two thread wake-ups per HTTP GET or command, and on a virtual machine a wake-up costs
/// more than the check. Channels (a name to resolve) still go through a NIO loop and hop back here.
public final class ProbeLoop: EventLoop, @unchecked Sendable {
    /// A descriptor's place in the loop. Used on the loop only.
    final class Watch {
        let fd: Int32
        fileprivate let token: UInt64
        fileprivate var added = false

        fileprivate init(fd: Int32, token: UInt64) {
            self.fd = fd
            self.token = token
        }
    }

    private struct Timer {
        let id: UInt64
        let deadline: NIODeadline
        let fire: () -> Void
    }

    private struct Inbox {
        var tasks: [@Sendable () -> Void] = []
        var stopping = false
        /// The loop is in (or about to enter) epoll_wait: a task from elsewhere must wake it.
        var sleeping = false
    }

    private let name: String
    private let epoll: Int32
    private let wakeup: Int32
    private let inbox = NIOLockedValueBox(Inbox())
    /// The thread's life: starting, running, ended.
    private let phase = ConditionLock(value: Phase.starting)
    private enum Phase { case starting, running, ended }
    /// Set by the thread itself before `init` returns, read-only after.
    private var thread = pthread_t()
    // Loop-confined state: touched by the loop's thread only.
    private var timers: [Timer] = []
    private var nextID: UInt64 = 1
    private var waiting: [UInt64: () -> Void] = [:]

    private static let wakeupToken: UInt64 = 0

    /// Starts the loop's thread, named `name`.
    public init(name: String = "hcagent-probes") throws {
        self.name = name
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw IOError(errnoCode: errno, reason: "epoll_create1") }
        wakeup = eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK))
        guard wakeup >= 0 else {
            Glibc.close(epoll)
            throw IOError(errnoCode: errno, reason: "eventfd")
        }
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = Self.wakeupToken
        epoll_ctl(epoll, EPOLL_CTL_ADD, wakeup, &event)
        // No signal is for this thread (the agent's main thread takes them), and a child it spawns starts from
        // a mask of its own choosing.
        var all = sigset_t(), previous = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_SETMASK, &all, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        let loop = Unmanaged.passRetained(self).toOpaque()  // released when the thread ends
        var created = pthread_t()
        let result = pthread_create(&created, nil, { raw in
            let loop = Unmanaged<ProbeLoop>.fromOpaque(raw!).takeRetainedValue()
            loop.run()
            return nil
        }, loop)
        guard result == 0 else {
            Unmanaged<ProbeLoop>.fromOpaque(loop).release()
            Glibc.close(epoll)
            Glibc.close(wakeup)
            throw IOError(errnoCode: result, reason: "pthread_create")
        }
        pthread_detach(created)
        phase.lock(whenValue: .running)
        phase.unlock()
    }

    // MARK: EventLoop

    public var inEventLoop: Bool { pthread_equal(pthread_self(), thread) != 0 }

    public func execute(_ task: @escaping @Sendable () -> Void) {
        let wake = inbox.withLockedValue { inbox in
            inbox.tasks.append(task)
            defer { inbox.sleeping = false }
            return inbox.sleeping
        }
        if wake {
            var one: UInt64 = 1
            _ = write(wakeup, &one, 8)
        }
    }

    public func scheduleTask<T>(deadline: NIODeadline, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        let promise = makePromise(of: T.self)
        let id = NIOLockedValueBox<UInt64?>(nil)
        let add: @Sendable () -> Void = { [self] in
            let timer = Timer(id: nextID, deadline: deadline) {
                do { promise.assumeIsolatedUnsafeUnchecked().succeed(try task()) } catch { promise.fail(error) }
            }
            nextID += 1
            timers.append(timer)
            id.withLockedValue { $0 = timer.id }
        }
        if inEventLoop { add() } else { execute(add) }
        return Scheduled(promise: promise) { [self] in
            let cancel: @Sendable () -> Void = { [self] in
                guard let id = id.withLockedValue({ $0 }), let index = timers.firstIndex(where: { $0.id == id }) else { return }
                timers.remove(at: index)
                promise.fail(EventLoopError.cancelled)
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

    /// Ends the loop's thread once the tasks already given to it have run. Waits for it, unless called on it.
    public func stop() {
        let first = inbox.withLockedValue { inbox in
            defer { inbox.stopping = true }
            return !inbox.stopping
        }
        if first {
            var one: UInt64 = 1
            _ = write(wakeup, &one, 8)
        }
        if !inEventLoop {
            phase.lock(whenValue: .ended)
            phase.unlock()
        }
    }

    // MARK: Descriptors

    func watch(_ fd: Int32) -> Watch {
        preconditionInEventLoop()
        defer { nextID += 1 }
        return Watch(fd: fd, token: nextID)
    }

    /// Calls `ready` once, on the loop, when the descriptor can be read (or has hung up, or failed), or written with
    /// `writable`. Call again to wait again. False if the kernel refuses the descriptor.
    func arm(_ watch: Watch, writable: Bool = false, _ ready: @escaping () -> Void) -> Bool {
        preconditionInEventLoop()
        var event = epoll_event()
        event.events = (writable ? EPOLLOUT.rawValue : EPOLLIN.rawValue) | EPOLLONESHOT.rawValue
        event.data.u64 = watch.token
        guard epoll_ctl(epoll, watch.added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, watch.fd, &event) == 0 else { return false }
        watch.added = true
        waiting[watch.token] = ready
        return true
    }

    /// Before the descriptor is closed (closing takes it out of the epoll set): its callback will not be called.
    func forget(_ watch: Watch) {
        preconditionInEventLoop()
        waiting[watch.token] = nil
    }

    // MARK: The thread

    private func run() {
        _ = hc_name_this_thread(name)
        phase.lock()
        thread = pthread_self()
        phase.unlock(withValue: .running)
        let capacity: Int32 = 64
        var events = [epoll_event](repeating: epoll_event(), count: Int(capacity))
        while true {
            let (tasks, stopping) = inbox.withLockedValue { inbox in
                defer { inbox.tasks = [] }
                return (inbox.tasks, inbox.stopping)
            }
            for task in tasks { task() }
            if stopping { break }
            runDueTimers()
            // Sleep until the next timer: rounded up to the millisecond, so it never wakes just before one.
            var timeout: Int32 = -1
            if let next = timers.lazy.map(\.deadline).min() {
                let nanoseconds = max(0, (next - .now()).nanoseconds)
                timeout = Int32(min((nanoseconds + 999_999) / 1_000_000, Int64(Int32.max)))
            }
            let pending = inbox.withLockedValue { inbox in
                inbox.sleeping = inbox.tasks.isEmpty && !inbox.stopping
                return !inbox.sleeping
            }
            if pending { timeout = 0 }
            let count = epoll_wait(epoll, &events, capacity, timeout)
            inbox.withLockedValue { $0.sleeping = false }
            for index in 0..<max(0, Int(count)) {
                let token = events[index].data.u64
                if token == Self.wakeupToken {
                    var value: UInt64 = 0
                    _ = read(wakeup, &value, 8)
                } else if let ready = waiting.removeValue(forKey: token) {
                    ready()
                }
            }
        }
        Glibc.close(epoll)
        Glibc.close(wakeup)
        phase.lock()
        phase.unlock(withValue: .ended)
    }

    private func runDueTimers() {
        guard !timers.isEmpty else { return }
        let now = NIODeadline.now()
        // In deadline order; a timer a fired one schedules waits for the next turn.
        let due = timers.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
        guard !due.isEmpty else { return }
        timers.removeAll { $0.deadline <= now }
        for timer in due { timer.fire() }
    }
}
