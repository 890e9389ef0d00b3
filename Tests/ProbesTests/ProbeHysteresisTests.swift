// Hysteresis on virtual time: rise and fall thresholds, start-up grace, no flapping on a lone failure.
import ProbesCore
import Testing

@Suite struct ProbeHysteresisTests {
    let start = Duration.zero

    func at(_ seconds: Int) -> Duration { start + .seconds(seconds) }

    @Test func fallFailuresMakeItFailingAndRisePassesBringItBack() {
        var probe = ProbeHysteresis(rise: 2, fall: 3, grace: .zero, start: start)
        #expect(probe.onResult(.pass, now: at(1))?.to == .healthy)
        #expect(probe.onResult(.fail("refused"), now: at(2)) == nil)
        #expect(probe.onResult(.fail("refused"), now: at(3)) == nil)
        let down = probe.onResult(.fail("timeout"), now: at(4))
        #expect(down == .init(from: .healthy, to: .failing, at: at(4), reason: "3 failures in a row, last: timeout"))
        #expect(probe.onResult(.pass, now: at(5)) == nil)
        #expect(probe.health == .failing)
        #expect(probe.onResult(.pass, now: at(6))?.to == .healthy)
        #expect(probe.since == at(6))
    }

    @Test func aLoneFailureBetweenPassesChangesNothing() {
        var probe = ProbeHysteresis(rise: 2, fall: 2, grace: .zero, start: start)
        _ = probe.onResult(.pass, now: at(1))
        for second in 2..<50 {
            let result: ProbeHysteresis.Result = second.isMultiple(of: 2) ? .fail("x") : .pass
            #expect(probe.onResult(result, now: at(second)) == nil)
        }
        #expect(probe.health == .healthy)
    }

    @Test func failuresInTheGraceDoNotCount() {
        var probe = ProbeHysteresis(rise: 1, fall: 1, grace: .seconds(10), start: start)
        #expect(probe.onResult(.fail("starting"), now: at(5)) == nil)
        #expect(probe.health == .unknown)
        #expect(probe.consecutiveFailures == 0)
        #expect(probe.onResult(.fail("still down"), now: at(10))?.to == .failing)
    }
}
