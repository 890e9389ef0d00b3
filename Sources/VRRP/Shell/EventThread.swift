// One thread that runs a shell by itself: its descriptors' readiness (epoll), one timer, and the jobs other
// threads hand it; an event costs one wake-up, and the shell's state needs no lock.
import CLinuxEvents
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public struct EventThreadError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// Why not Swift's tasks or NIO: a timer task, a stream and an actor hop cost a VRRP master several thread
/// wake-ups per advertisement, and NIO's event loop cannot watch a raw socket, so a packet would wake a reader
/// thread and then the loop. keepalived wakes once per advertisement; so does this.
///
/// `execute` and `stop` may be called from any thread; everything else, and every handler, runs on the thread.
public final class EventThread: @unchecked Sendable {
    private struct Mailbox {
        var jobs: [@Sendable () -> Void] = []
        var stopping = false
    }

    private let epoll: Int32
    /// An eventfd: written when the first job lands in an empty mailbox, and by stop().
    private let wakeup: Int32
    private let mailbox = Mutex(Mailbox())
    private let name: String

    // The thread's own.
    private var owner = pthread_t()
    private var handlers: [Int32: () -> Void] = [:]
    private var deadline: ContinuousClock.Instant?
    private var onDeadline: (() -> Void)?

    /// Starts the thread, named `name` (at most 15 bytes) for ps and /proc.
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
        var thread = pthread_t()
        // The thread holds the object until it ends.
        let this = Unmanaged.passRetained(self).toOpaque()
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
    }

    /// Runs `job` on the thread, after what is already queued. False, and `job` never runs, once stopping.
    @discardableResult
    public func execute(_ job: @escaping @Sendable () -> Void) -> Bool {
        let (accepted, first) = mailbox.withLock { box -> (Bool, Bool) in
            guard !box.stopping else { return (false, false) }
            box.jobs.append(job)
            return (true, box.jobs.count == 1)
        }
        if first { signal() }
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

    public func preconditionInThread(file: StaticString = #fileID, line: UInt = #line) {
        precondition(pthread_equal(owner, pthread_self()) != 0, "not on the \(name) thread", file: file, line: line)
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
        handlers[fd] = ready
    }

    /// Before `fd` is closed.
    public func unwatch(_ fd: Int32) {
        preconditionInThread()
        guard handlers.removeValue(forKey: fd) != nil else { return }
        epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nil)
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
        let capacity: Int32 = 16
        var events = [epoll_event](repeating: epoll_event(), count: Int(capacity))
        var stopping = false
        while !stopping {
            let count = epoll_wait(epoll, &events, capacity, timeout())
            for index in 0..<Int(max(0, count)) {
                let fd = events[index].data.fd
                if fd == wakeup {
                    var value: UInt64 = 0
                    _ = read(wakeup, &value, 8)
                    let jobs: [@Sendable () -> Void]
                    (jobs, stopping) = mailbox.withLock { box in
                        defer { box.jobs = [] }
                        return (box.jobs, box.stopping)
                    }
                    for job in jobs { job() }
                } else if let ready = handlers[fd] {  // unless a handler earlier in this batch unwatched it
                    // Called outside the dictionary's access: a handler may watch or unwatch descriptors.
                    ready()
                }
            }
            if let deadline, deadline <= .now {
                let fire = onDeadline
                self.deadline = nil
                onDeadline = nil
                fire?()
            }
        }
        // The handlers may hold their owner, which may hold this thread.
        handlers = [:]
        onDeadline = nil
        close(epoll)
        close(wakeup)
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
