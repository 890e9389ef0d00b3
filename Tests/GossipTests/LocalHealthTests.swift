// Lifeguard's local health: what raises and lowers the score, its bounds, and how it stretches timings.
import Testing
@testable import GossipCore

@Suite struct LocalHealthTests {
    @Test func evidenceAgainstOurselvesRaisesTheScoreAndSuccessLowersIt() {
        var health = LocalHealth(maxMultiplier: 8)
        #expect(health.score == 0)
        health.record(.probeSucceeded)
        #expect(health.score == 0, "never below 0")
        health.record(.probeFailed)
        health.record(.refutedSuspicion)
        health.record(.nacksMissing(2))
        #expect(health.score == 4)
        health.record(.probeSucceeded)
        #expect(health.score == 3)
        #expect(health.scale(.milliseconds(200)) == .milliseconds(800))
    }

    @Test func theScoreStopsAtTheMaximumMultiplier() {
        var health = LocalHealth(maxMultiplier: 8)
        for _ in 0..<20 { health.record(.nacksMissing(3)) }
        #expect(health.score == 7)
        #expect(health.scale(.milliseconds(100)) == .milliseconds(800))
        for _ in 0..<7 { health.record(.probeSucceeded) }
        #expect(health.score == 0)
        #expect(health.scale(.milliseconds(100)) == .milliseconds(100))
    }
}
