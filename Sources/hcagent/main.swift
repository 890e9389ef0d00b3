// hcagent: the node agent. `hcagent [--config FILE]` runs it; `hcagent --check` tests its files like `nginx -t`.
import AgentRuntime
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import HomecloudSchema
import Logging
import Metrics
import Prometheus

struct HCAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hcagent",
        abstract: "The homecloud node agent: gossip membership, the cluster's virtual IP, and the board's systemd units.",
        discussion: "Exit status: 0 stopped cleanly or --check passed; 1 failed while running; 2 bad configuration or usage.",
        version: AgentState.version
    )

    @Option(name: .long, help: "The agent's configuration file.")
    var config: String = AgentConfig.defaultPath

    @Flag(name: .long, help: "Check agent.yaml and the desired-state document it names, print every error, and exit.")
    var check = false

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    mutating func run() async throws {
        if check {
            let (lines, ok) = Agent.check(configPath: config)
            for line in lines { print(line) }
            if !ok { throw ExitCode(2) }
            return
        }
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level takes one of trace, debug, info, notice, warning, error")
        }
        LoggingSystem.bootstrap { JournalLogHandler(label: $0, level: level) }
        let logger = Logger(label: "hcagent")
        let agentConfig: AgentConfig
        switch Agent.loadConfig(path: config) {
        case .failure(let rejected):
            for diagnostic in rejected.diagnostics { logger.critical("\(diagnostic)") }
            throw ExitCode(2)
        case .success(let loaded):
            agentConfig = loaded
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        do {
            try await Agent.run(config: agentConfig, logger: logger, registry: registry)
        } catch {
            logger.critical("cannot start: \(error)")
            throw ExitCode(1)
        }
    }
}

/// Like ArgumentParser's main(), but usage mistakes exit with 2 as the README promises (its own code is 64).
func start() async {
    do {
        var command = try await HCAgent.asyncParse()
        try await command.run()
    } catch {
        if HCAgent.exitCode(for: error) == .validationFailure {
            let message = HCAgent.fullMessage(for: error) + "\n"
            _ = message.withCString { write(STDERR_FILENO, $0, strlen($0)) }
            exit(2)
        }
        HCAgent.exit(withError: error)
    }
}

await start()
