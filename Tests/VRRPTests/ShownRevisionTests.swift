// The revision the shell compares instead of a router's shown values: still while only adverts pass, moved by
// every change a status would show.
import HomecloudSchema
import Testing
@testable import VRRPCore

@Suite struct ShownRevisionTests {
    @Test func advertisementsMoveNothingAndChangesMoveIt() {
        var r = router(priority: 150, advert: .milliseconds(100))
        let initial = r.shownRevision
        _ = r.start(linkUp: true, now: .zero)
        #expect(r.shownRevision != initial, "the transition to backup")
        var seen = r.shownRevision
        // A master sending adverts, and hearing a lower backup's, changes nothing a status shows.
        var now = r.nextDeadline!
        #expect(r.onTimer(now: now).transitions == [.master])
        #expect(r.shownRevision != seen)
        seen = r.shownRevision
        for _ in 0..<20 {
            now = r.nextDeadline!
            #expect(r.onTimer(now: now).sentPriorities.count <= 1)
        }
        #expect(r.onAdvertisement(advert(100), from: lowerAddress, now: now).isEmpty == false)
        #expect(r.shownRevision == seen, "adverts sent and a lower one heard are not news")
        _ = r.setPriority(150, now: now)
        #expect(r.shownRevision == seen, "the same priority again is not news")
        _ = r.setPriority(120, now: now)
        #expect(r.shownRevision != seen, "a new priority is")
        seen = r.shownRevision
        // A backup hearing its master again and again: its master is set once.
        var b = router(priority: 100, advert: .milliseconds(100))
        _ = b.start(linkUp: true, now: .zero)
        _ = b.onAdvertisement(advert(150, interval: 10), from: higherAddress, now: .milliseconds(10))
        let heard = b.shownRevision
        for step in 2...20 { _ = b.onAdvertisement(advert(150, interval: 10), from: higherAddress, now: .milliseconds(10 * step)) }
        #expect(b.shownRevision == heard)
        _ = b.onAdvertisement(advert(0, interval: 10), from: higherAddress, now: .milliseconds(300))
        #expect(b.shownRevision != heard, "the master leaving clears it")
    }
}
