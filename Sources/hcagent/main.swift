// hcagent: the node agent. `hcagent [--config FILE]` runs it; `hcagent --check` tests its files like `nginx -t`.
// Its few options are parsed by hand: ArgumentParser alone would add about 0.4 MiB to a daemon's resident memory.
import AgentRuntime
import CLinuxEvents
import Gossip
#if canImport(Glibc)
import Glibc
#endif
import HomecloudSchema
import Logging
import Metrics

let usage = """
    usage: hcagent [--config FILE] [--check] [--log-level LEVEL] [--insecure-gossip]

    The homecloud node agent: gossip membership, the cluster's virtual IP, and the board's systemd units.

      --config FILE       the agent's configuration (default: \(AgentConfig.defaultPath))
      --check             check agent.yaml and the desired-state document it names, print every error, exit
      --log-level LEVEL   trace, debug, info, notice, warning or error (default: info)
      --insecure-gossip   gossip in the clear when agent.yaml has no key_file (tests only)
      --version           print the version
      -h, --help          print this help

    Exit status: 0 stopped cleanly or --check passed; 1 failed while running; 2 bad configuration or usage.

    """

struct Options {
    var config = AgentConfig.defaultPath
    var check = false
    var logLevel = Logger.Level.info
    var insecureGossip = false
}

func printError(_ text: String) {
    let line = text + "\n"
    _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
}

/// Parses the command line; prints help or the version and exits, or exits 2 on a usage mistake.
func parseOptions(_ arguments: [String]) -> Options {
    var options = Options()
    var rest = arguments[...]
    func value(for flag: String, inline: String?) -> String {
        if let inline { return inline }
        guard let next = rest.popFirst() else {
            printError("hcagent: \(flag) needs a value\n\(usage)")
            exit(2)
        }
        return next
    }
    while let argument = rest.popFirst() {
        let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
        let flag = parts[0]
        let inline = parts.count == 2 ? parts[1] : nil
        switch flag {
        case "--config": options.config = value(for: flag, inline: inline)
        case "--check": options.check = true
        case "--insecure-gossip": options.insecureGossip = true
        case "--log-level":
            let text = value(for: flag, inline: inline)
            guard let level = Logger.Level(rawValue: text), level != .critical else {
                printError("hcagent: --log-level takes trace, debug, info, notice, warning or error, not \"\(text)\"")
                exit(2)
            }
            options.logLevel = level
        case "--version":
            print(AgentStatus.version)
            exit(0)
        case "-h", "--help":
            print(usage, terminator: "")
            exit(0)
        default:
            printError("hcagent: unknown option \"\(argument)\"\n\(usage)")
            exit(2)
        }
    }
    return options
}

// One malloc arena for every thread instead of one per thread that allocates (up to 8 per core): the agent's
// threads each allocate little, and each arena kept its own free space resident (about 70 KiB in all).
_ = hc_use_one_malloc_arena()

let options = parseOptions(Array(CommandLine.arguments.dropFirst()))

if options.check {
    let (lines, ok) = Agent.check(configPath: options.config)
    for line in lines { print(line) }
    exit(ok ? 0 : 2)
}

LoggingSystem.bootstrap { JournalLogHandler(label: $0, level: options.logLevel) }
let logger = Logger(label: "hcagent")
let config: AgentConfig
switch Agent.loadConfig(path: options.config) {
case .failure(let rejected):
    for diagnostic in rejected.diagnostics { logger.critical("\(diagnostic)") }
    exit(2)
case .success(let loaded):
    config = loaded
}
let keyring: GossipKeyring?
switch Agent.loadKeyring(config: config, insecure: options.insecureGossip) {
case .failure(let rejected):
    for diagnostic in rejected.diagnostics { logger.critical("\(diagnostic)") }
    exit(2)
case .success(let loaded):
    keyring = loaded
    if loaded == nil { logger.warning("gossip is NOT encrypted (--insecure-gossip): for tests only") }
}
let registry = MetricsRegistry()
MetricsSystem.bootstrap(registry)
runWithMainThreadParked(config: config, configPath: options.config, keyring: keyring, logger: logger, registry: registry)

/// Runs the agent in a task and parks the main thread until the task exits the process. Not top-level `await`:
/// Swift's async main ends in dispatch_main(), whose pthread_exit() unwinds the main thread's stack through the
/// binary's unwind tables (.eh_frame, .eh_frame_hdr) and so keeps about 0.5 MiB of them resident for nothing.
/// Detached: nothing may wait for the main actor, whose queue no one drains now.
func runWithMainThreadParked(config: AgentConfig, configPath: String, keyring: GossipKeyring?, logger: Logger, registry: MetricsRegistry) -> Never {
    Task.detached {
        do {
            try await Agent.run(config: config, keyring: keyring, logger: logger, registry: registry, configPath: configPath)
        } catch {
            logger.critical("cannot start: \(error)")
            exit(1)
        }
        exit(0)
    }
    // Each probe command's exit sends the agent a SIGCHLD. Every other thread blocks it, so it came here and woke
    // this thread for nothing (its default action is none; the probes reap through pidfds): blocked here too, it
    // just stays pending.
    var childSignals = sigset_t()
    sigemptyset(&childSignals)
    sigaddset(&childSignals, SIGCHLD)
    pthread_sigmask(SIG_BLOCK, &childSignals, nil)
    while true { pause() }
}
