// The in-place restart's rule: a VIP resumes as master from the old process's record only while the record is
// fresh, from this boot and for the VIP exactly as configured; and a backup never sees the master go away.
import HomecloudSchema
import Testing
@testable import VRRPCore

@Suite struct InPlaceHandoffTests {
    let front = VirtualIP(name: "front", address: IPPrefix("192.168.1.250/24")!, interface: "eth0", vrid: 51,
                          advert: .milliseconds(100), priority: .init(default: 100, perNode: ["n1": 150]))
    let boot = "6f1c2d3e-aaaa-bbbb-cccc-0123456789ab"

    func record(at time: Duration, _ vips: [VirtualIP]) -> InPlaceHandoff {
        InPlaceHandoff(bootID: boot, writtenAt: time, held: vips.map { .init($0, node: "n1") })
    }

    @Test func aFreshRecordOfTheSameVIPResumes() {
        let handoff = record(at: .seconds(50), [front])
        #expect(handoff.mayResume(.init(front, node: "n1"), bootID: boot, now: .seconds(50) + .milliseconds(120)))
        #expect(handoff.isFresh(bootID: boot, now: .seconds(50) + .milliseconds(120)))
    }

    @Test func aRecordOlderThanThreeAdvertIntervalsDoesNotResume() {
        // Past 3 intervals a backup (master down = 3 intervals + skew) may already hold the VIP.
        let handoff = record(at: .seconds(50), [front])
        #expect(!handoff.mayResume(.init(front, node: "n1"), bootID: boot, now: .seconds(50) + .milliseconds(300)))
        #expect(!handoff.isFresh(bootID: boot, now: .seconds(51)))
    }

    @Test func aRecordFromAnotherBootOrTheFutureDoesNotResume() {
        let handoff = record(at: .seconds(50), [front])
        #expect(!handoff.mayResume(.init(front, node: "n1"), bootID: "another-boot", now: .seconds(50)))
        #expect(!handoff.mayResume(.init(front, node: "n1"), bootID: boot, now: .seconds(49)))
        #expect(!InPlaceHandoff(bootID: "", writtenAt: .seconds(50), held: [.init(front, node: "n1")])
            .mayResume(.init(front, node: "n1"), bootID: "", now: .seconds(50)), "an unreadable boot id is never fresh")
    }

    @Test func aChangedVIPStartsAsBackup() {
        let handoff = record(at: .seconds(50), [front])
        let now = Duration.seconds(50) + .milliseconds(10)
        var moved = front
        moved.address = IPPrefix("192.168.1.251/24")!
        var lowered = front
        lowered.priority = .init(default: 100)
        var slower = front
        slower.advert = .seconds(1)
        var otherVRID = front
        otherVRID.vrid = 52
        for changed in [moved, lowered, slower, otherVRID] {
            #expect(!handoff.mayResume(.init(changed, node: "n1"), bootID: boot, now: now))
        }
        var renamed = front
        renamed.name = "back"
        #expect(!handoff.mayResume(.init(renamed, node: "n1"), bootID: boot, now: now), "a VIP the old process did not hold")
        #expect(!record(at: .seconds(50), []).isFresh(bootID: boot, now: now), "a record of no VIP keeps no address")
    }

    @Test func theRecordReadsBackAsWritten() {
        let handoff = record(at: .seconds(1234) + .nanoseconds(5678), [front, VirtualIP(
            name: "nas", address: IPPrefix("fd00::250/64")!, interface: "br0", vrid: 7, advert: .seconds(1), priority: .init(default: 90))])
        #expect(InPlaceHandoff.parse(handoff.text) == handoff)
    }

    /// A VIP with several addresses keeps them all, comma-joined on its line; one address more or less is a
    /// changed VIP, which starts as backup.
    @Test func aVIPWithSeveralAddressesReadsBackAndMustMatchThemAll() {
        var several = front
        several.moreAddresses = [IPPrefix("192.168.1.251/24")!]
        let handoff = record(at: .seconds(50), [several])
        #expect(handoff.text.contains(" 192.168.1.250/24,192.168.1.251/24 "))
        #expect(InPlaceHandoff.parse(handoff.text) == handoff)
        #expect(InPlaceHandoff.parse(handoff.text)?.held.first?.addresses.count == 2)
        #expect(handoff.mayResume(.init(several, node: "n1"), bootID: boot, now: .seconds(50)))
        #expect(!handoff.mayResume(.init(front, node: "n1"), bootID: boot, now: .seconds(50)))
        #expect(InPlaceHandoff.parse(handoff.text.replacing(",192.168.1.251/24", with: ",nope", maxReplacements: 1)) == nil)
    }

    @Test func aDamagedRecordResumesNothing() {
        let text = record(at: .seconds(5), [front]).text
        #expect(InPlaceHandoff.parse("") == nil)
        #expect(InPlaceHandoff.parse(String(text.dropLast(8))) == nil, "a line cut short")
        #expect(InPlaceHandoff.parse(text.replacing("hcagent-handoff 1", with: "hcagent-handoff 2", maxReplacements: 1)) == nil)
        #expect(InPlaceHandoff.parse(text.replacing("written ", with: "written x", maxReplacements: 1)) == nil)
    }

    @Test func aResumedMasterAdvertisesAtOnceAndAnnouncesOnce() {
        var r = router(priority: 150, advert: .milliseconds(100))
        let actions = r.resume(linkUp: true, now: .seconds(1))
        #expect(r.state == .master)
        #expect(actions.transitions == [.master])
        #expect(actions.sentPriorities == [150])
        #expect(actions.filter { $0 == .announce }.count == 1)
        #expect(actions.contains(.addAddresses), "the address is there already; adding it again is harmless")
        // Then adverts every interval and no repeated announcements.
        var later: [VRRPInstance.Action] = []
        var time = Duration.seconds(1)
        while let next = r.nextDeadline, next <= .seconds(2) {
            time = next
            later += r.onTimer(now: time)
        }
        #expect(later.sentPriorities.count == 10)
        #expect(!later.contains(.announce))
    }

    @Test func aResumeOnADownLinkIsAFault() {
        var r = router()
        #expect(r.resume(linkUp: false, now: .zero).transitions == [.fault])
    }

    @Test func theLastAdvertBeforeTheRestartComesFromAMasterOnly() {
        var backup = router()
        _ = backup.start(linkUp: true, now: .zero)
        #expect(backup.advertiseBeforeRestart(now: .seconds(1)).isEmpty)
        var master = router(priority: 150)
        _ = master.start(linkUp: true, now: .zero)
        _ = master.onTimer(now: master.nextDeadline!)
        #expect(master.advertiseBeforeRestart(now: .seconds(5)).sentPriorities == [150])
        #expect(master.state == .master)
    }

    /// The whole upgrade on virtual time: the old master advertises once more, the new process starts 250 ms
    /// later (under 3 intervals) and resumes; the backup hears adverts throughout and never becomes master.
    @Test func aBackupNeverSeesTheMasterGoAwayAcrossTheRestart() {
        let advertInterval = Duration.milliseconds(100)
        var old = router(priority: 150, advert: advertInterval)
        var backup = router(priority: 100, advert: advertInterval, address: lowerAddress)
        _ = backup.start(linkUp: true, now: .zero)
        _ = old.resume(linkUp: true, now: .zero)
        var time = Duration.zero
        func deliver(_ actions: [VRRPInstance.Action], to receiver: inout VRRPInstance, at now: Duration) {
            for priority in actions.sentPriorities {
                _ = receiver.onAdvertisement(advert(priority, interval: 10), from: me, now: now)
            }
        }
        // A second of normal adverts.
        while time < .seconds(1), let next = old.nextDeadline {
            time = next
            deliver(old.onTimer(now: time), to: &backup, at: time)
            #expect(backup.onTimer(now: time).isEmpty)
        }
        deliver(old.advertiseBeforeRestart(now: time), to: &backup, at: time)
        let handoff = InPlaceHandoff(bootID: boot, writtenAt: time, held: [.init(name: "front", vrid: 51, interface: "eth0",
            address: IPPrefix("192.168.1.250/24")!, priority: 150, advertInterval: advertInterval)])
        // The exec and the new process's start: nothing is sent for 250 ms.
        let restartedAt = time + .milliseconds(250)
        while let next = backup.nextDeadline, next < restartedAt {
            #expect(backup.onTimer(now: next).isEmpty, "the backup took over during the restart")
            time = next
        }
        #expect(handoff.mayResume(handoff.held[0], bootID: boot, now: restartedAt))
        var new = router(priority: 150, advert: advertInterval)
        deliver(new.resume(linkUp: true, now: restartedAt), to: &backup, at: restartedAt)
        time = restartedAt
        while time < restartedAt + .seconds(1), let next = new.nextDeadline {
            time = next
            deliver(new.onTimer(now: time), to: &backup, at: time)
            #expect(backup.onTimer(now: time).isEmpty)
        }
        #expect(backup.state == .backup && new.state == .master)
    }
}
