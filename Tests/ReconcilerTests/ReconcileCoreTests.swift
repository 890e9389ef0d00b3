// The planner on virtual time: drift repaired, placement followed, failing units backed off then degraded,
// and nothing outside the document touched.
import HomecloudSchema
import HomecloudYAML
import ReconcilerCore
import Testing

@Suite struct ReconcileCoreTests {
    let t0 = Duration.zero
    func at(_ seconds: Double) -> Duration { t0 + .milliseconds(Int64(seconds * 1000)) }

    func document(_ generation: Int = 1, web: String = "{ name: web.service, state: running, enabled: true }") -> DesiredState {
        let text = """
            generation: \(generation)
            cluster: c
            nodes: { n1: [web, share], n2: [web, share] }
            roles:
              web: { units: [ \(web) ] }
              share:
                units:
                  - { name: smbd.service, state: running, placement: "vip:front" }
                  - { name: backup.service, state: running, placement: one }
            vips:
              - { name: front, address: 10.0.0.250/24, interface: eth0, vrid: 1 }

            """
        return try! DesiredStateParser.parse(text, file: "d").get()
    }

    func unit(_ name: String, _ active: String, file: String = "enabled", result: String = "success") -> ObservedUnit {
        ObservedUnit(name: name, activeState: active, unitFileState: file, result: result)
    }

    /// A core that has read the document and the three units, all stopped and enabled.
    func started(node: String = "n1") -> (ReconcileCore, [ReconcileCore.Action]) {
        var core = ReconcileCore(node: node, seed: 7)
        var actions = core.onDocument(document(), now: at(0))
        for name in ["web.service", "smbd.service", "backup.service"] {
            actions += core.onUnit(unit(name, "inactive"), now: at(0))
        }
        return (core, actions)
    }

    @Test func startsWhatTheDocumentWantsAndNothingElse() {
        var (core, actions) = started()
        // backup.service (placement: one) waits for the gossip view of its role.
        #expect(actions.filter { if case .start = $0 { true } else { false } } == [.start("web.service")])
        #expect(core.onUnit(unit("sshd.service", "inactive"), now: at(1)).isEmpty)  // not in the document
        #expect(core.onUnit(unit("cron.service", "active"), now: at(1)).isEmpty)
    }

    @Test func driftIsUndoneAtOnce() {
        var (core, _) = started()
        _ = core.onJobDone(unit: "web.service", result: .done, now: at(1))
        #expect(core.onUnit(unit("web.service", "active"), now: at(1)).isEmpty)
        #expect(core.report(now: at(1)).units.first { $0.name == "web.service" }?.state == .converged)
        // Someone stops it by hand.
        #expect(core.onUnit(unit("web.service", "inactive"), now: at(5)) == [.start("web.service")])
    }

    @Test func vipPlacementFollowsTheVIP() {
        var (core, _) = started()
        #expect(core.onVIPs(held: ["front"], now: at(1)) == [.start("smbd.service")])
        _ = core.onJobDone(unit: "smbd.service", result: .done, now: at(1))
        _ = core.onUnit(unit("smbd.service", "active"), now: at(1))
        #expect(core.onVIPs(held: [], now: at(2)) == [.stop("smbd.service")])
    }

    @Test func onePlacementPicksOneNodeAndMovesWhenItDies() {
        // share has n1 and n2: a majority is both (a known limit of a two-node role), so the move is tried
        // with a third node's role elsewhere (SingletonPlacementTests); here, both alive.
        func both(_ t: Double) -> MemberView { MemberView(states: ["n1": .alive, "n2": .alive], lastHeard: ["n1": at(t), "n2": at(t)]) }
        let chosen = UnitPlacement.chosenNode(for: "backup.service", among: ["n1", "n2"])!
        let other = chosen == "n1" ? "n2" : "n1"
        var (winner, _) = started(node: chosen)
        var (loser, _) = started(node: other)
        let delay = winner.singletonTiming.takeoverDelay
        let first = winner.onMembers(both(1), now: at(1))
        #expect(!first.contains(.start("backup.service")))  // takes over after the delay, its fence armed first
        #expect(first.contains { if case .armFence(unit: "backup.service", _) = $0 { true } else { false } })
        _ = winner.onFenceArmed(unit: "backup.service", now: at(1))
        _ = SingletonPlacementTests.sameNewsUntil(&winner, at(1) + delay)
        #expect(winner.onMembers(both(7), now: at(1) + delay).contains(.start("backup.service")))
        #expect(!loser.onMembers(both(1), now: at(1)).contains(.start("backup.service")))
        #expect(!loser.onMembers(both(7), now: at(1) + delay).contains(.start("backup.service")))
        #expect(loser.report(now: at(1)).units.first { $0.name == "backup.service" }?.desired == "stopped")
        #expect(winner.report(now: at(1)).units.first { $0.name == "backup.service" }?.desired == "running")
        #expect(UnitPlacement.chosenNode(for: "backup.service", among: ["n2", "n1"]) == chosen)  // order does not matter
    }

    @Test func losingPeersOrVIPsNeverStopsAnAllUnit() {
        var (core, _) = started()
        _ = core.onJobDone(unit: "web.service", result: .done, now: at(1))
        _ = core.onUnit(unit("web.service", "active"), now: at(1))
        #expect(!core.onMembers(MemberView(states: ["n1": .alive, "n2": .dead]), now: at(2)).contains(.stop("web.service")))
        #expect(!core.onVIPs(held: [], now: at(3)).contains(.stop("web.service")))
    }

    @Test func aFailingUnitBacksOffThenIsDegraded() {
        var (core, _) = started()
        var now = at(1)
        var delays: [Duration] = []
        for _ in 0..<20 {
            let actions = core.onJobDone(unit: "web.service", result: .done, now: now)
                + core.onUnit(unit("web.service", "failed", result: "exit-code"), now: now)
            guard let wake = actions.compactMap({ if case .wakeUp(let t) = $0 { t } else { nil } }).first else { break }
            delays.append(wake - now)
            #expect(!core.onTimer(now: wake - .milliseconds(1)).contains(.start("web.service")))  // not before its time
            now = wake
            #expect(core.onTimer(now: now) == [.resetFailed("web.service"), .start("web.service")])
            _ = core.onUnit(unit("web.service", "activating"), now: now)
        }
        #expect(delays.count == 4, "delays: \(delays)")  // 5 attempts: the first start and 4 retries
        for (index, delay) in delays.enumerated() {
            let full = Duration.seconds(1 << index)
            #expect(delay >= full / 2 && delay <= full, "retry \(index + 1) waited \(delay)")
        }
        let web = core.report(now: now + .seconds(100)).units.first { $0.name == "web.service" }
        #expect(web?.state == .degraded)
        #expect(web?.reason?.contains("exit-code") == true)
        #expect(core.onTimer(now: now + .seconds(1000)).isEmpty)  // no more looping
        // A new document is a new chance.
        #expect(core.onDocument(document(2), now: now + .seconds(1001)).contains(.start("web.service")))
    }

    @Test func aFailingProbeRestartsItsUnitWithTheSameBackoffThenLeavesItDegraded() {
        var (core, _) = started()
        _ = core.onJobDone(unit: "web.service", result: .done, now: at(1))
        _ = core.onUnit(unit("web.service", "active"), now: at(1))
        // Units this node does not run, or that are not up, are not restarted for a probe.
        #expect(core.onProbeFailing(unit: "sshd.service", reason: "x", now: at(2)).isEmpty)
        #expect(core.onProbeFailing(unit: "smbd.service", reason: "x", now: at(2)).isEmpty)  // vip:front not held
        var now = at(2)
        var restarts: [Duration] = []
        for _ in 0..<40 {
            if core.onProbeFailing(unit: "web.service", reason: "connect refused", now: now) == [.restart("web.service")] {
                restarts.append(now)
                // Asked again while the restart runs: nothing more.
                #expect(core.onProbeFailing(unit: "web.service", reason: "connect refused", now: now).isEmpty)
                _ = core.onJobDone(unit: "web.service", result: .done, now: now)
                _ = core.onUnit(unit("web.service", "active"), now: now)
            }
            now = now + .seconds(3)  // the probe asks again every fall × interval
        }
        #expect(restarts.count == 5, "restarts at \(restarts.map { $0 - at(2) })")
        for (earlier, later) in zip(restarts, restarts.dropFirst()) {
            #expect(later - earlier >= .seconds(3))  // never closer than the backoff or the probe's own pace
        }
        // The backoff grows: the last gap is longer than the first.
        #expect(restarts[4] - restarts[3] > restarts[1] - restarts[0])
        let web = core.report(now: now).units.first { $0.name == "web.service" }
        #expect(web?.state == .degraded)
        #expect(web?.reason?.contains("connect refused") == true)
        // The probe healthy again and the unit up for a while: restarts are allowed again.
        _ = core.onProbeHealthy(unit: "web.service", now: now)
        _ = core.onTimer(now: now + .seconds(31))
        #expect(core.report(now: now + .seconds(31)).units.first { $0.name == "web.service" }?.state == .converged)
        #expect(core.onProbeFailing(unit: "web.service", reason: "again", now: now + .seconds(32)) == [.restart("web.service")])
    }

    @Test func aUnitThatExitsAtOnceCountsAsFailedButAStopByHandDoesNot() {
        var (core, _) = started()
        _ = core.onJobDone(unit: "web.service", result: .done, now: at(1))
        // Never seen up: the start did not work, so no immediate retry.
        let exited = core.onUnit(unit("web.service", "inactive"), now: at(1))
        #expect(!exited.contains(.start("web.service")))
        #expect(exited.contains { if case .wakeUp = $0 { true } else { false } })
        // Up, then stopped by hand: that is drift, undone at once.
        var (other, _) = started()
        _ = other.onJobDone(unit: "web.service", result: .done, now: at(1))
        _ = other.onUnit(unit("web.service", "active"), now: at(1))
        #expect(other.onUnit(unit("web.service", "inactive"), now: at(2)) == [.start("web.service")])
    }

    @Test func stoppedUnitsAreStoppedAndEnablementFollowsTheDocument() {
        var core = ReconcileCore(node: "n1", seed: 1)
        _ = core.onDocument(document(web: "{ name: web.service, state: stopped, enabled: false }"), now: at(0))
        let actions = core.onUnit(unit("web.service", "active", file: "enabled"), now: at(0))
        #expect(actions == [.stop("web.service"), .disable(["web.service"])])
        var enabling = ReconcileCore(node: "n1", seed: 1)
        _ = enabling.onDocument(document(), now: at(0))
        #expect(enabling.onUnit(unit("web.service", "active", file: "disabled"), now: at(0)) == [.enable(["web.service"])])
        #expect(enabling.report(now: at(0)).units.first?.reason == "not enabled yet")
        // Done, but systemd's new UnitFileState not read yet: no second enable from the stale state.
        #expect(enabling.onEnableDone(units: ["web.service"], now: at(1)).isEmpty)
        #expect(enabling.onUnit(unit("web.service", "active", file: "enabled"), now: at(1)).isEmpty)
    }

    @Test func missingUnitsAreReportedNotStarted() {
        var core = ReconcileCore(node: "n1", seed: 1)
        _ = core.onDocument(document(), now: at(0))
        var missing = unit("web.service", "inactive")
        missing.loadState = "not-found"
        #expect(core.onUnit(missing, now: at(0)).isEmpty)
        let report = core.report(now: at(0))
        #expect(report.units.first?.state == .degraded)
        #expect(report.state == .degraded)
    }

    /// A new document naming units not read before: read together, they are all started and enabled in one
    /// call (one daemon reload); read one by one, each would have been enabled alone.
    @Test func unitsReadTogetherAreEnabledInOneCall() {
        let web = (1 ... 10).map { "{ name: u\($0).service, state: running, enabled: true }" }.joined(separator: ", ")
        var core = ReconcileCore(node: "n1", seed: 7)
        #expect(core.onDocument(document(web: web), now: at(0)).isEmpty)  // nothing read yet
        let names = (1 ... 10).map { "u\($0).service" }
        let actions = core.onUnits(names.map { unit($0, "inactive", file: "disabled") }, now: at(0))
        #expect(actions == names.map { .start($0) } + [.enable(names)])
        // The same units read again before systemd answers: nothing more is asked.
        #expect(core.onUnits(names.map { unit($0, "inactive", file: "disabled") }, now: at(0)).isEmpty)
    }
}
