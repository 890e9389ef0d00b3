// A unit with a job another caller queued (a managed file's try-restart, a serial or rolling restart, systemctl):
// the planner lets that job end before it starts the unit, so the restart's stop is not taken for drift.
import HomecloudSchema
import HomecloudYAML
import ReconcilerCore
import Testing

@Suite struct ForeignJobTests {
    func at(_ seconds: Double) -> Duration { .milliseconds(Int64(seconds * 1000)) }

    static let document = try! DesiredStateParser.parse("""
        generation: 1
        cluster: c
        nodes: { n1: [web] }
        vips:
          - { name: front, address: 10.0.0.250/24, interface: eth0, vrid: 1 }
        roles:
          web:
            units:
              - { name: web.service, state: running }
              - { name: front.service, state: running, placement: "vip:front" }

        """, file: "d").get()

    func web(_ active: String, _ sub: String, job: Bool) -> ObservedUnit {
        ObservedUnit(name: "web.service", activeState: active, subState: sub, hasJob: job)
    }

    /// A core that started web.service and has read it running, with no job left.
    func running() -> ReconcileCore {
        var core = ReconcileCore(node: "n1", seed: 7)
        _ = core.onDocument(Self.document, now: at(0))
        #expect(core.onUnit(web("inactive", "dead", job: false), now: at(0)) == [.start("web.service")])
        _ = core.onJobDone(unit: "web.service", result: .done, now: at(0.1))
        #expect(core.onUnit(web("active", "running", job: false), now: at(0.1)) == [])
        return core
    }

    @Test func aUnitRestartedForItsFileIsNotStartedAgain() {
        var core = running()
        // A file it reads was written: the shell try-restarts it. systemd stops it first, the restart job queued on
        // it all along; reads in between see it going down or down.
        #expect(core.onUnit(web("deactivating", "stop-sigterm", job: true), now: at(5)) == [])
        #expect(core.onUnit(web("inactive", "dead", job: true), now: at(5.01)) == [])
        #expect(core.report(now: at(5.01)).units.first { $0.name == "web.service" }?.state == .converging)
        // The job ends (JobRemoved) and the next read finds it up: nothing to do, and no failure counted.
        #expect(core.onJobDone(unit: "web.service", result: .done, now: at(5.05)) == [])
        #expect(core.onUnit(web("active", "running", job: false), now: at(5.05)) == [])
        #expect(core.report(now: at(5.05)).units.first { $0.name == "web.service" }?.state == .converged)
    }

    @Test func aStopByHandIsUndoneOnceItsJobHasEnded() {
        var core = running()
        #expect(core.onUnit(web("deactivating", "stop-sigterm", job: true), now: at(5)) == [])
        #expect(core.onJobDone(unit: "web.service", result: .done, now: at(5.05)) == [])
        // Down with no job left: drift, started again at once.
        #expect(core.onUnit(web("inactive", "dead", job: false), now: at(5.05)) == [.start("web.service")])
    }

    @Test func aUnitThatMustStopIsStoppedEvenWithAJobUnderWay() {
        var core = ReconcileCore(node: "n1", seed: 7)
        _ = core.onDocument(Self.document, now: at(0))
        _ = core.onUnit(web("active", "running", job: false), now: at(0))
        #expect(core.onVIPs(held: ["front"], now: at(0)) == [])
        #expect(core.onUnit(ObservedUnit(name: "front.service", activeState: "active", subState: "running"), now: at(0)) == [])
        // Restarted for its file while this board hands the VIP on: the stop does not wait for the restart.
        _ = core.onUnit(ObservedUnit(name: "front.service", activeState: "deactivating", subState: "stop-sigterm", hasJob: true), now: at(1))
        #expect(core.onVIPs(held: [], now: at(1)) == [.stop("front.service")])
    }

    @Test func anotherJobEndingBeforeOursIsNoFailedStart() {
        var core = ReconcileCore(node: "n1", seed: 7)
        _ = core.onDocument(Self.document, now: at(0))
        #expect(core.onUnit(web("inactive", "dead", job: false), now: at(0)) == [.start("web.service")])
        // A file written in the same step: its try-restart of the unit not up yet is a no-op job that ends first.
        #expect(core.onJobDone(unit: "web.service", result: .done, now: at(0.01)) == [])
        // Read again: still down, our start still queued. Neither a failure nor a second start.
        #expect(core.onUnit(web("inactive", "dead", job: true), now: at(0.01)) == [])
        // Our start ends and the unit is up: converged, nothing counted against it.
        #expect(core.onJobDone(unit: "web.service", result: .done, now: at(0.2)) == [])
        #expect(core.onUnit(web("active", "running", job: false), now: at(0.2)) == [])
        let report = core.report(now: at(0.2)).units.first { $0.name == "web.service" }
        #expect(report?.state == .converged && report?.reason == nil)
        // A crash soon after (within stableAfter) is its first failure, not its second.
        _ = core.onUnit(web("failed", "failed", job: false), now: at(10))
        let crashed = core.report(now: at(10)).units.first { $0.name == "web.service" }
        #expect(crashed?.reason?.hasPrefix("failed 1 times") == true, "\(String(describing: crashed?.reason))")
    }
}
