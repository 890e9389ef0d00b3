// A detached thread for a blocking socket reader: raw and netlink sockets have no place in NIO's event loop.
#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` on a new detached thread. The body loops on a socket with a read timeout and returns when its
/// owner is closed.
func runOnReaderThread(_ body: @escaping @Sendable () -> Void) {
    final class Job: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var thread = pthread_t()
    let job = Unmanaged.passRetained(Job(body)).toOpaque()
    pthread_create(&thread, nil, { raw in
        Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue().body()
        return nil
    }, job)
    pthread_detach(thread)
}

/// SO_RCVTIMEO: reads wake up this often, so a reader sees its owner's close() without any signalling.
func setReadTimeout(_ fd: Int32, milliseconds: Int) -> Bool {
    var timeout = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
    return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size)) == 0
}
