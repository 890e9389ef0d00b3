// The checks against real things on this machine: a listener on loopback, a tiny HTTP server, commands and
// files; a hung command is killed with its whole process group at the timeout.
import Glibc
import HomecloudSchema
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
@testable import Probes
@testable import ProbesCore

@Suite struct ProbeChecksTests {
    static let loop = try! ProbeLoop(name: "probes-tests")
    /// The deadline of a check its answer decides: generous, since it costs nothing when the answer comes, and a
    /// busy test run on two cores once took 2 s over four loopback HTTP exchanges. Deadline-decided checks use
    /// their own short timeouts.
    static let byAnswer: Duration = .seconds(20)
    let checks = ProbeChecks(loop: Self.loop, channels: MultiThreadedEventLoopGroup.singleton) { name in
        name == "up.service" ? "active" : name == "down.service" ? "failed" : nil
    }

    /// A loopback server that answers every connection with `reply` and closes; returns its port.
    func server(reply: String) async throws -> (Channel, Int) {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(Replier(reply: reply))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return (channel, channel.localAddress!.port!)
    }

    final class Replier: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let reply: String
        init(reply: String) { self.reply = reply }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            // Answer once the request's head has arrived (a GET has no body).
            context.writeAndFlush(NIOAny(ByteBuffer(string: reply))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    @Test func tcpPassesOnAListenerAndFailsWithTheReasonWithout() async throws {
        let (channel, port) = try await server(reply: "")
        #expect(await checks.run(.tcp(host: "127.0.0.1", port: port), timeout: Self.byAnswer) == .pass)
        try await channel.close()
        // A port bound but not listening refuses, and no other test can take it meanwhile.
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        let closedPort = bindToAnyPort(holder)
        guard case .fail(let why) = await checks.run(.tcp(host: "127.0.0.1", port: closedPort), timeout: Self.byAnswer) else {
            Issue.record("a closed port passed"); return
        }
        #expect(why.contains("127.0.0.1:\(closedPort)") && why.contains("refused"), "\(why)")
        // Refused within connect() itself, so decided without a channel.
        guard case .fail(let atOnce)? = ProbeChecks.connectAtOnce("127.0.0.1", closedPort) else {
            Issue.record("a refused loopback connect was not decided at once"); return
        }
        #expect(atOnce.contains("refused"), "\(atOnce)")
    }

    @Test func aTCPCheckEndsWithAResetAndLeavesNoSocketInTimeWait() async throws {
        let (channel, port) = try await server(reply: "")
        for _ in 0..<5 { #expect(ProbeChecks.connectAtOnce("127.0.0.1", port) == .pass) }
        try await Task.sleep(for: .milliseconds(200))  // time for the server to close its side too
        #expect(Self.timeWaitSockets(towards: port) == 0)
        try await channel.close()
    }

    /// IPv4 sockets in TIME_WAIT (state 06) whose remote port is `port`, from /proc/net/tcp.
    static func timeWaitSockets(towards port: Int) -> Int {
        guard let file = fopen("/proc/net/tcp", "r") else { return -1 }
        defer { fclose(file) }
        var count = 0
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), file) != nil {
            let fields = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).split(separator: " ")
            guard fields.count > 3, let remotePort = fields[2].split(separator: ":").last, Int(remotePort, radix: 16) == port else { continue }
            if fields[3] == "06" { count += 1 }
        }
        return count
    }

    @Test func aLoopbackConnectIsDecidedWithoutAChannelAndANameGoesToNIO() async throws {
        let (channel, port) = try await server(reply: "")
        #expect(ProbeChecks.connectAtOnce("127.0.0.1", port) == .pass)
        #expect(ProbeChecks.connectAtOnce("localhost", port) == nil)
        try await channel.close()
    }

    @Test func httpChecksTheStatusRangeAndTheBody() async throws {
        let (ok, okPort) = try await server(reply: "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nstatus: ok\n")
        let (broken, brokenPort) = try await server(reply: "HTTP/1.0 503 Service Unavailable\r\n\r\nnot yet")
        defer { _ = (ok.close(), broken.close()) }
        let url = "http://127.0.0.1:\(okPort)/healthz"
        #expect(await checks.run(.http(url: url, expect: 200...299, body: "status: ok"), timeout: Self.byAnswer) == .pass)
        #expect(await checks.run(.http(url: url, expect: 200...299, body: "ready"), timeout: Self.byAnswer)
            == .fail("\(url): the body lacks \"ready\""))
        let down = "http://127.0.0.1:\(brokenPort)/"
        #expect(await checks.run(.http(url: down, expect: 200...299, body: nil), timeout: Self.byAnswer) == .fail("\(down): status 503"))
        #expect(await checks.run(.http(url: down, expect: 500...503, body: nil), timeout: Self.byAnswer) == .pass)
    }

    @Test func httpFailsWithTheReasonWhenRefusedAndTimesOutWhenNoAnswerComes() async throws {
        // Bound but not listening: refused within connect().
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        let closedPort = bindToAnyPort(holder)
        let refused = "http://127.0.0.1:\(closedPort)/"
        #expect(await checks.run(.http(url: refused, expect: 200...299, body: nil), timeout: Self.byAnswer)
            == .fail("\(refused): connect: Connection refused"))
        // Listening but never accepting nor answering: the deadline decides, and the check's socket is closed.
        let silent = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(silent) }
        let silentPort = bindToAnyPort(silent)
        listen(silent, 8)
        let url = "http://127.0.0.1:\(silentPort)/"
        #expect(await checks.run(.http(url: url, expect: 200...299, body: nil), timeout: .milliseconds(200)) == .fail("timed out after 0.2 seconds"))
        // The connection waits in the listener's queue; the check's end of it must have been closed.
        let accepted = accept(silent, nil, nil)
        defer { close(accepted) }
        var request = [UInt8](repeating: 0, count: 512)
        var ready = pollfd(fd: accepted, events: Int16(POLLIN), revents: 0)
        #expect(poll(&ready, 1, 2000) == 1)
        let sent = read(accepted, &request, request.count)
        #expect(sent > 0 && String(decoding: request.prefix(sent), as: UTF8.self).hasPrefix("GET / HTTP/1.0\r\n"))
        #expect(poll(&ready, 1, 2000) == 1 && read(accepted, &request, request.count) == 0, "the check left its socket open")
    }

    @Test func aLargeAnswerIsReadUpToTheLimitAndJudged() async throws {
        // More than the 64 KiB read and more than the socket wakes the check for: judged on what it read.
        let (big, port) = try await server(reply: "HTTP/1.0 200 OK\r\n\r\nready" + String(repeating: "x", count: 300_000))
        defer { _ = big.close() }
        let url = "http://127.0.0.1:\(port)/"
        #expect(await checks.run(.http(url: url, expect: 200...299, body: "ready"), timeout: .seconds(5)) == .pass)
    }

    @Test func httpAnswersAreJudgedByStatusLineAndBody() {
        func judge(_ answer: String, body: String? = nil) -> ProbeHysteresis.Result {
            ProbeChecks.judge(Array(answer.utf8), url: "u", expect: 200...299, body: body)
        }
        #expect(judge("HTTP/1.1 204 No Content\r\n\r\n") == .pass)
        #expect(judge("HTTP/1.0 301 Moved\r\nLocation: /x\r\n\r\n") == .fail("u: status 301"))
        #expect(judge("SSH-2.0-OpenSSH_9.2\r\n") == .fail("u: not an HTTP answer"))
        #expect(judge("") == .fail("u: not an HTTP answer"))
        #expect(judge("HTTP/1.0 200 OK\r\nX: ready\r\n\r\nstarting", body: "ready") == .fail("u: the body lacks \"ready\""))
        #expect(judge("HTTP/1.0 200 OK\r\n\r\nall ready", body: "ready") == .pass)
        #expect(judge("HTTP/1.0 200 OK\r\n\r\n", body: "") == .pass)
        #expect(judge("HTTP/1.0 200 OK\r\nno header end", body: "end") == .fail("u: the body lacks \"end\""))
    }

    @Test func execPassesOnExitZeroAndSaysTheExitStatusOtherwise() async {
        #expect(await checks.run(.exec(["true"]), timeout: Self.byAnswer) == .pass)
        #expect(await checks.run(.exec(["sh", "-c", "exit 3"]), timeout: Self.byAnswer) == .fail("sh exited with 3"))
        guard case .fail(let why) = await checks.run(.exec(["/nonexistent/check"]), timeout: Self.byAnswer) else {
            Issue.record("a missing command passed"); return
        }
        #expect(why.contains("/nonexistent/check"))
    }

    @Test func aHungCommandTimesOutAndItsWholeProcessGroupIsKilled() async throws {
        let marker = "/tmp/hc-probe-hung-\(getpid())"
        // The shell starts a grandchild that would outlive it; both must go. (No bound on the wall time here:
        // the suite's CPU-heavy simulations may hold the pool's threads; the result says it timed out.)
        let result = await checks.run(.exec(["sh", "-c", "sleep 30 & echo $! > \(marker); wait"]), timeout: .milliseconds(300))
        #expect(result == .fail("timed out after 0.3 seconds"))
        let grandchild = try #require(Int32(readLine(marker)))
        unlink(marker)
        try await Task.sleep(for: .milliseconds(100))
        // Gone, or a zombie waiting for whoever inherited it.
        let state = readLine("/proc/\(grandchild)/stat").split(separator: " ").dropFirst(2).first
        #expect(state == nil || state == "Z", "the grandchild \(grandchild) is still in state \(state ?? "?")")
    }

    @Test func execSaysTheSignalAndReapsOnlyItsOwnChild() async {
        let killed = await checks.run(.exec(["sh", "-c", "kill -KILL $$"]), timeout: Self.byAnswer)
        #expect(killed == .fail("sh killed by signal 9"), "\(killed)")
        // A child of the process that is not the probe's is left for its owner to reap.
        var other: pid_t = 0
        let arguments = [strdup("sleep"), strdup("0.3"), nil]
        defer { for argument in arguments { free(argument) } }
        #expect(posix_spawnp(&other, "sleep", nil, nil, arguments, environ) == 0)
        #expect(await checks.run(.exec(["true"]), timeout: Self.byAnswer) == .pass)
        var status: Int32 = -1
        #expect(waitpid(other, &status, 0) == other && status == 0)
    }

    @Test func aCommandStartsWithNoSignalIgnoredOrBlocked() async {
        // The agent ignores SIGPIPE, and test runners and service managers may block signals: none of it may
        // reach the check, or `cmd | head` and `kill -TERM` would behave otherwise than from a shell.
        signal(SIGPIPE, SIG_IGN)
        // sed reads its own dispositions and mask, which it has from the shell, which has them from the agent.
        // Signals 1-31 only: glibc keeps its own real-time signals 32 and 33 for itself.
        let clean = #"ign=$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/self/status); blk=$(sed -n 's/^SigBlk:[[:space:]]*//p' /proc/self/status); [ $((0x$ign & 0x7fffffff)) -eq 0 ] && [ $((0x$blk)) -eq 0 ]"#
        #expect(await checks.run(.exec(["sh", "-c", clean]), timeout: Self.byAnswer) == .pass)
        #expect(await checks.run(.exec(["sh", "-c", "kill -PIPE $$; exit 0"]), timeout: Self.byAnswer) == .fail("sh killed by signal 13"))
    }

    @Test func manyCommandsAtOnceAreAllReaped() async {
        let results = await withTaskGroup(of: ProbeHysteresis.Result.self) { group in
            for _ in 0..<40 { group.addTask { await checks.run(.exec(["true"]), timeout: .seconds(10)) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 40 && results.allSatisfy { $0 == .pass })
        // Other tests' children come and go; a zombie of ours that stays is a run nobody reaped.
        var lingering = zombieChildren()
        for _ in 0..<5 where !lingering.isEmpty {
            try? await Task.sleep(for: .milliseconds(100))
            lingering = lingering.intersection(zombieChildren())
        }
        #expect(lingering.isEmpty, "zombies left behind: \(lingering)")
    }

    @Test func aShorterDeadlineStartedLaterStillComesFirst() async throws {
        // The deadlines share one loop timer, armed for the earliest: the short one must re-arm it.
        let order = NIOLockedValueBox<[String]>([])
        let long = checks.start(.exec(["sleep", "2"]), timeout: .seconds(30))
        long.whenComplete { _ in order.withLockedValue { $0.append("long") } }
        let short = checks.start(.exec(["sleep", "30"]), timeout: .milliseconds(300))
        short.whenComplete { _ in order.withLockedValue { $0.append("short") } }
        #expect(try await short.get() == .fail("timed out after 0.3 seconds"))
        #expect(try await long.get() == .pass)
        #expect(order.withLockedValue { $0 } == ["short", "long"])
    }

    @Test func aFileMustExistAndBeFreshEnough() async throws {
        let path = "/tmp/hc-probe-file-\(getpid())"
        defer { unlink(path) }
        #expect(await checks.run(.file(path: path, maxAge: nil), timeout: Self.byAnswer) == .fail("\(path): No such file or directory"))
        close(open(path, O_CREAT | O_WRONLY, 0o644))
        #expect(await checks.run(.file(path: path, maxAge: .seconds(5)), timeout: Self.byAnswer) == .pass)
        var old = [timespec(tv_sec: time(nil) - 60, tv_nsec: 0), timespec(tv_sec: time(nil) - 60, tv_nsec: 0)]
        utimensat(AT_FDCWD, path, &old, 0)
        guard case .fail(let why) = await checks.run(.file(path: path, maxAge: .seconds(5)), timeout: Self.byAnswer) else {
            Issue.record("a stale file passed"); return
        }
        #expect(why.hasPrefix("\(path) is 6"), "\(why)")
    }

    @Test func unitAsksTheBusAndFailsWithTheState() async {
        // The bus answer comes through a task; the suite's simulations can keep the task pool busy for tens of
        // seconds while the loop's deadline keeps time, so the deadline here is far off.
        let timeout = Duration.seconds(300)
        #expect(await checks.run(.unit("up.service"), timeout: timeout) == .pass)
        #expect(await checks.run(.unit("down.service"), timeout: timeout) == .fail("down.service is failed"))
        #expect(await checks.run(.unit("gone.service"), timeout: timeout) == .fail("cannot read gone.service"))
    }

    @Test func urlsAreSplitIntoHostPortAndPath() {
        func parts(_ url: String) -> String? { HTTPTarget(url).map { "\($0.host) \($0.port) \($0.path)" } }
        #expect(parts("http://127.0.0.1:8080/healthz") == "127.0.0.1 8080 /healthz")
        #expect(parts("http://[::1]:6443") == "::1 6443 /")
        #expect(parts("http://localhost/x?y=1") == "localhost 80 /x?y=1")
        #expect(HTTPTarget("https://localhost/") == nil)
        #expect(HTTPTarget("http://host:99999/") == nil)
    }
}

/// Binds a socket to a free loopback port and returns the port.
func bindToAnyPort(_ fd: Int32) -> Int {
    var address = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: 0, sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            _ = bind(fd, $0, length)
            _ = getsockname(fd, $0, &length)
        }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// This process's children that have exited and not been reaped.
func zombieChildren() -> Set<Int32> {
    guard let directory = opendir("/proc") else { return [] }
    defer { closedir(directory) }
    var zombies: Set<Int32> = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard let pid = Int32(name) else { continue }
        // "PID (COMMAND) STATE PPID ...": the command may hold spaces, so read after its closing parenthesis.
        let stat = readLine("/proc/\(pid)/stat")
        guard let close = stat.lastIndex(of: ")") else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if fields.count > 1, fields[0] == "Z", Int32(fields[1]) == getpid() { zombies.insert(pid) }
    }
    return zombies
}

/// The first line of a small file (no Foundation in these targets).
func readLine(_ path: String) -> String {
    guard let file = fopen(path, "r") else { return "" }
    defer { fclose(file) }
    var buffer = [CChar](repeating: 0, count: 64)
    guard fgets(&buffer, 64, file) != nil else { return "" }
    let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return text.split(separator: "\n").first.map(String.init) ?? ""
}
