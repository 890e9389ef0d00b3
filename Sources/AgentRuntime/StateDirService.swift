// While state_dir cannot be written (full, read-only), tries again every few seconds; once it can, the
// document in force is kept again and state_dir's problem clears. Peers and incarnation follow at their next change.
import HomecloudSchema
import HomecloudYAML
import PartWiring
import PartLifecycle
#if canImport(Glibc)
import Glibc
#endif

public struct StateDirService: Service {
    let keeper: DocumentKeeper
    let interval: Duration

    public init(keeper: DocumentKeeper, interval: Duration = .seconds(5)) {
        self.keeper = keeper
        self.interval = interval
    }

    public func run() async throws {
        let keeper = self.keeper, interval = self.interval
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await AlignedTick.sleep(every: interval)
                await Self.retry(keeper)
            }
        }
    }

    /// One retry, when state_dir has a problem: a test file of a few KiB (a full disk often still takes an
    /// empty file) and the document in force must both be written; then the problem clears. True when clear.
    @discardableResult
    static func retry(_ keeper: DocumentKeeper) async -> Bool {
        let problems = keeper.problems
        guard problems.reason(of: PartProblems.stateDir) != nil else { return true }
        let probe = keeper.config.stateDir + "/.writable"
        let probed = problems.keepInStateDir { try TextFile.writeAtomically(probe, String(repeating: "\n", count: 8192)) }
        unlink(probe)
        guard probed, await keeper.persist() else { return false }
        problems.clear(PartProblems.stateDir, message: "state_dir is writable again; the document in force is kept there")
        return true
    }
}
