// The agent's part group: stop order, a part ending on its own, the graceful budget, the shutdown helpers.
// On a busy machine (a whole `swift test` beside a simulation that holds the cooperative pool for seconds) any
// task may wait long to run: no check here bounds how soon something happens, only its order, and the budget
// test checks the lower bound (cancelled no sooner than the budget) and prints what it measured.
import Logging
import PartLifecycle
import Synchronization
import Testing
import UnixSignals

/// What the parts did, in order, and when.
final class Journal: Sendable {
    private let lines = Mutex<[(line: String, at: ContinuousClock.Instant)]>([])
    func add(_ line: String) { lines.withLock { $0.append((line, .now)) } }
    var all: [String] { lines.withLock { $0.map(\.line) } }
    /// When `line` was first added.
    func time(of line: String) -> ContinuousClock.Instant? { lines.withLock { $0.first { $0.line == line }?.at } }
}

/// A graceful budget no test is meant to reach: a busy machine may delay a polite part's stop by seconds, and
/// then cancelling it would change the order the test checks. Never waited for: the group cancels its timer.
let unreachedBudget = Duration.seconds(120)

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

/// Ignores its graceful stop; ends when cancelled, or after `patience` if never cancelled (so a group that never
/// cancels it fails the test instead of holding it).
struct StubbornService: Service {
    let journal: Journal
    var patience = Duration.seconds(120)
    func run() async throws {
        let cancelled = await withGracefulShutdownHandler {
            (try? await Task.sleep(for: patience)) == nil
        } onGracefulShutdown: {
            journal.add("stubborn asked")
        }
        journal.add(cancelled ? "stubborn cancelled" : "stubborn never cancelled")
    }
}

@Suite struct ServiceGroupTests {
    let logger = Logger(label: "test")

    // The stop by SIGTERM itself is the integration tests' (vrrp-failover.sh's graceful stop): a signal raised in
    // this process would reach whichever test thread does not block it.
    @Test func theStopGoesLastPartFirst() async throws {
        let journal = Journal()
        let group = ServiceGroup(services: [ShortService(journal: journal, fails: false)] + ["a", "b", "c"].map { PoliteService(name: $0, journal: journal) },
                                 gracefulShutdownSignals: [], gracefulBudget: unreachedBudget, cancellationBudget: .milliseconds(300), logger: logger)
        try await group.run()
        #expect(journal.all == ["short ended", "stopped c", "stopped b", "stopped a"])
    }

    @Test func aPartThatEndsStopsTheOthers() async throws {
        let journal = Journal()
        let group = ServiceGroup(services: [PoliteService(name: "a", journal: journal), ShortService(journal: journal, fails: false),
                                           PoliteService(name: "c", journal: journal)],
                                 gracefulShutdownSignals: [], gracefulBudget: unreachedBudget, cancellationBudget: .milliseconds(300), logger: logger)
        try await group.run()
        #expect(journal.all == ["short ended", "stopped c", "stopped a"])
    }

    @Test func aPartThatFailsStopsTheOthersAndTheErrorComesOut() async throws {
        let journal = Journal()
        let group = ServiceGroup(services: [PoliteService(name: "a", journal: journal), ShortService(journal: journal, fails: true)],
                                 gracefulShutdownSignals: [], gracefulBudget: unreachedBudget, cancellationBudget: .milliseconds(300), logger: logger)
        await #expect(throws: ShortService.Failure.self) { try await group.run() }
        #expect(journal.all == ["short ended", "stopped a"])
    }

    @Test func aPartThatIgnoresItsStopIsCancelledAfterTheBudget() async throws {
        let journal = Journal()
        let budget = Duration.milliseconds(200)
        let group = ServiceGroup(services: [StubbornService(journal: journal), ShortService(journal: journal, fails: false)],
                                 gracefulShutdownSignals: [], gracefulBudget: budget, cancellationBudget: .milliseconds(300), logger: logger)
        try await group.run()
        #expect(journal.all == ["short ended", "stubborn asked", "stubborn cancelled"])
        // The budget's timer starts once the short part has ended: the cancellation comes no sooner than the budget
        // after that (how much later depends on the machine's load, so only printed).
        let ended = try #require(journal.time(of: "short ended")), cancelled = try #require(journal.time(of: "stubborn cancelled"))
        print("ServiceGroupTests: the stubborn part was cancelled \(cancelled - ended) after the short part ended (budget \(budget))")
        #expect(cancelled - ended >= budget)
    }

    @Test func cancelWhenGracefulShutdownEndsTheOperation() async throws {
        let journal = Journal()
        // The part that ends (and so stops the group) waits for the loop's first lap: on a busy machine the looping
        // part might otherwise not have started before the stop is asked, and never loop.
        let (laps, lapSink) = AsyncStream.makeStream(of: Int.self)
        struct Looping: Service {
            let journal: Journal
            let lapSink: AsyncStream<Int>.Continuation
            func run() async throws {
                let laps = await cancelWhenGracefulShutdown {
                    var laps = 0
                    while (try? await Task.sleep(for: .milliseconds(10))) != nil {
                        laps += 1
                        lapSink.yield(laps)
                    }
                    return laps
                }
                journal.add(laps > 0 ? "looped, then cancelled" : "never looped")
            }
        }
        struct EndsAfterALap: Service {
            let journal: Journal
            let laps: AsyncStream<Int>
            func run() async throws {
                for await _ in laps { break }
                journal.add("short ended")
            }
        }
        let group = ServiceGroup(services: [Looping(journal: journal, lapSink: lapSink), EndsAfterALap(journal: journal, laps: laps)],
                                 gracefulShutdownSignals: [], gracefulBudget: unreachedBudget, cancellationBudget: .milliseconds(300), logger: logger)
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
