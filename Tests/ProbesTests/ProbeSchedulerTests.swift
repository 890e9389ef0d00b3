// The scheduler on virtual time: spread, bounded, timeouts as failures, hysteresis, VIP adjustments.
import HomecloudSchema
import Testing
@testable import ProbesCore

let t0 = Duration.zero

func probe(_ name: String, interval: Duration = .seconds(1), timeout: Duration = .milliseconds(500), fall: Int = 2,
           weight: Int = 0) -> Probe {
    Probe(name: name, check: .tcp(host: "127.0.0.1", port: 1), interval: interval, timeout: timeout, rise: 2, fall: fall, weight: weight)
}

extension [ProbeScheduler.Action] {
    var started: [String] { compactMap { if case .run(let name, _) = $0 { name } else { nil } } }
}

@Suite struct ProbeSchedulerTests {
    @Test func probesOfOneIntervalAreSpreadOverIt() {
        var scheduler = ProbeScheduler(seed: 1)
        scheduler.onProbes((0..<20).map { probe("p\($0)") }, now: t0)
        var firstRun: [String: Duration] = [:]
        var now = t0
        while now < t0 + .seconds(1) {
            for name in scheduler.onTick(now: now).started {
                firstRun[name] = now - t0
                _ = scheduler.onResult(probe: name, .pass, now: now)
            }
            now += .milliseconds(10)
        }
        #expect(firstRun.count == 20)
        #expect(Set(firstRun.values).count >= 8, "not all at once: \(firstRun.values.sorted())")
        // Start times fall on the interval's slots, so probes that share one share a wake-up.
        let slot = Duration.seconds(1) / ProbeScheduler.slots
        #expect(firstRun.values.allSatisfy { $0 / slot == ($0 / slot).rounded() }, "\(firstRun.values.sorted())")
    }

    @Test func concurrencyIsBoundedAndTheRestWait() {
        var scheduler = ProbeScheduler(maxInFlight: 3, seed: 2)
        scheduler.onProbes((0..<10).map { probe("p\($0)") }, now: t0)
        let first = scheduler.onTick(now: t0 + .seconds(1)).started
        #expect(first.count == 3)
        #expect(scheduler.onTick(now: t0 + .seconds(1)).started.isEmpty, "no more while three run")
        _ = scheduler.onResult(probe: first[0], .pass, now: t0 + .milliseconds(1100))
        #expect(scheduler.onTick(now: t0 + .milliseconds(1100)).started.count == 1)
    }

    @Test func theLongestDueRunsFirstAndARunningProbeKeepsItsSlotAcrossADocument() {
        var scheduler = ProbeScheduler(maxInFlight: 1, seed: 4)
        let probes = [probe("a", interval: .seconds(2)), probe("b", interval: .seconds(2)), probe("c", interval: .seconds(2))]
        scheduler.onProbes(probes, now: t0)
        let first = scheduler.onTick(now: t0 + .seconds(2)).started
        #expect(first.count == 1)
        scheduler.onProbes(probes + [probe("d")], now: t0 + .seconds(2))  // unchanged ones keep their state
        #expect(scheduler.onTick(now: t0 + .seconds(3)).started.isEmpty, "the running one still holds the only slot")
        _ = scheduler.onResult(probe: first[0], .pass, now: t0 + .seconds(3))
        let waiting = scheduler.statuses.map(\.name).filter { $0 != first[0] && $0 != "d" }
        // Of the two left from the first document, whichever was due sooner goes next.
        #expect(waiting.contains(scheduler.onTick(now: t0 + .seconds(3)).started.first ?? "none"))
        #expect(scheduler.statuses.map(\.name) == ["a", "b", "c", "d"])
        #expect(scheduler.status(of: first[0])?.lastResult == .pass && scheduler.status(of: "zz") == nil)
    }

    @Test func fallFailuresMakeItFailingAndTheScheduleDoesNotDrift() {
        var scheduler = ProbeScheduler(seed: 3)
        scheduler.onProbes([probe("api", fall: 2, weight: -60)], now: t0)
        var now = t0
        var runs: [Duration] = []
        var transitions: [ProbeHysteresis.Health] = []
        while now < t0 + .seconds(5) {
            for case .run(let name, let deadline) in scheduler.onTick(now: now) {
                runs.append(now - t0)
                // Every check hangs until its deadline: a timeout, a failure.
                for case .changed(_, let transition) in scheduler.onResult(probe: name, .fail("timed out"), now: deadline) {
                    transitions.append(transition.to)
                }
            }
            now += .milliseconds(10)
        }
        #expect(transitions == [.failing])
        #expect(scheduler.health(of: "api") == .failing)
        #expect(scheduler.priorityAdjustment(tracking: ["api", "unknown"]) == -60)
        // One second apart, though each run took half a second.
        #expect(zip(runs, runs.dropFirst()).allSatisfy { $1 - $0 >= .milliseconds(990) && $1 - $0 <= .milliseconds(1010) }, "\(runs)")
        let status = scheduler.statuses[0]
        #expect(status.lastResult == .fail("timed out") && status.lastLatency == .milliseconds(500) && status.consecutiveFailures >= 2)
    }

    @Test func anUnchangedProbeKeepsItsStateAndAChangedOneStartsOver() {
        var scheduler = ProbeScheduler(seed: 4)
        scheduler.onProbes([probe("a"), probe("b")], now: t0)
        for name in scheduler.onTick(now: t0 + .seconds(1)).started { _ = scheduler.onResult(probe: name, .pass, now: t0 + .seconds(1)) }
        #expect(scheduler.health(of: "a") == .healthy)
        scheduler.onProbes([probe("a"), probe("b", interval: .seconds(2))], now: t0 + .seconds(2))
        #expect(scheduler.health(of: "a") == .healthy && scheduler.health(of: "b") == .unknown)
        scheduler.onProbes([probe("a")], now: t0 + .seconds(3))
        #expect(scheduler.health(of: "b") == nil)
    }

    @Test func aRestartProbeAsksForItsUnitEveryFallFailuresThenSaysWhenItRecovers() {
        var scheduler = ProbeScheduler(seed: 5)
        var hung = probe("sync", fall: 3)
        hung.restart = true
        hung.unit = "syncthing@dnas.service"
        scheduler.onProbes([hung, probe("plain", fall: 3)], now: t0)
        var asks: [Int] = []
        var recovered: [String] = []
        for second in 1...10 {
            let now = t0 + .seconds(second)
            for name in scheduler.onTick(now: now).started {
                let result: ProbeHysteresis.Result = second <= 7 ? .fail("stale") : .pass
                for action in scheduler.onResult(probe: name, result, now: now) {
                    switch action {
                    case .restart(let unit, let probe, let reason):
                        #expect(unit == "syncthing@dnas.service" && probe == "sync" && reason == "stale")
                        asks.append(second)
                    case .recovered(let unit, _):
                        recovered.append(unit)
                    default:
                        break
                    }
                }
            }
        }
        // Failures 3 and 6 (the probe without restart asks nothing); healthy again after rise 2 passes.
        #expect(asks == [3, 6])
        #expect(recovered == ["syncthing@dnas.service"])
    }
}
