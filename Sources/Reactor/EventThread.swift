// One thread that runs a shell by itself: its descriptors' readiness (epoll), one timer, and the jobs other
// threads hand it; an event costs one wake-up, and the shell's state needs no lock.
import CLinuxEvents
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public struct EventThreadError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(description: String) { self.description = description }
}

/// Why not Swift's tasks or a NIO event loop: a task, a stream and an actor hop cost several thread wake-ups per
/// event, and NIO's loops cannot watch a raw descriptor (a raw socket, a netlink socket, a child's pidfd), so a
/// helper thread would wake and then wake the loop. On a virtual machine a wake-up costs more than the work.
///
/// `execute`, `submit`, `stop` and `isCurrent` may be used from any thread; everything else, and every handler,
/// runs on the thread.
public final class EventThread: @unchecked Sendable {
    private struct Mailbox {
        var jobs: [@Sendable () -> Void] = []
        var stopping = false
        /// The thread is in (or about to enter) epoll_wait: a job must wake it.
        var sleeping = false
    }

    private struct Registration {
        var handler: (() -> Void)?
        var oneShot: Bool
    }

    private let name: String
    private let epoll: Int32
    /// An eventfd, written when a job lands while the thread sleeps, and by stop().
    private let wakeup: Int32
    private let mailbox = Mutex(Mailbox())
    private let ended = Mutex(false)

    // The thread's own.
    private var owner = pthread_t()
    private var registrations: [Int32: Registration] = [:]
    private var deadline: ContinuousClock.Instant?
    private var onDeadline: (() -> Void)?

    /// Starts the thread, named `name` (at most 15 bytes) for ps and /proc. Returns once it runs.
    public init(name: String) throws {
        self.name = name
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeup = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard epoll >= 0, wakeup >= 0 else {
            let reason = String(cString: strerror(errno))
            if epoll >= 0 { close(epoll) }
            throw EventThreadError(description: "cannot make an event thread: \(reason)")
        }
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = wakeup
        epoll_ctl(epoll, EPOLL_CTL_ADD, wakeup, &event)
        // No signal is for this thread (the agent's main thread takes them); a child it spawns sets its own mask.
        var all = sigset_t(), previous = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_SETMASK, &all, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        var thread = pthread_t()
        let this = Unmanaged.passRetained(self).toOpaque()  // the thread holds the object until it ends
        guard pthread_create(&thread, nil, { raw in
            Unmanaged<EventThread>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, this) == 0 else {
            Unmanaged<EventThread>.fromOpaque(this).release()
            close(epoll)
            close(wakeup)
            throw EventThreadError(description: "cannot start a thread")
        }
        pthread_detach(thread)
        // `owner` is the thread's to set; a job is the fence that makes it visible here and to all who get `self`.
        let started = Mutex(false)
        execute { started.withLock { $0 = true } }
        while !started.withLock({ $0 }) { sched_yield() }
    }

    /// Whether the caller runs on this thread.
    public var isCurrent: Bool { pthread_equal(owner, pthread_self()) != 0 }

    public func preconditionInThread(file: StaticString = #fileID, line: UInt = #line) {
        precondition(isCurrent, "not on the \(name) thread", file: file, line: line)
    }

    /// Runs `job` on the thread, after what is already queued. False, and `job` never runs, once stopping.
    @discardableResult
    public func execute(_ job: @escaping @Sendable () -> Void) -> Bool {
        let (accepted, wake) = mailbox.withLock { box -> (Bool, Bool) in
            guard !box.stopping else { return (false, false) }
            box.jobs.append(job)
            defer { box.sleeping = false }
            return (true, box.sleeping)
        }
        if wake { signal() }
        return accepted
    }

    /// Runs `job` on the thread and waits for its result; nil if the thread is stopping.
    public func submit<Result: Sendable>(_ job: @escaping @Sendable () -> Result) async -> Result? {
        await withCheckedContinuation { (answer: CheckedContinuation<Result?, Never>) in
            if !execute({ answer.resume(returning: job()) }) { answer.resume(returning: nil) }
        }
    }

    /// The jobs queued so far still run; then the thread forgets its handlers and ends.
    public func stop() {
        let first = mailbox.withLock { box in
            defer { box.stopping = true }
            return !box.stopping
        }
        if first { signal() }
    }

    /// Waits until the thread has ended (after `stop`); returns at once on the thread itself.
    public func waitUntilEnded() {
        guard !isCurrent else { return }
        while !ended.withLock({ $0 }) { usleep(1000) }
    }

    /// Calls `ready` on the thread whenever `fd` can be read (level-triggered: it should read all there is).
    public func watch(_ fd: Int32, _ ready: @escaping () -> Void) throws {
        preconditionInThread()
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = fd
        guard epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0 else {
            throw EventThreadError(description: "cannot watch descriptor \(fd): \(String(cString: strerror(errno)))")
        }
        registrations[fd] = Registration(handler: ready, oneShot: false)
    }

    /// Calls `ready` whenever `fd` is readable (`readable`) or writable (`writable`), level-triggered; called again
    /// for a descriptor already watched, it changes what is waited for (sd-bus wants writability only while it
    /// has something queued to send).
    public func watch(_ fd: Int32, readable: Bool, writable: Bool, _ ready: @escaping () -> Void) throws {
        preconditionInThread()
        var event = epoll_event()
        event.events = (readable ? EPOLLIN.rawValue : 0) | (writable ? EPOLLOUT.rawValue : 0)
        event.data.fd = fd
        let operation = registrations[fd] == nil ? EPOLL_CTL_ADD : EPOLL_CTL_MOD
        guard epoll_ctl(epoll, operation, fd, &event) == 0 else {
            throw EventThreadError(description: "cannot watch descriptor \(fd): \(String(cString: strerror(errno)))")
        }
        registrations[fd] = Registration(handler: ready, oneShot: false)
    }

    /// Before `fd` is closed.
    public func unwatch(_ fd: Int32) {
        preconditionInThread()
        guard registrations.removeValue(forKey: fd) != nil else { return }
        epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nil)
    }

    /// Calls `ready` once, on the thread, when `fd` can be read (or has hung up, or failed), or written with
    /// `writable`; call again to wait again. False if the kernel refuses the descriptor (a regular file).
    public func watchOnce(_ fd: Int32, writable: Bool = false, _ ready: @escaping () -> Void) -> Bool {
        preconditionInThread()
        var event = epoll_event()
        event.events = (writable ? EPOLLOUT.rawValue : EPOLLIN.rawValue) | EPOLLONESHOT.rawValue
        event.data.fd = fd
        // A one-shot descriptor stays in the set, disarmed, until closed: armed again with MOD.
        var operation = registrations[fd] == nil ? EPOLL_CTL_ADD : EPOLL_CTL_MOD
        if epoll_ctl(epoll, operation, fd, &event) != 0 {
            // The number was closed and reused meanwhile (MOD: not there), or never forgotten (ADD: there).
            guard errno == ENOENT || errno == EEXIST else { return false }
            operation = errno == ENOENT ? EPOLL_CTL_ADD : EPOLL_CTL_MOD
            guard epoll_ctl(epoll, operation, fd, &event) == 0 else { return false }
        }
        registrations[fd] = Registration(handler: ready, oneShot: true)
        return true
    }

    /// Before a descriptor given to `watchOnce` is closed (closing takes it out of the set): no more calls.
    public func forget(_ fd: Int32) {
        preconditionInThread()
        registrations[fd] = nil
    }

    /// The one timer: `fire` runs on the thread at `deadline` (a millisecond late at most), replacing any timer
    /// set before; nil cancels it.
    public func schedule(at deadline: ContinuousClock.Instant?, _ fire: @escaping () -> Void = {}) {
        preconditionInThread()
        self.deadline = deadline
        onDeadline = deadline == nil ? nil : fire
    }

    private func signal() {
        var one: UInt64 = 1
        _ = write(wakeup, &one, 8)
    }

    private func run() {
        owner = pthread_self()
        _ = hc_name_this_thread(name)
        let capacity: Int32 = 64
        var events = [epoll_event](repeating: epoll_event(), count: Int(capacity))
        while true {
            let (jobs, stopping) = mailbox.withLock { box in
                defer { box.jobs = [] }
                return (box.jobs, box.stopping)
            }
            for job in jobs { job() }
            if stopping { break }
            if let deadline, deadline <= .now {
                let fire = onDeadline
                self.deadline = nil
                onDeadline = nil
                fire?()
            }
            let sleep = mailbox.withLock { box in
                box.sleeping = box.jobs.isEmpty && !box.stopping
                return box.sleeping
            }
            let count = epoll_wait(epoll, &events, capacity, sleep ? timeout() : 0)
            mailbox.withLock { $0.sleeping = false }
            for index in 0..<Int(max(0, count)) {
                let fd = events[index].data.fd
                if fd == wakeup {
                    var value: UInt64 = 0
                    _ = read(wakeup, &value, 8)
                } else if let registration = registrations[fd], let handler = registration.handler {
                    // A handler earlier in this batch may have unwatched it; a one-shot one is disarmed now.
                    if registration.oneShot { registrations[fd]?.handler = nil }
                    handler()
                }
            }
        }
        // The handlers may hold their owner, which may hold this thread.
        registrations = [:]
        onDeadline = nil
        close(epoll)
        close(wakeup)
        ended.withLock { $0 = true }
    }

    /// Milliseconds until the timer, rounded up (epoll_wait's unit): early would only mean waiting again.
    private func timeout() -> Int32 {
        guard let deadline else { return -1 }
        let left = ContinuousClock.now.duration(to: deadline)
        guard left > .zero else { return 0 }
        let (seconds, attoseconds) = left.components
        return Int32(clamping: seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
    }
}
