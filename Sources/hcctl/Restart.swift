// hcctl restart ROLE|UNIT [--rolling]: the local agent coordinates it; its progress is printed as it comes.
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import HomecloudSchema

struct Restart: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restart a unit (or a role's units) on every board that runs it (root only), coordinated by this board.",
        discussion: """
        --rolling: one board at a time, the next only once the restarted units are active again and no probe fails there \
        that did not fail before; a board holding a VIP goes last and hands its VIPs over first (make before break). \
        Without --rolling every board restarts at once. Boards are asked through this board's gossip metadata, signed \
        with its node key where node identity is on. A board that fails, goes away or is not done within --timeout stops \
        the roll (exit status 1, the board named); if this board dies, the roll stops where it is.
        """)
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "A role (its units) or a unit (k3s stands for k3s.service).") var target: String
    @Flag(help: "One board at a time.") var rolling = false
    @Option(help: "Seconds each board (all boards, without --rolling) may take to be done.") var timeout: Int?
    @Flag(help: "Print each reply as one JSON object per line.") var json = false

    func validate() throws {
        if let timeout, timeout < 1 { throw ValidationError("--timeout is a number of seconds, at least 1") }
    }

    func run() throws {
        var request = ControlRequest(command: .restart)
        request.target = target
        request.rolling = rolling
        request.timeout = timeout
        var failed = false, ended = false
        do {
            try ControlClient(path: connection.socket).follow(request) { reply in
                if json {
                    Self.write(reply.json.serialized)
                } else if let error = reply.error {
                    printError("hcctl: \(error.message)")
                } else if let message = reply.message {
                    Self.write(message)
                }
                if !reply.ok { failed = true }
                if reply.last == true { ended = true }
            }
        } catch let error as AgentUnreachable {
            printError("hcctl: \(error)")
            throw ExitCode(Exit.unreachable)
        }
        if !ended && !failed {
            printError("hcctl: the agent closed the connection before the restart ended (it stopped?): see hcctl status and the boards' journals")
            throw ExitCode(Exit.unreachable)
        }
        if failed { throw ExitCode(Exit.refused) }
    }

    /// Straight to the descriptor, unbuffered: a pipe reader sees each step as it happens.
    static func write(_ line: String) {
        var bytes = Array((line + "\n").utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return }
            bytes = bytes.dropFirst(written)
        }
    }
}
