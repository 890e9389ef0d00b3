// Carries out one probe check on an event loop: a TCP connect, an HTTP GET, a command (its process group killed
// on timeout), a file's presence and age, or a unit's state (asked of the caller, who holds the systemd bus).
import HomecloudSchema
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Every check but `unit` runs as callbacks on the probe loop, its deadline kept by that loop (Deadlines): no task,
/// no thread hop per run (50 probes a second through Swift tasks cost several times the checks themselves).
public struct ProbeChecks: Sendable {
    let loop: ProbeLoop
    /// Where a check that needs a channel (a host name to resolve) connects; its result hops back to `loop`.
    let channels: EventLoopGroup
    /// A unit's ActiveState, from the reconciler's bus; nil when it cannot be read.
    let unitState: @Sendable (String) async -> String?
    private let deadlines: Deadlines

    public init(loop: ProbeLoop, channels: EventLoopGroup, unitState: @escaping @Sendable (String) async -> String?) {
        self.loop = loop
        self.channels = channels
        self.unitState = unitState
        deadlines = Deadlines(loop: loop)
    }

    /// The check's result; past `timeout` it is cancelled and fails.
    public func run(_ check: Probe.Check, timeout: Duration) async -> ProbeHysteresis.Result {
        (try? await start(check, timeout: timeout).get()) ?? .fail("no result")
    }

    /// Starts the check; the future, completed on the loop, always succeeds: with a failure on error or timeout.
    public func start(_ check: Probe.Check, timeout: Duration) -> EventLoopFuture<ProbeHysteresis.Result> {
        let outcome = Outcome(loop.makePromise(of: ProbeHysteresis.Result.self))
        loop.execute {
            self.deadlines.add(outcome, timeout: timeout)
            self.begin(check, timeout: timeout, outcome)
        }
        return outcome.promise.futureResult
    }

    /// A command that is not a probe (a VIP's transition hook): run as exec probes are, in a process group of its
    /// own killed at `timeout`, with `environment` added and `inputs` to read (ProcessRun); the future always
    /// succeeds, with a failure on error.
    public func startCommand(_ argv: [String], environment: [String], inputs: [Int32: [UInt8]] = [:],
                             timeout: Duration) -> EventLoopFuture<ProbeHysteresis.Result> {
        let outcome = Outcome(loop.makePromise(of: ProbeHysteresis.Result.self))
        loop.execute {
            self.deadlines.add(outcome, timeout: timeout)
            ProcessRun.start(argv, environment: environment, inputs: inputs, on: self.loop, outcome)
        }
        return outcome.promise.futureResult
    }

    private func begin(_ check: Probe.Check, timeout: Duration, _ outcome: Outcome) {
        switch check {
        case .tcp(let host, let port):
            if let result = Self.connectAtOnce(host, port) { return outcome.finish(result) }
            let connected = connect(host, port, timeout: timeout) { $0.eventLoop.makeSucceededVoidFuture() }
            connected.hop(to: loop).whenComplete { result in
                switch result {
                case .success(let channel):
                    channel.close(promise: nil)
                    outcome.finish(.pass)
                case .failure(ChannelError.connectTimeout):
                    outcome.finish(.fail("connect to \(host):\(port): timed out after \(timeout)"))
                case .failure(let error):
                    outcome.finish(.fail("connect to \(host):\(port): \(error)"))
                }
            }
        case .http(let url, let expect, let body):
            http(url, expect: expect, body: body, timeout: timeout, outcome)
        case .exec(let argv):
            ProcessRun.start(argv, on: loop, outcome)
        case .file(let path, let maxAge):
            outcome.finish(Self.file(path, maxAge: maxAge))
        case .unit(let name):
            let unitState = self.unitState, loop = self.loop
            Task {  // the bus is async: the one kind that needs a task
                let state = await unitState(name)
                let result: ProbeHysteresis.Result = state.map { $0 == "active" ? .pass : .fail("\(name) is \($0)") } ?? .fail("cannot read \(name)")
                loop.execute { outcome.finish(result) }
            }
        }
    }

    /// A channel on one of NIO's loops: to an IP address straight, to a name through NIO's resolver.
    func connect(_ host: String, _ port: Int, timeout: Duration,
                         _ initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>) -> EventLoopFuture<Channel> {
        let bootstrap = ClientBootstrap(group: channels).connectTimeout(.milliseconds(Int64(timeout / .milliseconds(1))))
            .channelInitializer(initializer)
        if let address = try? SocketAddress(ipAddress: host, port: port) { return bootstrap.connect(to: address) }
        return bootstrap.connect(host: host, port: port)
    }

    /// A connect that is over as soon as it is made needs no channel: on loopback (a board's own services) the
    /// kernel completes the handshake, or refuses it, within connect() itself. So: a non-blocking socket,
    /// connect, a poll that does not wait, close. nil when it is still under way (a remote host): the caller
    /// then connects through NIO. A channel per check cost more than the connect.
    static func connectAtOnce(_ host: String, _ port: Int) -> ProbeHysteresis.Result? {
        guard let address = NumericAddress(host, port) else { return nil }  // a name: NIO resolves it
        let fd = address.socket()
        guard fd >= 0 else { return nil }
        defer { closeWithReset(fd) }
        var failure = address.connect(fd) == 0 ? 0 : errno
        if failure == EINPROGRESS {
            var ready = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&ready, 1, 0) == 1 else { return nil }
            var size = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &size) == 0 else { return nil }
        }
        return failure == 0 ? .pass : .fail("connect to \(host):\(port): \(String(cString: strerror(failure)))")
    }

    /// Ends a check's connection with a reset (SO_LINGER 0): a normal close leaves this side in TIME_WAIT for a
    /// minute, so 20 checks a second kept about 1200 sockets and local ports there, and costs a FIN exchange.
    static func closeWithReset(_ fd: Int32) {
        var abort = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, socklen_t(MemoryLayout<linger>.size))
        close(fd)
    }

    static func file(_ path: String, maxAge: Duration?) -> ProbeHysteresis.Result {
        var info = stat()
        guard stat(path, &info) == 0 else { return .fail("\(path): \(String(cString: strerror(errno)))") }
        if let maxAge {
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            let age = Duration.seconds(now.tv_sec - info.st_mtim.tv_sec) + .nanoseconds(now.tv_nsec - info.st_mtim.tv_nsec)
            guard age <= maxAge else {
                return .fail("\(path) is \(DurationText.format(age)) old, more than \(DurationText.format(maxAge))")
            }
        }
        return .pass
    }
}

/// A numeric IPv4 or IPv6 address and port, ready for connect(); nil for a name.
struct NumericAddress {
    private var storage = sockaddr_storage()
    private let length: socklen_t
    let family: Int32

    init?(_ host: String, _ port: Int) {
        var v4 = sockaddr_in(), v6 = sockaddr_in6()
        if inet_pton(AF_INET, host, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = in_port_t(UInt16(port).bigEndian)
            (family, length) = (AF_INET, socklen_t(MemoryLayout<sockaddr_in>.size))
            withUnsafeBytes(of: v4) { source in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: source) } }
        } else if inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = in_port_t(UInt16(port).bigEndian)
            (family, length) = (AF_INET6, socklen_t(MemoryLayout<sockaddr_in6>.size))
            withUnsafeBytes(of: v6) { source in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: source) } }
        } else {
            return nil
        }
    }

    /// A non-blocking stream socket of this address's family, or -1.
    func socket() -> Int32 {
        Glibc.socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    }

    /// connect(2): 0, or -1 with errno (EINPROGRESS while a remote handshake goes on).
    func connect(_ fd: Int32) -> Int32 {
        withUnsafeBytes(of: storage) { Glibc.connect(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), length) }
    }
}

/// The deadlines of the checks in flight, on one loop timer armed for the earliest that may still come due. A NIO
/// timer per run (scheduled, then cancelled a millisecond later) cost more than a file or loopback check itself;
/// this one is re-armed only for a deadline sooner than the armed one, or when it fires.
final class Deadlines: @unchecked Sendable {  // used on its loop only
    private let loop: EventLoop
    private var pending: [(at: NIODeadline, timeout: Duration, outcome: Outcome)] = []
    private var armed: (at: NIODeadline, timer: Scheduled<Void>)?

    init(loop: EventLoop) { self.loop = loop }

    func add(_ outcome: Outcome, timeout: Duration) {
        let at = NIODeadline.now() + .nanoseconds(Int64(timeout / .nanoseconds(1)))
        pending.append((at, timeout, outcome))
        if armed.map({ at < $0.at }) ?? true { arm(at) }
    }

    private func arm(_ at: NIODeadline) {
        armed?.timer.cancel()
        armed = (at, loop.scheduleTask(deadline: at) { self.fire() })
    }

    /// Fails the checks past their deadline; the ones finished meanwhile are dropped here, not one by one.
    private func fire() {
        armed = nil
        let now = NIODeadline.now()
        var expired: [(timeout: Duration, outcome: Outcome)] = []
        pending.removeAll { entry in
            if entry.outcome.isDone { return true }
            if entry.at <= now { expired.append((entry.timeout, entry.outcome)) }
            return entry.at <= now
        }
        for (timeout, outcome) in expired { outcome.finish(.fail("timed out after \(timeout)"), cancellingTheCheck: true) }
        if let next = pending.lazy.map(\.at).min() { arm(next) }
    }
}

/// One run's result, decided once on the loop: by the check, or by its deadline (which then cancels the check).
final class Outcome: @unchecked Sendable {  // touched on its promise's loop only
    let promise: EventLoopPromise<ProbeHysteresis.Result>
    private var cancel: [() -> Void] = []
    private(set) var isDone = false

    init(_ promise: EventLoopPromise<ProbeHysteresis.Result>) { self.promise = promise }

    func finish(_ result: ProbeHysteresis.Result, cancellingTheCheck: Bool = false) {
        promise.futureResult.eventLoop.preconditionInEventLoop()
        guard !isDone else { return }
        isDone = true
        let pending = cancel
        cancel = []
        promise.succeed(result)
        if cancellingTheCheck { for undo in pending { undo() } }
    }

    /// What to do to the check if its deadline decides first: close its connection, kill its process group.
    func onCancel(_ undo: @escaping () -> Void) {
        if isDone { return }
        cancel.append(undo)
    }
}
