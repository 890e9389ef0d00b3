// POSTs the cluster's events to the document's `notify: { webhook: URL }` as JSON, one event per request, in
// order: this board's own events, and the cluster-wide ones only when it is the board the rule picks
// (WebhookOutbox). A bounded queue, a few retries, then the event is dropped and counted. Plain HTTP from the
// agent itself; https:// through Debian's curl, a process per event on the probes' loop (as a hook runs), so
// that no TLS library lives in the agent's memory and no thread of the agent waits on it.
#if canImport(Glibc)
import Glibc
#endif
import HomecloudSchema
import Logging
import Metrics
import NIOCore
import NIOPosix
import PartWiring
import PartLifecycle
import Probes
import Synchronization

struct WebhookService: Service {
    let node: String
    let hub: EventHub
    let documents: LatestValue<AcceptedDocument>
    let members: LatestValue<[MemberStatus]>
    let group: EventLoopGroup
    /// Runs curl for an https:// webhook.
    let probes: ProbeHandle
    let problems: PartProblems
    let logger: Logger

    /// One request's whole budget: connect, send, and the status line back.
    static let requestTimeout = Duration.seconds(5)

    private let sent = Counter(label: "hcagent_webhook_events_total", dimensions: [("result", "sent")])
    private let dropped = Counter(label: "hcagent_webhook_events_total", dimensions: [("result", "dropped")])
    /// Each try that failed (an event is dropped after WebhookOutbox.attempts of them).
    private let failedTries = Counter(label: "hcagent_webhook_failed_tries_total")

    /// What the reading tasks and the sender share.
    final class Shared: Sendable {
        let outbox = Mutex(WebhookOutbox())
    }

    func run() async throws {
        let shared = Shared()
        let (kicks, kick) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let events = hub.follow(), accepted = documents.follow()
        let node = self.node, members = self.members, dropped = self.dropped, logger = self.logger, documents = self.documents
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await _ in accepted { kick.yield() }
            }
            group.addTask {
                for await event in events {
                    guard documents.value?.document.webhook != nil else { continue }
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

    /// Sends what waits, oldest first, while there is a webhook (the one of the document in force when it is
    /// sent: an event of the document's acceptance goes to that document's webhook); a failure waits its retry
    /// delay in place, so the order holds.
    private func deliver(_ shared: Shared) async {
        while !Task.isCancelled, let url = documents.value?.document.webhook, let event = shared.outbox.withLock({ $0.next }) {
            let body = event.json.serialized
            if url.secure && access(WebhookCurl.path, X_OK) != 0 {
                // Degrade, never stall: one log line and one status line; what waits is dropped, not retried.
                let lost = shared.outbox.withLock { outbox in
                    defer { while outbox.next != nil { outbox.onDelivered() } }
                    return outbox.waiting.count
                }
                dropped.increment(by: lost)
                problems.report("webhook", "webhook: \(url) is https:// and needs \(WebhookCurl.path), which is missing (apt install curl): events are dropped")
                return
            }
            let outcome = url.secure ? await Self.postThroughCurl(body, to: url, probes: probes) : await Self.post(body, to: url, group: group)
            switch outcome {
            case nil:
                shared.outbox.withLock { $0.onDelivered() }
                sent.increment()
                problems.clear("webhook", message: "webhook: \(url) answers again")
            case let failure?:
                failedTries.increment()
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

    /// One POST through curl (https://): the config and the event on pipes, curl killed if it outlives its own
    /// max-time; nil when it exited 0 (a 2xx), else why not.
    static func postThroughCurl(_ body: String, to url: WebhookTarget, probes: ProbeHandle) async -> String? {
        let config = WebhookCurl.config(for: url, timeout: requestTimeout)
        let failure = await probes.runCommand(WebhookCurl.argv, environment: [], inputs: [0: Array(body.utf8), WebhookCurl.configDescriptor: Array(config.utf8)],
                                              timeout: requestTimeout + .seconds(2))
        guard let failure else { return nil }
        // ProcessRun's words for an exit status: "/usr/bin/curl exited with N".
        let exited = WebhookCurl.path + " exited with "
        if failure.hasPrefix(exited), let status = Int(failure.dropFirst(exited.count)) {
            return WebhookCurl.explain(exitStatus: status, caFile: url.caFile)
        }
        return failure
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
