// The agent's part group: stop order, a part ending on its own, the graceful budget, the shutdown helpers.
import Logging
import PartLifecycle
import Synchronization
import Testing
import UnixSignals

/// What the parts did, in order.
final class Journal: Sendable {
    private let lines = Mutex<[String]>([])
    func add(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

/// Waits for its graceful stop, notes it, and returns.
struct PoliteService: Service {
    let name: String
    let journal: Journal
    func run() async throws {
        try await gracefulShutdown()
        journal.add("stopped \(name)")
    }
}

/// Ends by itself after a while (or throws).
struct ShortService: Service {
    struct Failure: Error {}
    let journal: Journal
    let fails: Bool
    func run() async throws {
        try await Task.sleep(for: .milliseconds(50))
        journal.add("short ended")
        if fails { throw Failure() }
    }
}

/// Ignores its graceful stop; ends only when cancelled.
struct StubbornService: Service {
    let journal: Journal
    func run() async throws {
        await withGracefulShutdownHandler {
            while (try? await Task.sleep(for: .seconds(60))) != nil {}
        } onGracefulShutdown: {
            journal.add("stubborn asked")
        }
        journal.add("stubborn cancelled")
    }
}

@Suite struct ServiceGroupTests {
    let logger = Logger(label: "test")

    // The stop by SIGTERM itself is the integration tests' (vrrp-failover.sh's graceful stop): a signal raised in
    // this process would reach whichever test thread does not block it.
    @Test func theStopGoesLastPartFirst() async throws {
        let journal = Journal()
        let group = ServiceGroup(services: [ShortService(journal: journal, fails: false)] + ["a", "b", "c"].map { PoliteService(name: $0, journal: journal) },
                                 gracefulShutdownSignals: [], gracefulBudget: .seconds(5), cancellationBudget: .milliseconds(300), logger: logger)
        try await group.run()
        #expect(journal.all == ["short ended", "stopped c", "stopped b", "stopped a"])
    }

    @Test func aPartThatEndsStopsTheOthers() async throws {
        let journal = Journal()
        let group = ServiceGroup(services: [PoliteService(name: "a", journal: journal), ShortService(journal: journal, fails: false),
                                           PoliteService(name: "c", journal: journal)],
                                 gracefulShutdownSignals: [], gracefulBudget: .seconds(5), cancellationBudget: .milliseconds(300), logger: logger)
        try await group.run()
        #expect(journal.all == ["short ended", "stopped c", "stopped a"])
    }

    @Test func aPartThatFailsStopsTheOthersAndTheErrorComesOut() async throws {
        let journal = Journal()
        let group = ServiceGroup(services: [PoliteService(name: "a", journal: journal), ShortService(journal: journal, fails: true)],
                                 gracefulShutdownSignals: [], gracefulBudget: .seconds(5), cancellationBudget: .milliseconds(300), logger: logger)
        await #expect(throws: ShortService.Failure.self) { try await group.run() }
        #expect(journal.all == ["short ended", "stopped a"])
    }

    @Test func aPartThatIgnoresItsStopIsCancelledAfterTheBudget() async throws {
        let journal = Journal()
        let group = ServiceGroup(services: [StubbornService(journal: journal), ShortService(journal: journal, fails: false)],
                                 gracefulShutdownSignals: [], gracefulBudget: .milliseconds(200), cancellationBudget: .milliseconds(300), logger: logger)
        let started = ContinuousClock.now
        try await group.run()
        #expect(journal.all == ["short ended", "stubborn asked", "stubborn cancelled"])
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func cancelWhenGracefulShutdownEndsTheOperation() async throws {
        let journal = Journal()
        struct Looping: Service {
            let journal: Journal
            func run() async throws {
                let laps = await cancelWhenGracefulShutdown {
                    var laps = 0
                    while (try? await Task.sleep(for: .milliseconds(10))) != nil { laps += 1 }
                    return laps
                }
                journal.add(laps > 0 ? "looped, then cancelled" : "never looped")
            }
        }
        let group = ServiceGroup(services: [Looping(journal: journal), ShortService(journal: journal, fails: false)],
                                 gracefulShutdownSignals: [], gracefulBudget: .seconds(5), cancellationBudget: .milliseconds(300), logger: logger)
        try await group.run()
        #expect(journal.all == ["short ended", "looped, then cancelled"])
    }

    @Test func outsideAGroupNoStopIsEverAsked() async throws {
        let asked = Journal()
        let value = await withGracefulShutdownHandler { 7 } onGracefulShutdown: { asked.add("asked") }
        #expect(value == 7)
        #expect(asked.all.isEmpty)
        let waiting = Task { try await gracefulShutdown() }
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
    }
}
