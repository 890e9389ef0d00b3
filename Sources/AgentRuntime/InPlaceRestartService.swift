// Restarts the agent in place on SIGUSR2 (`systemctl reload hcagent`, the Debian package's upgrade): the new
// binary at the same path takes over the same PID and resumes the VIPs this board holds, so none moves.
#if canImport(Glibc)
import Glibc
#endif
import Logging
import PartLifecycle
import UnixSignals
import VRRP

/// The old process records its VIPs (VRRP's handoff record), lets its sockets close with the execve, and sends
/// no priority 0 and removes no address; the new one finds the record fresh and starts those VIPs as master.
/// Anything wrong before the execve (agent.yaml refused, no executable, execve failing) keeps this process
/// running, with one log line. A new binary that does not come up is a crash: the backups take over.
struct InPlaceRestartService: Service {
    let configPath: String
    let vrrp: VRRPHandle
    let notifier: SystemdNotifier
    let statusLine: @Sendable () async -> String
    let logger: Logger

    func run() async throws {
        let requests = await UnixSignalsSequence(trapping: .sigusr2)
        await cancelWhenGracefulShutdown {
            for await _ in requests { await restart() }
        }
    }

    private func restart() async {
        notifier.reloading()
        if let reason = await restartOrReason() {
            logger.error("in-place restart refused: \(reason); the running agent carries on")
            await vrrp.abandonInPlaceRestart()
        }
        notifier.ready(status: await statusLine())
    }

    /// Returns only when the restart did not happen, with why.
    private func restartOrReason() async -> String? {
        guard let path = InPlaceExec.executablePath() else { return "cannot tell which file this agent was started from" }
        guard access(path, X_OK) == 0 else { return "\(path) is not an executable file" }
        // The new process reads agent.yaml again: a broken one would stop the agent, so it is checked first.
        if case .failure(let rejected) = Agent.loadConfig(path: configPath) {
            return rejected.diagnostics.map(\.description).joined(separator: "; ")
        }
        let held: [String]
        switch await vrrp.prepareInPlaceRestart() {
        case .failure(let error): return error.message
        case .success(let names): held = names
        }
        logger.notice("in-place restart: executing \(path) again, keeping \(held.isEmpty ? "no VIP" : "VIPs " + held.joined(separator: ", "))")
        let reason = InPlaceExec.exec(path: path, arguments: CommandLine.arguments)
        return "cannot execute \(path): \(reason)"
    }
}
