// SourceFileWatchPlan: which source files to watch and drop, a read shortly after a burst of events (not at each),
// and the stat poll only while some file has no working watch.
import Testing
@testable import Gossip

@Suite struct SourceFileWatchPlanTests {
    @Test func newPathsAreAddedDroppedOnesClosedAndUnchangedOnesKept() {
        var plan = SourceFileWatchPlan()
        var change = plan.onSources(["/a/token", "/b/cert.pem", "/a/token"])
        #expect(change.add == ["/a/token", "/b/cert.pem"])
        #expect(change.drop.isEmpty)
        change = plan.onSources(["/b/cert.pem", "/c/id"])
        #expect(change.add == ["/c/id"])
        #expect(change.drop == ["/a/token"])
        change = plan.onSources(["/c/id", "/b/cert.pem"])
        #expect(change.add.isEmpty && change.drop.isEmpty, "the same files: no watcher made or closed again")
        #expect(plan.wanted == ["/b/cert.pem", "/c/id"])
    }

    @Test func pollsOnlyWhileAWantedFileCannotBeWatched() {
        var plan = SourceFileWatchPlan()
        _ = plan.onSources(["/a/token", "/b/cert.pem"])
        #expect(!plan.polls, "every file watched: no periodic stat")
        plan.onWatchable("/a/token", false)
        #expect(plan.polls, "a watch limit reached: the stat poll takes over")
        plan.onWatchable("/elsewhere", false)
        #expect(plan.unwatched == ["/a/token"], "a path not wanted does not count")
        plan.onWatchable("/a/token", true)
        #expect(!plan.polls, "watchable again: the poll ends")
        plan.onWatchable("/b/cert.pem", false)
        _ = plan.onSources(["/a/token"])
        #expect(!plan.polls, "the unwatchable file left the document: no poll for it")
        _ = plan.onSources([])
        #expect(!plan.polls)
    }

    @Test func aBurstOfEventsIsReadOnceAfterTheSettleDelay() {
        var plan = SourceFileWatchPlan()
        _ = plan.onSources(["/a/token"])
        #expect(plan.readAt == nil)
        var due = plan.onTimer(now: .seconds(1))
        #expect(!due, "nothing happened: nothing to read")
        plan.onChanged(now: .seconds(10))
        plan.onChanged(now: .seconds(10) + .milliseconds(20))
        #expect(plan.readAt == .seconds(10) + SourceFileWatchPlan.settleDelay, "the first event of a burst sets the read")
        due = plan.onTimer(now: .seconds(10) + .milliseconds(30))
        #expect(!due, "not before the settle delay")
        due = plan.onTimer(now: .seconds(10) + SourceFileWatchPlan.settleDelay)
        #expect(due)
        #expect(plan.readAt == nil)
        due = plan.onTimer(now: .seconds(11))
        #expect(!due, "read once")
        #expect(SourceFileWatchPlan.settleDelay < .milliseconds(200), "well under a second from a change to its read")
    }
}
