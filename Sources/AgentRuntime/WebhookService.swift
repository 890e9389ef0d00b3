// POSTs the cluster's events to the document's `notify: { webhook: URL }` as JSON, one event per request, in
// order: this board's own events, and the cluster-wide ones only when it is the board the rule picks
// (WebhookOutbox). A bounded queue, a few retries, then the event is dropped and counted; plain HTTP only.
import HomecloudSchema
import Logging
import Metrics
import NIOCore
import NIOPosix
import PartWiring
import PartLifecycle
import Synchronization

struct WebhookService: Service {
    let node: String
    let hub: EventHub
    let documents: LatestValue<AcceptedDocument>
    let members: LatestValue<[MemberStatus]>
    let group: EventLoopGroup
    let problems: PartProblems
    let logger: Logger

    /// One request's whole budget: connect, send, and the status line back.
    static let requestTimeout = Duration.seconds(5)

    private let sent = Counter(label: "hcagent_webhook_events_total", dimensions: [("result", "sent")])
    private let dropped = Counter(label: "hcagent_webhook_events_total", dimensions: [("result", "dropped")])

    /// What the reading tasks and the sender share.
    final class Shared: Sendable {
        let outbox = Mutex(WebhookOutbox())
        let target = Mutex<WebhookTarget?>(nil)
    }

    func run() async throws {
        let shared = Shared()
        let (kicks, kick) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let events = hub.follow(), accepted = documents.follow()
        let node = self.node, members = self.members, dropped = self.dropped, logger = self.logger
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await document in accepted {
                    shared.target.withLock { $0 = document.document.webhook }
                    kick.yield()
                }
            }
            group.addTask {
                for await event in events {
                    guard shared.target.withLock({ $0 }) != nil else { continue }
                    if !shared.outbox.withLock({ $0.offer(event, node: node, members: members.value ?? []) }) {
                        dropped.increment()
                        logger.warning("webhook: \(WebhookOutbox.capacity) events wait already; \(event.kind.rawValue) \(event.subject) dropped")
                    }
                    kick.yield()
                }
            }
            await cancelWhenGracefulShutdown {
                for await _ in kicks {
                    await deliver(shared)
                }
            }
            group.cancelAll()
        }
    }

    /// Sends what waits, oldest first, while there is a webhook; a failure waits its retry delay in place, so
    /// the order holds.
    private func deliver(_ shared: Shared) async {
        while !Task.isCancelled, let url = shared.target.withLock({ $0 }), let event = shared.outbox.withLock({ $0.next }) {
            let body = event.json.serialized
            switch await Self.post(body, to: url, group: group) {
            case nil:
                shared.outbox.withLock { $0.onDelivered() }
                sent.increment()
                problems.clear("webhook", message: "webhook: \(url) answers again")
            case let failure?:
                switch shared.outbox.withLock({ $0.onFailed() }) {
                case .retry(let delay)?:
                    logger.debug("webhook: \(url): \(failure); retry in \(delay)")
                    try? await Task.sleep(for: delay)
                case .dropped(let lost)?:
                    dropped.increment()
                    problems.report("webhook", "webhook: \(url): \(failure); event \(lost.kind.rawValue) \(lost.subject) dropped after \(WebhookOutbox.attempts) tries")
                case nil:
                    return
                }
            }
        }
    }

    /// One POST; nil when the answer's status is 2xx, else why not.
    static func post(_ body: String, to url: WebhookTarget, group: EventLoopGroup) async -> String? {
        let hostHeader = url.host.contains(":") ? "[\(url.host)]:\(url.port)" : "\(url.host):\(url.port)"
        let request = "POST \(url.path) HTTP/1.1\r\nHost: \(hostHeader)\r\nUser-Agent: hcagent\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        do {
            return try await withThrowingTaskGroup(of: String?.self) { tasks in
                tasks.addTask {
                    let channel = try await ClientBootstrap(group: group)
                        .connectTimeout(.seconds(Int64(requestTimeout.components.seconds)))
                        .connect(host: url.host, port: url.port) { channel in
                            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
                        }
                    return try await channel.executeThenClose { inbound, outbound in
                        try await outbound.write(ByteBuffer(string: request))
                        var answer: [UInt8] = []
                        for try await chunk in inbound {
                            answer += chunk.readableBytesView
                            if answer.contains(UInt8(ascii: "\n")) || answer.count > 1024 { break }
                        }
                        return Self.judge(answer)
                    }
                }
                tasks.addTask {
                    try await Task.sleep(for: requestTimeout)
                    return "no answer within \(requestTimeout)"
                }
                let first = try await tasks.next() ?? "no answer"
                tasks.cancelAll()
                return first
            }
        } catch {
            return "\(error)"
        }
    }

    /// nil for a 2xx status line, else why not.
    static func judge(_ answer: [UInt8]) -> String? {
        let line = answer.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }
        let words = line.split(separator: UInt8(ascii: " "))
        guard words.count >= 2, words[0].starts(with: Array("HTTP/".utf8)), let status = Int(String(decoding: words[1], as: UTF8.self)) else {
            return answer.isEmpty ? "the connection closed without an answer" : "not an HTTP answer"
        }
        return (200...299).contains(status) ? nil : "status \(status)"
    }
}
