// A new document's preempt and preempt_delay taken by the running router (no restart, so a master keeps its VIP):
// a backup that may now preempt a lower master takes over after its skew time; one that may no longer waits.
import HomecloudSchema
import Testing
@testable import VRRPCore

@Suite struct PreemptInPlaceTests {
    @Test func turningPreemptOnMakesAHigherBackupTakeOverAfterItsSkewTime() {
        var r = router(priority: 200, preempt: false)
        _ = r.start(linkUp: true, now: .zero)
        _ = r.onAdvertisement(advert(100), from: lowerAddress, now: .seconds(1))
        #expect(r.setPreempt(true, delay: .zero, now: .seconds(2)).isEmpty)
        #expect(r.settings.preempt)
        // Skew_Time = (256 − 200) × 1 s / 256 = 218.75 ms.
        #expect(r.nextDeadline == .seconds(2) + .microseconds(218_750))
        #expect(r.onTimer(now: r.nextDeadline!).transitions == [.master])
        #expect(r.lastTransition?.reason.contains("preempt turned on") == true)
    }

    @Test func turningPreemptOffCancelsAPendingPreemption() {
        var r = router(priority: 200)
        _ = r.start(linkUp: true, now: .zero)
        _ = r.onAdvertisement(advert(100), from: lowerAddress, now: .seconds(1))
        #expect(r.nextDeadline == .seconds(1) + .microseconds(218_750), "about to preempt")
        _ = r.setPreempt(false, delay: .zero, now: .seconds(1) + .milliseconds(100))
        var now = Duration.seconds(1)
        for _ in 0..<10 {
            now += .seconds(1)
            _ = r.onAdvertisement(advert(100), from: lowerAddress, now: now)
            #expect(r.onTimer(now: now).isEmpty)
        }
        #expect(r.state == .backup, "the lower master keeps the VIP while it advertises")
    }

    @Test func aMasterAndAnUnchangedSettingChangeNothing() {
        var master = router(priority: 150, preempt: false)
        _ = master.start(linkUp: true, now: .zero)
        _ = master.onTimer(now: master.nextDeadline!)
        #expect(master.state == .master)
        let deadline = master.nextDeadline
        #expect(master.setPreempt(true, delay: .seconds(3), now: .seconds(5)).isEmpty)
        #expect(master.state == .master && master.nextDeadline == deadline)
        #expect(master.setPreempt(true, delay: .seconds(3), now: .seconds(6)).isEmpty)
    }

    /// The migration walk's step: keepalived's master advertises 150; this backup's document priority rises from
    /// 120 to 160 in place: it takes over after its skew time while the old master still holds (make before break).
    @Test func aPriorityRaisedAboveAnRFCMasterTakesItOnce() {
        var r = router(priority: 120, advert: .milliseconds(100))
        _ = r.start(linkUp: true, now: .zero)
        _ = r.onAdvertisement(advert(150, interval: 10), from: lowerAddress, now: .milliseconds(100))
        #expect(r.setPriority(160, now: .milliseconds(150)).isEmpty)
        let actions = r.onTimer(now: r.nextDeadline!)
        #expect(actions.transitions == [.master] && actions.first == .addAddresses && actions.sentPriorities == [160])
        #expect(r.nextDeadline! < .milliseconds(300))
    }
}
