// While state_dir cannot be written (full, read-only), tries again every few seconds; once it can, the
// document in force is kept again and state_dir's problem clears. Peers and incarnation follow at their next change.
import HomecloudSchema
import HomecloudYAML
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

public struct StateDirService: Service {
    let state: AgentState
    let interval: Duration

    public init(state: AgentState, interval: Duration = .seconds(5)) {
        self.state = state
        self.interval = interval
    }

    public func run() async throws {
        let state = self.state, interval = self.interval
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                await Self.retry(state)
            }
        }
    }

    /// One retry, when state_dir has a problem: a test file of a few KiB (a full disk often still takes an
    /// empty file) and the document in force must both be written; then the problem clears. True when clear.
    @discardableResult
    static func retry(_ state: AgentState) async -> Bool {
        let problems = state.problems
        guard problems.reason(of: PartProblems.stateDir) != nil else { return true }
        let probe = state.config.stateDir + "/.writable"
        let probed = problems.keepInStateDir { try TextFile.writeAtomically(probe, String(repeating: "\n", count: 8192)) }
        unlink(probe)
        guard probed, await state.persist() else { return false }
        problems.clear(PartProblems.stateDir, message: "state_dir is writable again; the document in force is kept there")
        return true
    }
}
