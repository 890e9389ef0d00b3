// The coordinating board's side of hcctl restart: order (VIP holders last), one board at a time, what counts
// as done, and what stops the roll (a failure, a board gone, the timeout).
import Testing
@testable import Gossip

private typealias Board = RestartRoll.Board

private func done(_ id: String = "r1", probes: [String] = [], vips: [String] = []) -> Board {
    Board(report: RestartReport(id: id, outcome: .done), failingProbes: probes, vips: vips)
}

private func asked(_ actions: [RestartRoll.Action]) -> [String]? {
    for case .publish(let request?) in actions { return request.nodes }
    return nil
}

private func verdict(_ actions: [RestartRoll.Action]) -> (ok: Bool, line: String)? {
    for case .finished(let ok, let line) in actions { return (ok, line) }
    return nil
}

@Suite struct RestartRollTests {
    @Test func oneBoardAtATimeByNameWithTheVIPHolderLast() {
        var roll = RestartRoll(id: "r1", units: ["k3s.service"], boards: ["n3", "n1", "n2"], rolling: true, timeout: .seconds(60))
        var view: [String: Board] = ["n1": Board(vips: ["web"]), "n2": Board(), "n3": Board()]
        #expect(asked(roll.onStart(boards: view, now: .zero)) == ["n2"])
        // Running is reported; nothing else is asked meanwhile.
        view["n2"] = Board(report: RestartReport(id: "r1", outcome: .running))
        #expect(asked(roll.onBoards(view, now: .seconds(1))) == nil)
        view["n2"] = done()
        let next = roll.onBoards(view, now: .seconds(2))
        #expect(next.contains(.progress("n2: done, active again (2.0 s)")))
        #expect(asked(next) == ["n3"])
        view["n3"] = done()
        let last = roll.onBoards(view, now: .seconds(3))
        #expect(asked(last) == ["n1"])
        // The holder hands its VIPs to the board restarted just before it.
        #expect(last.contains(.publish(RestartRequest(id: "r1", units: ["k3s.service"], nodes: ["n1"], successor: "n3"))))
        view["n1"] = done()
        let end = roll.onBoards(view, now: .seconds(4))
        #expect(verdict(end)?.ok == true)
        #expect(end.contains(.publish(nil)))
        #expect(roll.done == ["n2", "n3", "n1"])
    }

    @Test func anOldReportOfAnotherRollDoesNotCount() {
        var roll = RestartRoll(id: "r2", units: ["k3s.service"], boards: ["n1", "n2"], rolling: true, timeout: .seconds(60))
        var view: [String: Board] = ["n1": done("r1"), "n2": Board()]
        _ = roll.onStart(boards: view, now: .zero)
        #expect(roll.onBoards(view, now: .seconds(1)).isEmpty)
        #expect(roll.current == ["n1"])
        view["n1"] = done("r2")
        #expect(asked(roll.onBoards(view, now: .seconds(2))) == ["n2"])
    }

    @Test func aProbeFailingSinceTheRestartIsAwaited() {
        var roll = RestartRoll(id: "r1", units: ["k3s.service"], boards: ["n1", "n2"], rolling: true, timeout: .seconds(60))
        // n1's "disk" probe failed before: it does not hold the roll up; "api" does until it is healthy.
        var view: [String: Board] = ["n1": Board(failingProbes: ["disk"]), "n2": Board()]
        _ = roll.onStart(boards: view, now: .zero)
        view["n1"] = done(probes: ["disk", "api"])
        let waiting = roll.onBoards(view, now: .seconds(1))
        #expect(waiting == [.progress("n1: active again, waiting for probe api")])
        view["n1"] = done(probes: ["disk"])
        let next = roll.onBoards(view, now: .seconds(2))
        #expect(next.contains(.progress("n1: done, active again and its probes healthy (2.0 s)")))
        #expect(asked(next) == ["n2"])
    }

    @Test func aFailedBoardStopsTheRollAndIsNamed() {
        var roll = RestartRoll(id: "r1", units: ["k3s.service"], boards: ["n1", "n2", "n3"], rolling: true, timeout: .seconds(60))
        var view: [String: Board] = ["n1": Board(), "n2": Board(), "n3": Board()]
        _ = roll.onStart(boards: view, now: .zero)
        view["n1"] = done()
        _ = roll.onBoards(view, now: .seconds(1))
        view["n2"] = Board(report: RestartReport(id: "r1", outcome: .failed("k3s.service failed after its restart")))
        let end = roll.onBoards(view, now: .seconds(2))
        #expect(end.first == .publish(nil))
        #expect(verdict(end)?.ok == false)
        #expect(verdict(end)?.line == "n2 failed: k3s.service failed after its restart; the roll stops (not restarted: n3) (done: n1)")
        #expect(roll.isFinished)
        #expect(roll.onBoards(view, now: .seconds(3)).isEmpty)
        #expect(roll.onTick(now: .seconds(300)).isEmpty)
    }

    @Test func theTimeoutStopsTheRoll() {
        var roll = RestartRoll(id: "r1", units: ["k3s.service"], boards: ["n1", "n2"], rolling: true, timeout: .seconds(30))
        let view: [String: Board] = ["n1": Board(), "n2": Board()]
        _ = roll.onStart(boards: view, now: .zero)
        #expect(roll.onTick(now: .seconds(30)).isEmpty)
        let end = roll.onTick(now: .seconds(31))
        #expect(verdict(end)?.line == "n1 timed out: it did not report its units active again within 30.0 s; the roll stops (not restarted: n2)")
    }

    @Test func aBoardGoneWhileAskedStopsTheRoll() {
        var roll = RestartRoll(id: "r1", units: ["k3s.service"], boards: ["n1", "n2"], rolling: true, timeout: .seconds(30))
        var view: [String: Board] = ["n1": Board(), "n2": Board()]
        _ = roll.onStart(boards: view, now: .zero)
        // Suspect while busy is not gone.
        view["n1"] = Board(reachable: true)
        #expect(verdict(roll.onBoards(view, now: .seconds(1))) == nil)
        view["n1"] = Board(reachable: false)
        #expect(verdict(roll.onBoards(view, now: .seconds(2)))?.ok == false)
    }

    @Test func withoutRollingEveryBoardIsAskedAtOnceAndAllAreAwaited() {
        var roll = RestartRoll(id: "r1", units: ["a.service"], boards: ["n1", "n2", "n3"], rolling: false, timeout: .seconds(30))
        var view: [String: Board] = ["n1": Board(vips: ["web"]), "n2": Board(), "n3": Board()]
        #expect(asked(roll.onStart(boards: view, now: .zero)) == ["n1", "n2", "n3"])
        view["n2"] = Board(report: RestartReport(id: "r1", outcome: .failed("a.service failed after its restart")))
        let one = roll.onBoards(view, now: .seconds(1))
        #expect(verdict(one) == nil)
        view["n1"] = done()
        view["n3"] = done()
        let end = roll.onBoards(view, now: .seconds(2))
        #expect(verdict(end)?.ok == false)
        #expect(verdict(end)?.line == "n2 failed: a.service failed after its restart (done: n1, n3)")
    }

    @Test func anInterruptedHcctlStopsTheRollAfterTheBoardAskedNow() {
        var roll = RestartRoll(id: "r1", units: ["a.service"], boards: ["n1", "n2"], rolling: true, timeout: .seconds(30))
        _ = roll.onStart(boards: ["n1": Board(), "n2": Board()], now: .zero)
        let end = roll.onCancel(now: .seconds(1))
        #expect(end.first == .publish(nil))
        #expect(verdict(end)?.line == "hcctl was interrupted while n1 restarted; the roll stops (not restarted: n2)")
        #expect(roll.onBoards(["n1": done(), "n2": Board()], now: .seconds(2)).isEmpty)
    }

    @Test func noBoardIsNothingToDo() {
        var roll = RestartRoll(id: "r1", units: ["a.service"], boards: [], rolling: true, timeout: .seconds(30))
        #expect(verdict(roll.onStart(boards: [:], now: .zero))?.ok == true)
    }
}
