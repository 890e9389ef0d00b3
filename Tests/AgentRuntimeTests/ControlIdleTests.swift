// Idle and slow control connections are dropped after the request deadline, so they cannot lock hcctl out.
@testable import AgentRuntime
import HomecloudSchema
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import Metrics
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct ControlIdleTests {
    func startServer(_ directory: TemporaryDirectory, deadline: TimeAmount) async throws -> (String, Task<Void, any Error>) {
        let socketPath = directory.path + "/hc.sock"
        let config = AgentConfig(node: "n1", socket: socketPath, stateDir: directory.path + "/state", desired: directory.path + "/missing.yaml")
        let logger = Logger(label: "test")
        let server = try await ControlServer.bind(
            path: socketPath, commands: ControlCommands(keeper: DocumentKeeper(config: config, logger: logger)),
            group: MultiThreadedEventLoopGroup.singleton, logger: logger, requestDeadline: deadline)
        return (socketPath, Task { try await server.run() })
    }

    @Test func idleConnectionsFillingEverySlotAreDroppedAndStatusAnswers() async throws {
        let directory = TemporaryDirectory()
        let (socketPath, serving) = try await startServer(directory, deadline: .milliseconds(400))
        defer { serving.cancel() }

        // Every slot taken by a client that never sends a byte, and one that trickles bytes without a newline.
        var idle: [RawClient] = []
        for _ in 0..<ControlServer.maxConnections { idle.append(try await offPool { try RawClient(path: socketPath) }) }
        let slowloris = try await offPool { try RawClient(path: socketPath) }
        let trickling = Task.detached {
            for _ in 0..<30 {
                var byte = UInt8(ascii: "x")
                if Glibc.send(slowloris.fd, &byte, 1, Int32(MSG_NOSIGNAL)) <= 0 { return true }
                try? await Task.sleep(for: .milliseconds(50))
            }
            return false
        }
        #expect(await trickling.value, "the slowloris was still connected after 1.5 s")
        let first = idle[0]
        #expect(try await offPool { first.isClosedByServer() })

        let client = try await offPool { try RawClient(path: socketPath) }
        client.send(Array("{\"v\":1,\"id\":3,\"command\":\"status\"}\n".utf8))
        let replies = try await offPool { client.readLines(count: 1) }
        #expect(replies.first?.contains(#""id":3"#) == true)
        #expect(replies.first?.contains(#""node":"n1""#) == true)
    }

    @Test func aConnectionThatAsksAgainWithinTheDeadlineStays() async throws {
        let directory = TemporaryDirectory()
        let (socketPath, serving) = try await startServer(directory, deadline: .seconds(2))
        defer { serving.cancel() }
        let client = try await offPool { try RawClient(path: socketPath) }
        // Eight requests 400 ms apart: 3.2 s in all, past the deadline, each well within it of the reply before.
        // The whole exchange runs on one thread off the task pool: in a busy test run the other suites'
        // simulations hold the cooperative threads for seconds, and a hop back to this task between a reply and
        // the next request once waited past the deadline (the connection dropped, 7 of 8 requests unanswered).
        let answered = try await offPool {
            (1...8).map { id -> Bool in
                client.send(Array("{\"v\":1,\"id\":\(id),\"command\":\"status\"}\n".utf8))
                let replied = client.readLines(count: 1).first?.contains("\"id\":\(id)") == true
                usleep(400_000)
                return replied
            }
        }
        #expect(answered == Array(repeating: true, count: 8))
    }

    @Test func aStreamingConnectionIsNotDroppedForIdleness() async throws {
        let channel = EmbeddedChannel()
        let counter = Counter(label: "test_idle_dropped")
        try channel.pipeline.syncOperations.addHandler(RequestDeadlineHandler(limit: .milliseconds(100), dropped: counter))
        try await channel.connect(to: SocketAddress(unixDomainSocketPath: "/tmp/x")).get()
        try channel.writeInbound(LineFrame.line(ByteBuffer(string: "{}")))
        channel.pipeline.triggerUserOutboundEvent(ControlConnectionEvent.streaming, promise: nil)
        try channel.writeOutbound(ByteBuffer(string: "event\n"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(channel.isActive)
        // Without the streaming event, the same silence drops it.
        let plain = EmbeddedChannel()
        try plain.pipeline.syncOperations.addHandler(RequestDeadlineHandler(limit: .milliseconds(100), dropped: counter))
        try await plain.connect(to: SocketAddress(unixDomainSocketPath: "/tmp/x")).get()
        plain.embeddedEventLoop.advanceTime(by: .milliseconds(150))
        #expect(!plain.isActive)
    }
}
