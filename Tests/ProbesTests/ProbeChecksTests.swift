// The checks against real things on this machine: a listener on loopback, a tiny HTTP server, commands and
// files; a hung command is killed with its whole process group at the timeout.
import Glibc
import HomecloudSchema
import NIOCore
import NIOPosix
import Testing
@testable import Probes

@Suite struct ProbeChecksTests {
    let checks = ProbeChecks(group: MultiThreadedEventLoopGroup.singleton) { name in
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
            context.writeAndFlush(NIOAny(ByteBuffer(string: reply))).whenComplete { _ in context.close(promise: nil) }
        }
    }

    @Test func tcpPassesOnAListenerAndFailsWithTheReasonWithout() async throws {
        let (channel, port) = try await server(reply: "")
        #expect(await checks.run(.tcp(host: "127.0.0.1", port: port), timeout: .seconds(2)) == .pass)
        try await channel.close()
        // A port bound but not listening refuses, and no other test can take it meanwhile.
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var address = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: 0, sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                _ = bind(holder, $0, length)
                _ = getsockname(holder, $0, &length)
            }
        }
        let closedPort = Int(UInt16(bigEndian: address.sin_port))
        guard case .fail(let why) = await checks.run(.tcp(host: "127.0.0.1", port: closedPort), timeout: .seconds(2)) else {
            Issue.record("a closed port passed"); return
        }
        #expect(why.contains("127.0.0.1:\(closedPort)") && why.contains("refused"), "\(why)")
        // Refused within connect() itself, so decided without a channel.
        guard case .fail(let atOnce)? = ProbeChecks.connectAtOnce("127.0.0.1", closedPort) else {
            Issue.record("a refused loopback connect was not decided at once"); return
        }
        #expect(atOnce.contains("refused"), "\(atOnce)")
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
        #expect(await checks.run(.http(url: url, expect: 200...299, body: "status: ok"), timeout: .seconds(2)) == .pass)
        #expect(await checks.run(.http(url: url, expect: 200...299, body: "ready"), timeout: .seconds(2))
            == .fail("\(url): the body lacks \"ready\""))
        let down = "http://127.0.0.1:\(brokenPort)/"
        #expect(await checks.run(.http(url: down, expect: 200...299, body: nil), timeout: .seconds(2)) == .fail("\(down): status 503"))
        #expect(await checks.run(.http(url: down, expect: 500...503, body: nil), timeout: .seconds(2)) == .pass)
    }

    @Test func execPassesOnExitZeroAndSaysTheExitStatusOtherwise() async {
        #expect(await checks.run(.exec(["true"]), timeout: .seconds(2)) == .pass)
        #expect(await checks.run(.exec(["sh", "-c", "exit 3"]), timeout: .seconds(2)) == .fail("sh exited with 3"))
        guard case .fail(let why) = await checks.run(.exec(["/nonexistent/check"]), timeout: .seconds(2)) else {
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

    @Test func aFileMustExistAndBeFreshEnough() async throws {
        let path = "/tmp/hc-probe-file-\(getpid())"
        defer { unlink(path) }
        #expect(await checks.run(.file(path: path, maxAge: nil), timeout: .seconds(1)) == .fail("\(path): No such file or directory"))
        close(open(path, O_CREAT | O_WRONLY, 0o644))
        #expect(await checks.run(.file(path: path, maxAge: .seconds(5)), timeout: .seconds(1)) == .pass)
        var old = [timespec(tv_sec: time(nil) - 60, tv_nsec: 0), timespec(tv_sec: time(nil) - 60, tv_nsec: 0)]
        utimensat(AT_FDCWD, path, &old, 0)
        guard case .fail(let why) = await checks.run(.file(path: path, maxAge: .seconds(5)), timeout: .seconds(1)) else {
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

/// The first line of a small file (no Foundation in these targets).
func readLine(_ path: String) -> String {
    guard let file = fopen(path, "r") else { return "" }
    defer { fclose(file) }
    var buffer = [CChar](repeating: 0, count: 64)
    guard fgets(&buffer, 64, file) != nil else { return "" }
    return String(cString: buffer).split(separator: "\n").first.map(String.init) ?? ""
}
