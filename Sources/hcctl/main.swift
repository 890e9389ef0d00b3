// hcctl: talks to the local hcagent over its control socket.
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import HomecloudSchema
import HomecloudYAML
import Trust

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
    func send(_ command: ControlRequest.Command, document: String? = nil, file: String? = nil, vip: String? = nil, key: String? = nil,
              to: String? = nil, node: String? = nil) throws -> ControlReply {
        let reply: ControlReply
        do {
            reply = try ControlClient(path: socket).send(ControlRequest(command: command, document: document, file: file, vip: vip, key: key, to: to,
                                                                        node: node))
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
        version: AgentVersion.current.description,
        subcommands: [Status.self, Members.self, Units.self, VIPs.self, Probes.self, Events.self, Keys.self, Plan.self, Apply.self, Reload.self, Drain.self, Undrain.self, Restart.self, Init.self, Join.self, Import.self]
    )
    // Declared here too, so --socket may come before the subcommand: `hcctl --socket PATH status`.
    @OptionGroup var connection: ConnectionOptions
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Node, members, VIPs, units and the desired generation.")
    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Print the agent's JSON reply.") var json = false
    @Flag(help: "Ask again every second and redraw when the status changes; Ctrl-C ends.") var watch = false

    func run() throws {
        if watch { StatusWatch(connection: connection, json: json).run() }
        guard let status = try connection.send(.status).status else {
            printError("hcctl: the agent's reply has no status")
            throw ExitCode(Exit.refused)
        }
        if json {
            printJSON(status)
        } else {
            print(StatusText.render(status), terminator: "")
        }
    }
}

/// The value as the agent sent it (the same definition reads and writes it), indented, keys sorted.
func printJSON(_ value: some JSONConvertible) {
    print(value.json.pretty)
}

struct Units: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "This node's units (and managed files): desired against actual, and why not converged.")
    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        guard let status = try connection.send(.status).status else { throw ExitCode(Exit.refused) }
        if json {
            printJSON(status.units)
        } else {
            if let convergence = status.convergence { print("\(status.node): \(convergence)") }
            print(StatusText.unitSection(status.units), terminator: "")
            if let files = status.files { print(StatusText.fileSection(files), terminator: "") }
        }
    }
}

struct Members: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The cluster's members as gossip sees them from this board.")
    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        guard let status = try connection.send(.status).status else { throw ExitCode(Exit.refused) }
        if json {
            printJSON(status.members)
        } else {
            print(StatusText.memberSection(status.members), terminator: "")
        }
    }
}

struct Probes: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "This board's probes: state, last result and latency, passes or failures in a row, since.")
    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        guard let status = try connection.send(.status).status else { throw ExitCode(Exit.refused) }
        if json {
            printJSON(status.probes)
        } else {
            print(StatusText.probeSection(status.probes), terminator: "")
        }
    }
}

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "This board's gossip keyring. To rotate: install the new key on every board, use it on every board, then remove the old one.",
        subcommands: [List.self, Install.self, Use.self, Remove.self, Admin.self, Node.self],
        defaultSubcommand: List.self
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Key fingerprints, the primary (sealing) key first.")
        @OptionGroup var connection: ConnectionOptions
        func run() throws { print(try connection.send(.keysList).message ?? "") }
    }

    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a key (32 bytes, base64); it opens packets at once (root only).")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The key in base64, e.g. from head -c 32 /dev/urandom | base64.") var key: String
        func run() throws { print(try connection.send(.keysInstall, key: key).message ?? "ok") }
    }

    struct Use: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Seal with an installed key from now on (root only).")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The key in base64.") var key: String
        func run() throws { print(try connection.send(.keysUse, key: key).message ?? "ok") }
    }

    struct Admin: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The admin key that signs desired-state documents (not a gossip key).",
            subcommands: [Generate.self, Public.self, Sign.self]
        )

        struct Sign: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Print a document signed with an admin key, for a desired.yaml written by hand (hcctl apply --sign needs no such step).",
                discussion: "The whole text is signed, generation included; an old signature line is replaced. Boards take it only if its generation is above the one in force.")
            @Option(help: "The private key file.") var key: String = AdminSecretKey.defaultPath
            @Option(help: "Set this generation in the text first.") var generation: UInt64?
            @Argument(help: "The document.") var file: String

            func run() throws {
                var text = DocumentSignature.unsigned(try readDocument(file))
                if let generation {
                    guard let renumbered = DesiredStateParser.settingGeneration(of: text, to: generation) else {
                        printError("hcctl: \(file): cannot set the generation; write it as a plain number")
                        throw ExitCode(Exit.refused)
                    }
                    text = renumbered
                }
                print(DocumentSignature.sign(text, with: try loadAdminKey(key)), terminator: "")
            }
        }

        struct Generate: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Write a new admin key pair (Ed25519) and print its public line for agent.yaml's trusted_admin_keys.")
            @Option(help: "Where to write the private key (mode 0600; never overwritten).") var out: String = AdminSecretKey.defaultPath

            func run() throws {
                let key = AdminSecretKey.generate()
                do {
                    try key.write(to: out)
                } catch {
                    printError("hcctl: \(error)")
                    throw ExitCode(Exit.refused)
                }
                printError("wrote the private admin key to \(out) (mode 0600): keep it secret, and a copy offline.\n"
                    + "Add this public line to trusted_admin_keys in every board's agent.yaml:")
                print(key.publicKey.line)
            }
        }

        struct Public: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Print the public line of an admin key file.")
            @Option(help: "The private key file.") var key: String = AdminSecretKey.defaultPath
            func run() throws { print(try loadAdminKey(key).publicKey.line) }
        }
    }

    struct Node: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print this board's node key (its public line, for desired.yaml's node_keys); the agent makes the key at its first start.",
            discussion: "Reads state_dir/node.key (root only); state_dir comes from agent.yaml.")
        @Option(help: "The agent's configuration.") var config: String = AgentConfig.defaultPath
        @Option(help: "The node key file (default: node.key in agent.yaml's state_dir).") var key: String?

        func run() throws {
            // agent.yaml gives the node's name (for the hint) and state_dir (for the key when --key is not given).
            var node = "NODE"
            var path = key
            var host = [CChar](repeating: 0, count: 256)
            gethostname(&host, host.count)
            let hostname = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if let text = try? TextFile.read(config), case .success(let parsed) = AgentConfig.parse(text, file: config, hostname: hostname) {
                node = parsed.node
                path = path ?? parsed.stateDir + "/" + NodeKey.fileName
            }
            guard let path else {
                printError("hcctl: cannot read \(config) (hcagent --check says why); give the key file with --key")
                throw ExitCode(Exit.refused)
            }
            do {
                let nodeKey = try NodeKey.read(from: path)
                printError("for desired.yaml's node_keys:  \(node): \"\(nodeKey.publicKey.line)\"")
                print(nodeKey.publicKey.line)
            } catch {
                printError("hcctl: \(error) (the agent makes its node key at its first start)")
                throw ExitCode(Exit.refused)
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Forget a key that is not the primary (root only).")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The key in base64.") var key: String
        func run() throws { print(try connection.send(.keysRemove, key: key).message ?? "ok") }
    }
}

struct VIPs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vip",
        abstract: "This node's view of the VIPs (state, holder, priority, last transition), or hand one over.",
        subcommands: [Show.self, Handover.self],
        defaultSubcommand: Show.self
    )

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "State, holder, priority and the last transition of every VIP.")
        @OptionGroup var connection: ConnectionOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            guard let status = try connection.send(.status).status else { throw ExitCode(Exit.refused) }
            if json {
                printJSON(status.vips)
            } else {
                print(StatusText.vipSection(status.vips), terminator: "")
            }
        }
    }

    struct Handover: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a VIP this node holds to the next board, make before break: it stays here until the other board has announced it.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The VIP's name.") var name: String
        @Option(help: "The board to hand it to (default: the best other live board; any board if it has not come within 5 s).") var to: String?

        func run() throws {
            let reply = try connection.send(.handover, vip: name, to: to)
            print(reply.message ?? "ok")
        }
    }
}

/// Reads a document file for plan and apply, checking it here first so errors show even without an agent.
func readDocument(_ path: String) throws -> String {
    let text: String
    do {
        text = try TextFile.read(path)
    } catch {
        printError("hcctl: \(error)")
        throw ExitCode(Exit.refused)
    }
    if case .failure(let rejected) = DesiredStateParser.parse(text, file: path) {
        printError(rejected.description)
        throw ExitCode(Exit.refused)
    }
    return text
}

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a desired-state document and show, per node, what it would change; changes nothing.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The document, e.g. desired.yaml.") var file: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let text = try readDocument(file)
        guard let plan = try connection.send(.plan, document: text, file: file).plan else { throw ExitCode(Exit.refused) }
        if json { return printJSON(plan) }
        print("\(file): valid; it would be generation \(plan.generation)")
        if let refusals = plan.refusals, !refusals.isEmpty {
            print("REFUSED on \(plan.node) (the document in force would stay there; other boards check their own policy):")
            for refusal in refusals { print("  \(refusal)") }
        }
        for warning in plan.warnings ?? [] { print("warning: \(warning)") }
        for node in plan.nodes {
            print(node.changes.isEmpty ? "\(node.node): no change" : "\(node.node):")
            for change in node.changes { print("  \(change)") }
        }
        if let steps = plan.steps {
            print(steps.isEmpty ? "steps on \(plan.node) now: none" : "steps on \(plan.node) now:")
            for step in steps { print("  \(step)") }
        } else {
            print("steps on \(plan.node): unknown (the reconciler is not running here)")
        }
        if let refusals = plan.refusals, !refusals.isEmpty { throw ExitCode(Exit.refused) }
    }
}

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Accept a desired-state document as the next generation (root only).",
        discussion: """
            With --sign (or when the board has trusted_admin_keys and \(AdminSecretKey.defaultPath) exists), hcctl reads the \
            generation in force from the agent, writes the next one into the text, signs the whole text and sends it; \
            the agent takes it as it is. If another apply got in first, the agent refuses it: run apply again.
            """)
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The document, e.g. desired.yaml.") var file: String
    @Option(help: "Sign with this admin key file (default: \(AdminSecretKey.defaultPath) when the board trusts admin keys).")
    var sign: String?

    func run() throws {
        var text = try readDocument(file)
        var keyPath = sign
        if keyPath == nil, access(AdminSecretKey.defaultPath, F_OK) == 0,
           let trusted = try connection.send(.status).status?.desired.trustedKeys, !trusted.isEmpty {
            keyPath = AdminSecretKey.defaultPath
        }
        if let keyPath {
            let key = try loadAdminKey(keyPath)
            let inForce = try connection.send(.status).status?.desired.generation ?? 0
            text = try signedNextGeneration(text, after: inForce, key: key)
        }
        print(try connection.send(.apply, document: text, file: file).message ?? "ok")
    }

    /// The text with the generation after the one in force (or its own, if higher), signed whole.
    func signedNextGeneration(_ text: String, after inForce: UInt64, key: AdminSecretKey) throws -> String {
        var body = DocumentSignature.unsigned(text)
        guard case .success(let document) = DesiredStateParser.parse(body, file: file) else { throw ExitCode(Exit.refused) }
        let generation = max(document.generation, inForce + 1)
        if generation != document.generation {
            guard let renumbered = DesiredStateParser.settingGeneration(of: body, to: generation) else {
                printError("hcctl: \(file): cannot set the generation to \(generation); write it as a plain number")
                throw ExitCode(Exit.refused)
            }
            body = renumbered
        }
        return DocumentSignature.sign(body, with: key)
    }
}

func loadAdminKey(_ path: String) throws -> AdminSecretKey {
    do {
        return try AdminSecretKey.parse(try TextFile.read(path), file: path)
    } catch let error as TextFile.Failure {
        printError("hcctl: \(error) (an admin key is written by hcctl keys admin generate)")
        throw ExitCode(Exit.refused)
    } catch {
        printError("hcctl: \(error)")
        throw ExitCode(Exit.refused)
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reread desired.yaml now (root only).")
    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        print(try connection.send(.reload).message ?? "ok")
    }
}

struct Drain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Take this board out for maintenance (root only): its VIPs go to other boards make before break, its `placement: one` units move off it, and it shows as drained in gossip. Kept across restarts of the agent.",
        discussion: "It keeps gossiping; it holds a VIP again only as the last live board, and no `one` unit comes back to it until hcctl undrain. With NODE, another board is asked through gossip, in this board's metadata signed with its node key; NODE acts on it only if it believes this board (node identity), as for handovers.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Another board to drain (default: this one).") var node: String?

    func run() throws {
        print(try connection.send(.drain, node: node).message ?? "ok")
    }
}

struct Undrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put a drained board back in service (root only): VIP priorities and unit placement as the document says.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Another board to put back in service, asked as hcctl drain NODE asks (default: this one).") var node: String?

    func run() throws {
        print(try connection.send(.undrain, node: node).message ?? "ok")
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
