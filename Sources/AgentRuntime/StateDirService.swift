// While state_dir cannot be written (full, read-only), tries again every few seconds; once it can, the
// document in force is kept again and state_dir's problem clears. Peers and incarnation follow at their next change.
import HomecloudSchema
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
        let problems = state.problems
        let probe = state.config.stateDir + "/.writable"
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                guard problems.reason(of: PartProblems.stateDir) != nil else { continue }
                if problems.keepInStateDir({ try TextFile.writeAtomically(probe, "") }) {
                    unlink(probe)
                    await state.persist()
                }
            }
        }
    }
}
