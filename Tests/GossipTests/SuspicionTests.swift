// Lifeguard's suspicion timeout: its bounds from the cluster's size, and how independent accusers shorten it.
import Testing
@testable import GossipCore

@Suite struct SuspicionTests {
    let interval = Duration.milliseconds(200)

    func timeouts(_ memberCount: Int) -> (min: Duration, max: Duration) {
        Suspicion.timeouts(memberCount: memberCount, gossipInterval: interval, suspicionMult: 4, suspicionMaxTimeoutMult: 6)
    }

    @Test func boundsGrowWithTheLogOfTheClusterSize() {
        // Below 10 members the log is floored at 1.
        for size in [0, 1, 2, 5, 10] {
            #expect(timeouts(size).min == .milliseconds(800), "N = \(size)")
            #expect(timeouts(size).max == .milliseconds(4800), "N = \(size)")
        }
        #expect(abs((timeouts(100).min - .milliseconds(1600)) / .milliseconds(1)) < 0.001)
        #expect(abs((timeouts(1000).min - .milliseconds(2400)) / .milliseconds(1)) < 0.001)
        #expect(abs((timeouts(1000).max - .milliseconds(14_400)) / .milliseconds(1)) < 0.01)
    }

    @Test func eachNewAccuserShortensTheTimeoutDownToTheMinimum() {
        var suspicion = Suspicion(accuser: "a", start: .seconds(10), minTimeout: .seconds(1), maxTimeout: .seconds(7),
                                  expectedConfirmations: 3)
        #expect(suspicion.timeout == .seconds(7))
        #expect(suspicion.deadline == .seconds(17))
        var isNew = suspicion.confirm(by: "a")
        #expect(!isNew, "the first accuser does not confirm itself")
        isNew = suspicion.confirm(by: "b")
        #expect(isNew)
        // max − (max − min) × log 2 / log 4 = 7 − 6 / 2
        #expect(abs((suspicion.timeout - .seconds(4)) / .milliseconds(1)) < 0.001)
        isNew = suspicion.confirm(by: "b")
        #expect(!isNew, "an accuser counts once")
        isNew = suspicion.confirm(by: "c")
        #expect(isNew)
        let afterTwo = suspicion.timeout
        #expect(afterTwo < .seconds(4) && afterTwo > .seconds(1))
        isNew = suspicion.confirm(by: "d")
        #expect(isNew)
        #expect(suspicion.timeout == .seconds(1))
        // The evidence is complete: more accusers change nothing, and are not passed on (in a large cluster
        // hundreds could accuse, each a round of gossip).
        isNew = suspicion.confirm(by: "e")
        #expect(!isNew)
        #expect(suspicion.timeout == .seconds(1), "never below the minimum")
        #expect(suspicion.confirmations == 3)
    }

    @Test func aClusterTooSmallToConfirmUsesTheMinimum() {
        let suspicion = Suspicion(accuser: "a", start: .zero, minTimeout: .seconds(1), maxTimeout: .seconds(6),
                                  expectedConfirmations: 0)
        #expect(suspicion.timeout == .seconds(1))
    }

    @Test func theLogarithmsAreAccurate() {
        for (x, expected) in [(1.0, 0.0), (2.0, 0.693_147_180_559_945), (10.0, 2.302_585_092_994_046), (1000.0, 6.907_755_278_982_137),
                              (0.5, -0.693_147_180_559_945)] {
            #expect(abs(GossipMath.naturalLog(x) - expected) < 1e-12, "ln \(x)")
        }
        #expect(GossipMath.ceilLog10(1) == 0)
        #expect(GossipMath.ceilLog10(10) == 1)
        #expect(GossipMath.ceilLog10(11) == 2)
        #expect(GossipMath.ceilLog10(1001) == 4)
    }
}
