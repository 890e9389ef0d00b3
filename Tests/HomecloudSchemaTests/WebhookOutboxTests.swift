// The webhook's rule: its URL, which board sends a cluster-wide event, the bounded queue, the bounded retries.
import HomecloudSchema
import HomecloudYAML
import Testing

private func event(_ kind: ClusterEvent.Kind, _ subject: String, seq: Int = 1) -> ClusterEvent {
    ClusterEvent(seq: seq, time: 0, node: "n2", kind: kind, subject: subject)
}

private let members = [MemberStatus(name: "n1", address: "a", state: "dead"), MemberStatus(name: "n2", address: "b", state: "alive"),
                       MemberStatus(name: "n3", address: "c", state: "alive")]

@Suite struct WebhookOutboxTests {
    @Test func urlsArePlainHTTPWithAHostAndAPort() {
        #expect(WebhookTarget("http://192.168.1.5:8080/hcagent") == WebhookTarget("http://192.168.1.5:8080/hcagent"))
        #expect(WebhookTarget("http://hooks.lan")?.port == 80)
        #expect(WebhookTarget("http://hooks.lan")?.path == "/")
        #expect(WebhookTarget("http://[fd00::5]:81/x")?.host == "fd00::5")
        #expect(WebhookTarget("http://[fd00::5]:81/x")?.description == "http://[fd00::5]:81/x")
        for bad in ["http://", "http://host:0/", "http://host:http/", "ftp://x", "http://user@host/"] {
            #expect(WebhookTarget(bad) == nil, "\(bad)")
        }
    }

    @Test func theDocumentNamesItAndABadURLIsLocated() throws {
        let base = "generation: 1\ncluster: c\n"
        let parsed = try DesiredStateParser.parse(base + "notify: { webhook: \"http://10.0.0.5:8080/hc\" }\n", file: "d.yaml").get()
        #expect(parsed.webhook?.description == "http://10.0.0.5:8080/hc")
        guard case .failure(let rejected) = DesiredStateParser.parse(base + "notify:\n  webhook: ftp://x/\n", file: "d.yaml") else {
            Issue.record("an ftp webhook was taken")
            return
        }
        #expect(rejected.diagnostics.map(\.description) == [
            "d.yaml:4:12: notify.webhook: expected an http:// or https:// URL such as http://192.168.1.5:8080/hcagent, found \"ftp://x/\" (printable, no space, quote or backslash)",
        ])
    }

    @Test func aClusterWideEventIsSentByTheLowestNamedLiveMemberOnly() {
        #expect(WebhookOutbox.sends(event(.memberDead, "n1"), node: "n2", members: members))
        #expect(!WebhookOutbox.sends(event(.memberDead, "n1"), node: "n3", members: members))
        #expect(WebhookOutbox.sends(event(.vipTransition, "web"), node: "n3", members: members), "a board's own events: always")
        #expect(WebhookOutbox.sends(event(.memberDead, "n1"), node: "n9", members: []), "alone, it is the lowest")
    }

    @Test func eventsGoInOrderWithBoundedRetriesAndABoundedQueue() {
        var outbox = WebhookOutbox()
        var taken = outbox.offer(event(.vipTransition, "a", seq: 1), node: "n2", members: members)
        #expect(taken)
        taken = outbox.offer(event(.memberDead, "n1", seq: 2), node: "n3", members: members)
        #expect(taken && outbox.waiting.count == 1, "not this board's to send: accepted, not queued")
        taken = outbox.offer(event(.vipTransition, "b", seq: 3), node: "n2", members: members)
        #expect(outbox.next?.subject == "a")
        var afterwards: [WebhookOutbox.AfterFailure?] = []
        for _ in 0 ..< 4 { afterwards.append(outbox.onFailed()) }
        #expect(afterwards == [.retry(after: .seconds(1)), .retry(after: .seconds(2)), .retry(after: .seconds(4)),
                               .dropped(event(.vipTransition, "a", seq: 1))])
        #expect(outbox.next?.subject == "b", "the next event gets its own tries")
        let retry = outbox.onFailed()
        #expect(retry == .retry(after: .seconds(1)))
        outbox.onDelivered()
        let none = outbox.onFailed()
        #expect(outbox.next == nil && none == nil)
        var accepted = 0
        for index in 0 ..< WebhookOutbox.capacity where outbox.offer(event(.probeFailing, "p", seq: index), node: "n2", members: members) { accepted += 1 }
        #expect(accepted == WebhookOutbox.capacity)
        taken = outbox.offer(event(.probeFailing, "p", seq: 99), node: "n2", members: members)
        #expect(!taken, "full: dropped")
    }
}
