// The asked board's side of hcctl restart: each request once (also after the agent restarted), VIPs handed
// over before the restart, a handover that does not happen is a failure, and a dead coordinator changes nothing.
import Testing
@testable import Gossip

private func ask(_ id: String, by: String = "n1", units: [String] = ["k3s.service"], successor: String? = nil) -> RestartAsk {
    RestartAsk(by: by, request: RestartRequest(id: id, units: units, nodes: ["n2"], successor: successor))
}

private func all(_ request: RestartRequest) -> [String] { request.units }

@Suite struct RestartOrdersTests {
    @Test func aRequestIsActedOnOnceAndReported() {
        var orders = RestartOrders(node: "n2")
        let first = orders.onAsked([ask("r1")], units: all, held: [], now: .zero)
        #expect(first.contains(.remember(["r1"])))
        #expect(first.contains(.report(RestartReport(id: "r1", outcome: .running))))
        #expect(first.contains(.restart(id: "r1", units: ["k3s.service"])))
        // Still asked while it runs and after: nothing more.
        #expect(orders.onAsked([ask("r1")], units: all, held: [], now: .seconds(1)).isEmpty)
        #expect(orders.onRestarted(id: "r1", failure: nil, now: .seconds(2)).contains(.report(RestartReport(id: "r1", outcome: .done))))
        #expect(orders.onAsked([ask("r1")], units: all, held: [], now: .seconds(3)).isEmpty)
    }

    @Test func aRestartedAgentDoesNotRepeatAKeptRequest() {
        var orders = RestartOrders(node: "n2", actedOn: ["r1"])
        #expect(orders.onAsked([ask("r1")], units: all, held: [], now: .zero).isEmpty)
        #expect(!orders.onAsked([ask("r2")], units: all, held: [], now: .zero).isEmpty)
    }

    @Test func onlyTheLastIDsAreKept() {
        var orders = RestartOrders(node: "n2")
        for index in 0..<(RestartOrders.keptIDs + 4) {
            _ = orders.onAsked([ask("r\(index)")], units: { _ in [] }, held: [], now: .zero)
        }
        #expect(orders.actedOn.count == RestartOrders.keptIDs)
        #expect(orders.actedOn.last == "r\(RestartOrders.keptIDs + 3)")
    }

    @Test func aVIPHolderHandsItsVIPsOverBeforeItsUnitsRestart() {
        var orders = RestartOrders(node: "n2")
        let first = orders.onAsked([ask("r1", successor: "n3")], units: all, held: ["web", "dns"], now: .zero)
        #expect(first.contains(.handOver(vips: ["dns", "web"], to: "n3")))
        #expect(!first.contains { if case .restart = $0 { true } else { false } })
        #expect(orders.onHeld(["web"], now: .seconds(1)).isEmpty)
        #expect(orders.onHeld([], now: .seconds(2)).contains(.restart(id: "r1", units: ["k3s.service"])))
        #expect(orders.onHeld([], now: .seconds(3)).isEmpty)
    }

    @Test func vipsNotHandedOverInTimeMeanNoRestart() {
        var orders = RestartOrders(node: "n2")
        _ = orders.onAsked([ask("r1")], units: all, held: ["web"], now: .zero)
        #expect(orders.onTick(now: RestartOrders.handoverWindow).isEmpty)
        let late = orders.onTick(now: RestartOrders.handoverWindow + .seconds(1))
        #expect(late.contains(.report(RestartReport(id: "r1", outcome: .failed("web not handed over within 15.0 s: not restarted")))))
        #expect(orders.onHeld([], now: .seconds(20)).isEmpty)
        #expect(!orders.isBusy)
    }

    @Test func aSuccessorThatIsThisBoardIsNone() {
        var orders = RestartOrders(node: "n2")
        #expect(orders.onAsked([ask("r1", successor: "n2")], units: all, held: ["web"], now: .zero).contains(.handOver(vips: ["web"], to: nil)))
    }

    @Test func aFailedRestartIsReported() {
        var orders = RestartOrders(node: "n2")
        _ = orders.onAsked([ask("r1")], units: all, held: [], now: .zero)
        #expect(orders.onRestarted(id: "r1", failure: "k3s.service failed after its restart", now: .seconds(1))
            .contains(.report(RestartReport(id: "r1", outcome: .failed("k3s.service failed after its restart")))))
    }

    @Test func unitsThatDoNotRunHereAreDoneAtOnce() {
        var orders = RestartOrders(node: "n2")
        let actions = orders.onAsked([ask("r1")], units: { _ in [] }, held: ["web"], now: .zero)
        #expect(actions.contains(.report(RestartReport(id: "r1", outcome: .done))))
        #expect(!orders.isBusy)
    }

    @Test func aDeadCoordinatorsRequestFinishesAndNothingFollows() {
        // The asked board finishes what it started; the request is gone (its asker dead): nothing more is done.
        var orders = RestartOrders(node: "n2")
        _ = orders.onAsked([ask("r1")], units: all, held: [], now: .zero)
        #expect(orders.onAsked([], units: all, held: [], now: .seconds(1)).isEmpty)
        #expect(orders.onRestarted(id: "r1", failure: nil, now: .seconds(2)).contains(.report(RestartReport(id: "r1", outcome: .done))))
        #expect(orders.onAsked([], units: all, held: [], now: .seconds(3)).isEmpty)
    }

    @Test func anotherRequestWaitsForTheOneRunning() {
        var orders = RestartOrders(node: "n2")
        _ = orders.onAsked([ask("r1")], units: all, held: [], now: .zero)
        #expect(orders.onAsked([ask("r1"), ask("r9", by: "n3")], units: all, held: [], now: .seconds(1)).isEmpty)
        _ = orders.onRestarted(id: "r1", failure: nil, now: .seconds(2))
        #expect(orders.onAsked([ask("r1"), ask("r9", by: "n3")], units: all, held: [], now: .seconds(3)).contains(.restart(id: "r9", units: ["k3s.service"])))
    }
}

@Suite struct RestartRequestsTests {
    private func member(_ name: String, _ state: GossipMember.State = .alive) -> GossipMember {
        GossipMember(name: name, address: GossipAddress(ipv4: 10, 0, 0, 1, port: 7964), incarnation: 1, state: state, since: .zero)
    }

    private func asking(_ nodes: [String]) -> NodeMetadata {
        var metadata = NodeMetadata(version: "1", generation: 1, hash: 1, roles: [])
        metadata.restartRequest = RestartRequest(id: "r1", units: ["k3s.service"], nodes: nodes, successor: "n3")
        return metadata
    }

    @Test func onlyAnAliveMemberThatSignedItIsHeard() {
        #expect(RestartRequests.asked(of: "n2", by: [(member("n1"), asking(["n2"]), true)]).map(\.by) == ["n1"])
        #expect(RestartRequests.asked(of: "n2", by: [(member("n1"), asking(["n3"]), true)]).isEmpty)
        #expect(RestartRequests.asked(of: "n2", by: [(member("n1"), asking(["n2"]), false)]).isEmpty, "not sealed by n1's key")
        for state in [GossipMember.State.suspect, .dead, .left] {
            #expect(RestartRequests.asked(of: "n2", by: [(member("n1", state), asking(["n2"]), true)]).isEmpty, "\(state)")
        }
        #expect(RestartRequests.asked(of: "n2", by: [(member("n2"), asking(["n2"]), true)]).isEmpty, "its own metadata")
    }

    @Test func requestsAndReportsSurviveTheWire() {
        var metadata = asking(["n2"])
        metadata.restartReport = RestartReport(id: "r0", outcome: .failed("k3s.service failed after its restart"))
        let decoded = NodeMetadata(metadata.bytes)
        #expect(decoded?.restartRequest == metadata.restartRequest)
        #expect(decoded?.restartReport == metadata.restartReport)
        #expect(String(decoding: metadata.bytes, as: UTF8.self).contains(#""rq":{"i":"r1","u":["k3s.service"],"n":["n2"],"s":"n3"}"#))
        for outcome in [RestartReport.Outcome.running, .done] {
            metadata.restartReport = RestartReport(id: "r0", outcome: outcome)
            #expect(NodeMetadata(metadata.bytes)?.restartReport == metadata.restartReport)
        }
        #expect(RestartReport(id: "r0", text: "nonsense") == nil)
    }
}
