// hcctl events over the real control socket: the first reply, then each event as one line, until the client goes.
import HomecloudSchema
import Logging
import NIOPosix
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import AgentRuntime

@Suite struct EventStreamTests {
    @Test func aFollowerGetsEachEventOnItsOwnLineAndLeavesNoFollowerBehind() async throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/hc.sock"
        let config = AgentConfig(node: "n1", socket: path, stateDir: directory.path + "/state", desired: directory.path + "/missing.yaml")
        let logger = Logger(label: "test")
        let channels = AgentChannels()
        let keeper = DocumentKeeper(config: config, logger: logger)
        let hub = EventHub(node: "n1", channels: channels, refusals: keeper.refusals)
        let server = try await ControlServer.bind(path: path, commands: ControlCommands(keeper: keeper, channels: channels, handles: .notRunning, events: hub),
                                                  group: MultiThreadedEventLoopGroup.singleton, logger: logger, requestDeadline: .milliseconds(200))
        let serving = Task { try await server.run() }
        defer { serving.cancel() }

        let client = try RawClient(path: path)
        client.send(Array(#"{"v":1,"command":"events"}"#.utf8) + [10])
        let firstLine = try await offPool { client.readLines(count: 1) }
        let first = try ControlReply(json: JSONValue.parse(Array((firstLine.first ?? "").utf8)))
        #expect(first.ok && first.message?.contains("n1") == true)
        for _ in 0 ..< 50 where hub.followerCount == 0 { try await Task.sleep(for: .milliseconds(10)) }
        try await Task.sleep(for: .milliseconds(300))  // past the idle deadline: a streaming connection stays
        hub.emit([ClusterEvent(seq: 1, time: 5, node: "n1", kind: .memberDead, subject: "n3", state: "dead", previous: "suspect"),
                  ClusterEvent(seq: 2, time: 6, node: "n1", kind: .vipTransition, subject: "web", state: "master", previous: "backup")])
        let lines = try await offPool { client.readLines(count: 2) }
        try #require(lines.count == 2)
        let one = try ControlReply(json: JSONValue.parse(Array(lines[0].utf8)))
        let two = try ControlReply(json: JSONValue.parse(Array(lines[1].utf8)))
        #expect(one.event?.kind == .memberDead && two.event?.subject == "web")
        shutdown(client.fd, Int32(SHUT_RDWR))
        for _ in 0 ..< 100 where hub.followerCount > 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(hub.followerCount == 0, "a closed client leaves no follower")
    }
}

@Suite struct WebhookPostTests {
    @Test func aStatusLineIsJudged() {
        #expect(WebhookService.judge(Array("HTTP/1.1 204 No Content\r\n".utf8)) == nil)
        #expect(WebhookService.judge(Array("HTTP/1.0 500 Oops\r\n".utf8)) == "status 500")
        #expect(WebhookService.judge([]) == "the connection closed without an answer")
        #expect(WebhookService.judge(Array("SSH-2.0\r\n".utf8)) == "not an HTTP answer")
    }

    @Test func nothingListeningIsAFailureNotAHang() async {
        let failure = await WebhookService.post("{}", to: WebhookTarget("http://127.0.0.1:1/x")!, group: MultiThreadedEventLoopGroup.singleton)
        #expect(failure != nil)
    }
}
