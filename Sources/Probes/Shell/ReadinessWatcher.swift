// Tells a check's event loop when the descriptor it waits on is ready: one thread in epoll_wait for every
// probe socket and child, so a check needs neither a NIO channel nor a thread of its own.
import CLinuxEvents
import NIOCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A NIO channel per HTTP GET cost more CPU than the GET itself, and a thread per command as much as the fork;
/// NIO offers no way to watch a raw descriptor, so this watches them, one shot at a time, and the callbacks run
/// on the check's loop (all a check's state stays there).
final class ReadinessWatcher: Sendable {
    /// One for the process: nil if the kernel refuses an epoll set (the checks then fall back to NIO and threads).
    static let shared = ReadinessWatcher()

    /// A descriptor's place in the watcher. Used on its check's loop only.
    final class Watch: @unchecked Sendable {
        let fd: Int32
        fileprivate let token: UInt64
        fileprivate var added = false

        fileprivate init(fd: Int32, token: UInt64) {
            self.fd = fd
            self.token = token
        }
    }

    private struct Waiter {
        let loop: EventLoop
        let ready: @Sendable () -> Void
    }

    private struct Waiters {
        var nextToken: UInt64 = 1
        var byToken: [UInt64: Waiter] = [:]
    }

    private let epoll: Int32
    private let waiters = Mutex(Waiters())

    private init?() {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { return nil }
        var thread = pthread_t()
        let watcher = Unmanaged.passRetained(self).toOpaque()  // the process's, never released
        guard pthread_create(&thread, nil, { raw in
            Unmanaged<ReadinessWatcher>.fromOpaque(raw!).takeUnretainedValue().run()
            return nil
        }, watcher) == 0 else {
            close(epoll)
            return nil
        }
        pthread_detach(thread)
    }

    func watch(_ fd: Int32) -> Watch {
        Watch(fd: fd, token: waiters.withLock { waiters in
            defer { waiters.nextToken += 1 }
            return waiters.nextToken
        })
    }

    /// Calls `ready` once, on `loop`, when the descriptor can be read (or has hung up, or failed), or written with
    /// `writable`. Call again to wait again. False if the kernel refuses the descriptor.
    func arm(_ watch: Watch, writable: Bool = false, on loop: EventLoop, _ ready: @escaping @Sendable () -> Void) -> Bool {
        waiters.withLock { $0.byToken[watch.token] = Waiter(loop: loop, ready: ready) }
        var event = epoll_event()
        event.events = (writable ? EPOLLOUT.rawValue : EPOLLIN.rawValue) | EPOLLONESHOT.rawValue
        event.data.u64 = watch.token
        guard epoll_ctl(epoll, watch.added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, watch.fd, &event) == 0 else {
            forget(watch)
            return false
        }
        watch.added = true
        return true
    }

    /// Before the descriptor is closed (closing takes it out of the epoll set). A readiness already on its way to
    /// the loop still arrives: callbacks check that their descriptor is open.
    func forget(_ watch: Watch) {
        _ = waiters.withLock { $0.byToken.removeValue(forKey: watch.token) }
    }

    private func run() {
        let capacity: Int32 = 64
        var events = [epoll_event](repeating: epoll_event(), count: Int(capacity))
        while true {
            let count = epoll_wait(epoll, &events, capacity, -1)
            guard count > 0 else { continue }  // EINTR
            let ready = waiters.withLock { waiters in
                (0..<Int(count)).compactMap { waiters.byToken.removeValue(forKey: events[$0].data.u64) }
            }
            // One hop per loop, not per descriptor: the checks of one slot often end together.
            var byLoop: [(loop: EventLoop, calls: [@Sendable () -> Void])] = []
            for waiter in ready {
                if let index = byLoop.firstIndex(where: { $0.loop === waiter.loop }) {
                    byLoop[index].calls.append(waiter.ready)
                } else {
                    byLoop.append((waiter.loop, [waiter.ready]))
                }
            }
            for (loop, calls) in byLoop { loop.execute { for call in calls { call() } } }
        }
    }
}
