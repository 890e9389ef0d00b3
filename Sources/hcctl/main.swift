// hcctl: talks to the local hcagent over its control socket.
import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import HomecloudSchema

/// Exit status: 0 ok, 1 the agent refused the request, 2 usage, 3 agent unreachable.
enum Exit {
    static let refused: Int32 = 1
    static let usage: Int32 = 2
    static let unreachable: Int32 = 3
}

func printError(_ text: String) {
    let line = text + "\n"
    _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
}

struct ConnectionOptions: ParsableArguments {
    @Option(name: .long, help: "The agent's control socket.")
    var socket: String = AgentConfig.defaultSocket

    /// Sends one request; prints why and exits 3 when the agent cannot be reached, 1 when it refuses.
    func send(_ command: ControlRequest.Command) throws -> ControlReply {
        let reply: ControlReply
        do {
            reply = try ControlClient(path: socket).send(ControlRequest(command: command))
        } catch {
            printError("hcctl: \(error)")
            throw ExitCode(Exit.unreachable)
        }
        if let error = reply.error {
            printError("hcctl: \(error.message)")
            throw ExitCode(Exit.refused)
        }
        return reply
    }
}

struct HCCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hcctl",
        abstract: "Control the local homecloud agent.",
        discussion: "Exit status: 0 ok, 1 the agent refused the request, 2 usage, 3 the agent is unreachable.",
        version: "0.1.0",
        subcommands: [Status.self, Reload.self]
    )
    // Declared here too, so --socket may come before the subcommand: `hcctl --socket PATH status`.
    @OptionGroup var connection: ConnectionOptions
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Node, members, VIPs, units and the desired generation.")
    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Print the agent's JSON reply.") var json = false

    func run() throws {
        guard let status = try connection.send(.status).status else {
            printError("hcctl: the agent's reply has no status")
            throw ExitCode(Exit.refused)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(status), as: UTF8.self))
        } else {
            print(StatusText.render(status), terminator: "")
        }
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reread desired.yaml now (root only).")
    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        print(try connection.send(.reload).message ?? "ok")
    }
}

// Usage mistakes exit with 2, as documented (ArgumentParser's own code for them is 64).
do {
    var command = try HCCtl.parseAsRoot()
    try command.run()
} catch {
    if HCCtl.exitCode(for: error) == .validationFailure {
        printError(HCCtl.fullMessage(for: error))
        exit(Exit.usage)
    }
    HCCtl.exit(withError: error)
}
