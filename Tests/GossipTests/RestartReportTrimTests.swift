// An asked board's last restart report ("rd") leaves its gossip metadata once it is final and old (the roll's
// request "rq" already leaves the coordinator's metadata when the roll ends); what runs meanwhile is shown.
import Testing
@testable import Gossip

@Suite struct RestartReportTrimTests {
    private func ask(_ id: String) -> RestartAsk {
        RestartAsk(by: "n1", request: RestartRequest(id: id, units: ["k3s.service"], nodes: ["n2"]))
    }

    @Test func aDoneReportIsTrimmedAfterItsRetentionOnly() {
        var orders = RestartOrders(node: "n2")
        _ = orders.onAsked([ask("r1")], units: { $0.units }, held: [], now: .zero)
        #expect(orders.onTick(now: RestartOrders.reportRetention + .seconds(1)).isEmpty, "running: never trimmed")
        let doneAt = Duration.seconds(700)
        #expect(orders.onRestarted(id: "r1", failure: nil, now: doneAt).contains(.report(RestartReport(id: "r1", outcome: .done))))
        #expect(orders.onTick(now: doneAt + RestartOrders.reportRetention).isEmpty, "kept for the coordinator to read")
        #expect(orders.onTick(now: doneAt + RestartOrders.reportRetention + .seconds(1)) == [.clearReport])
        #expect(orders.onTick(now: doneAt + RestartOrders.reportRetention + .seconds(2)).isEmpty, "once")
        #expect(orders.onAsked([ask("r1")], units: { $0.units }, held: [], now: .seconds(2000)).isEmpty, "trimmed is not forgotten: not acted on again")
    }

    @Test func failedAndNotHereReportsAreTrimmedToo() {
        var orders = RestartOrders(node: "n2")
        _ = orders.onAsked([ask("r1")], units: { _ in [] }, held: [], now: .zero)
        #expect(orders.onTick(now: RestartOrders.reportRetention + .seconds(1)) == [.clearReport], "done at once: nothing runs here")
        _ = orders.onAsked([ask("r2")], units: { $0.units }, held: ["web"], now: .seconds(1000))
        let late = Duration.seconds(1000) + RestartOrders.handoverWindow + .seconds(1)
        #expect(orders.onTick(now: late).contains { if case .report(let report) = $0 { report.outcome != .done } else { false } })
        #expect(orders.onTick(now: late + RestartOrders.reportRetention + .seconds(1)) == [.clearReport])
    }

    @Test func aNewRequestKeepsItsRunningReport() {
        var orders = RestartOrders(node: "n2")
        _ = orders.onAsked([ask("r1")], units: { $0.units }, held: [], now: .zero)
        _ = orders.onRestarted(id: "r1", failure: nil, now: .seconds(1))
        _ = orders.onAsked([ask("r2")], units: { $0.units }, held: [], now: .seconds(2))
        #expect(orders.onTick(now: .seconds(2) + RestartOrders.reportRetention + .seconds(5)).isEmpty, "r2 runs: its report stays")
    }

    @Test func theRestartUnderWayIsShown() {
        var orders = RestartOrders(node: "n2")
        #expect(orders.underWay == nil)
        _ = orders.onAsked([ask("r1")], units: { $0.units }, held: ["web"], now: .zero)
        #expect(orders.underWay?.id == "r1" && orders.underWay?.by == "n1" && orders.underWay?.handingOver == true)
        _ = orders.onHeld([], now: .seconds(1))
        #expect(orders.underWay?.handingOver == false && orders.underWay?.units == ["k3s.service"])
        _ = orders.onRestarted(id: "r1", failure: nil, now: .seconds(2))
        #expect(orders.underWay == nil)
    }

    /// The shell arms a timer only for what nextDeadline names: nothing on an idle board, the hand-over window's
    /// end while VIPs are handed over, no clock while units restart (their end is an event), then the trim.
    @Test func theClockIsNeededOnlyForTheWindowAndTheTrim() {
        var orders = RestartOrders(node: "n2")
        #expect(orders.nextDeadline == nil, "an idle board needs no clock")
        _ = orders.onAsked([ask("r1")], units: { $0.units }, held: ["web"], now: .seconds(10))
        #expect(orders.nextDeadline == .seconds(10) + RestartOrders.handoverWindow)
        _ = orders.onHeld([], now: .seconds(11))
        #expect(orders.nextDeadline == nil, "restarting: the restart's end is an event, not a deadline")
        _ = orders.onRestarted(id: "r1", failure: nil, now: .seconds(12))
        #expect(orders.nextDeadline == .seconds(12) + RestartOrders.reportRetention)
        #expect(orders.onTick(now: .seconds(12) + RestartOrders.reportRetention + .milliseconds(1)) == [.clearReport])
        #expect(orders.nextDeadline == nil, "trimmed: no clock again")
    }
}
