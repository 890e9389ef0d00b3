// hcctl init and hcctl join: a cluster in three commands (apt install, init on the first board, join on each
// further one). They write the files the agent reads (agent.yaml, the cluster key, the starter document) with
// the same keys and writers as `hcctl keys`, and start the agent when systemd runs it.
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import HomecloudSchema
import HomecloudYAML
import Trust

struct BoardOptions: ParsableArguments {
    @Option(help: "Where to write agent.yaml; the cluster key and desired.yaml go beside it.")
    var config: String = AgentConfig.defaultPath
    @Option(help: "This board's name in the cluster (default: the hostname up to its first dot).")
    var name: String?
    @Option(help: "The LAN interface (default: the default route's, else the only one with an IPv4 address).")
    var interface: String?
    @Option(help: "The address other boards reach this one at (default: the interface's first IPv4 address).")
    var address: String?
    @Option(help: "The agent's state directory (this board's node key is kept there).")
    var stateDir: String = "/var/lib/homecloud"
    @Flag(help: "Replace an existing configuration (agent.yaml, the cluster key, desired.yaml).")
    var force = false
    @Flag(help: "Write the files only; do not (re)start hcagent.service.")
    var noStart = false

    /// Name, interface and address, checked the way agent.yaml will check them; exits 1 with the reason.
    func board() -> (node: String, interface: String, address: String) {
        guard config.hasPrefix("/") else { fail("--config must be an absolute path") }
        let node = name ?? LocalNetwork.hostname()
        var reader = YAMLReader(file: "--name")
        guard reader.checkName(node, SourceMark(line: 0, column: 0), KeyPath(), what: "node name") != nil else {
            fail("\"\(node)\" cannot be a node name (letters, digits and -_.@: only); give --name")
        }
        switch LocalNetwork.choose(interface: interface, address: address) {
        case .failure(let error): fail(error.description)
        case .success(let chosen):
            guard IPAddress(chosen.address) != nil else { fail("\"\(chosen.address)\" is not a numeric IP address") }
            return (node, chosen.interface, chosen.address)
        }
    }

    /// Refuses (exit 1) when any of `paths` exists and --force was not given: a board's configuration is the
    /// admin's, and a second init would cut it off from its cluster.
    func refuseExisting(_ paths: [String]) {
        let existing = paths.filter { access($0, F_OK) == 0 }
        guard !existing.isEmpty, !force else { return }
        fail("this board is already configured (\(existing.joined(separator: ", ")) exist); give --force to replace "
            + (existing.count == 1 ? "it" : "them"))
    }

    func write(_ path: String, _ text: String, mode: mode_t) {
        do {
            TextFile.makeDirectories(BootstrapFiles.directory(of: path), mode: 0o755)
            try TextFile.writeAtomically(path, text, mode: mode)
            chmod(path, mode)
        } catch {
            fail("\(error)")
        }
    }

    /// Restarts the agent so it reads the new files; a board without systemd is told how to start it.
    func startAgent() {
        guard !noStart, config == AgentConfig.defaultPath, access("/run/systemd/system", F_OK) == 0 else {
            print("start the agent: systemctl restart hcagent (or hcagent --config \(config))")
            return
        }
        if run(["systemctl", "restart", "hcagent.service"]) == 0 {
            print("started hcagent.service; hcctl members shows the cluster")
        } else {
            print("could not start hcagent.service: systemctl status hcagent and journalctl -u hcagent say why")
        }
    }
}

/// Exits 1 with one line on stderr (refused, as the other hcctl commands do).
func fail(_ message: String) -> Never {
    printError("hcctl: \(message)")
    exit(Exit.refused)
}

/// Runs a command and waits for it; its exit status, or -1.
func run(_ argv: [String]) -> Int32 {
    var pid = pid_t()
    let arguments = argv.map { strdup($0) } + [nil]
    defer { for argument in arguments { free(argument) } }
    guard posix_spawnp(&pid, argv[0], nil, nil, arguments, environ) == 0 else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
}

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set up the first board of a new cluster, and print the command for each further board.",
        discussion: """
            Writes a new cluster (gossip) key, a new admin key pair with its public line in trusted_admin_keys, agent.yaml \
            (this board's name, address and interface, a policy that allows nothing yet), this board's node key and a \
            signed starter document, then restarts hcagent.service. The admin private key signs documents: it is not \
            left on the board (SECURITY.md) but written to --admin-key-out, a tmpfs by default, for you to copy to your \
            own machine; --keep-admin-key keeps it in /etc/homecloud/admin.key, where hcctl apply finds it. \
            Prints `hcctl join TOKEN` for the other boards: the token holds the cluster key, so treat it as a password.
            """)
    @OptionGroup var board: BoardOptions
    @Option(help: "The cluster's name in the starter document.") var cluster: String = "home"
    @Flag(help: "Keep the admin private key on this board, in \(AdminSecretKey.defaultPath).") var keepAdminKey = false
    @Option(help: "Where to write the admin private key when it is not kept (tmpfs: gone at the next reboot).")
    var adminKeyOut: String = "/run/homecloud-admin.key"

    func run() throws {
        let (node, interface, address) = board.board()
        let keyFile = BootstrapFiles.keyFile(config: board.config), desired = BootstrapFiles.desiredFile(config: board.config)
        let adminKeyPath = keepAdminKey ? AdminSecretKey.defaultPath : adminKeyOut
        board.refuseExisting([board.config, keyFile, desired, adminKeyPath])

        let adminKey = AdminSecretKey.generate()
        if board.force { unlink(adminKeyPath) }
        do { try adminKey.write(to: adminKeyPath) } catch { fail("\(error)") }

        TextFile.makeDirectories(board.stateDir, mode: 0o700)
        let nodeKey: NodeKey
        do { nodeKey = try NodeKey.loadOrCreate(at: board.stateDir + "/" + NodeKey.fileName).key } catch { fail("\(error)") }

        let clusterKey = BootstrapFiles.newClusterKey()
        let trusted = [adminKey.publicKey.line]
        board.write(keyFile, BootstrapFiles.clusterKeyFile(clusterKey), mode: 0o600)
        let document = BootstrapFiles.starterDocument(cluster: cluster, node: node, nodeKey: nodeKey.publicKey.line)
        board.write(desired, DocumentSignature.sign(document, with: adminKey), mode: 0o644)
        board.write(board.config, BootstrapFiles.agentYAML(
            config: board.config, node: node, address: address, interface: interface, join: [], trustedAdminKeys: trusted,
            stateDir: board.stateDir, writtenBy: "hcctl init"), mode: 0o644)

        print("""
            wrote \(board.config) (node \(node), \(address) on \(interface)), \(keyFile), \(desired) (cluster \(cluster), generation 1, signed)
            admin private key: \(adminKeyPath) (mode 0600)
            """)
        if !keepAdminKey {
            print("""
                  it signs every document: copy it to your own machine now and keep a copy offline, e.g.
                    scp root@\(address):\(adminKeyPath) ~/.config/homecloud/admin.key
                  then remove it here (rm \(adminKeyPath)). To apply a document later, bring it back for the moment:
                    hcctl apply desired.yaml --sign FILE
                """)
        }
        let token = JoinToken(join: HostPort(host: address, port: AgentConfig.defaultPort), clusterKey: clusterKey, trustedAdminKeys: trusted)
        print("""
            On each further board (after apt install ./hcagent_*.deb), run this; the token is a password (it holds the cluster key):

                hcctl join \(token.text)

            """)
        board.startAgent()
    }
}

struct Join: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set up a further board with the token `hcctl init` printed on the first board.",
        discussion: """
            Writes the cluster key and agent.yaml (this board's name, address and interface, join: the first board, its \
            trusted admin keys, the same policy as hcctl init), then restarts hcagent.service; the document comes by \
            gossip. The token holds the cluster key: it is a password, so do not leave it in shared shell histories.
            """)
    @OptionGroup var board: BoardOptions
    @Argument(help: "The token hcctl init printed (hcjoin1:...); a password.") var token: String

    func run() throws {
        let parsed: JoinToken
        switch JoinToken.parse(token) {
        case .failure(let error): fail(error.description)
        case .success(let value): parsed = value
        }
        let (node, interface, address) = board.board()
        let keyFile = BootstrapFiles.keyFile(config: board.config)
        board.refuseExisting([board.config, keyFile])
        for line in parsed.trustedAdminKeys {
            do { _ = try AdminPublicKey(line: line) } catch { fail("the token's admin key: \(error)") }
        }
        board.write(keyFile, BootstrapFiles.clusterKeyFile(parsed.clusterKey), mode: 0o600)
        board.write(board.config, BootstrapFiles.agentYAML(
            config: board.config, node: node, address: address, interface: interface, join: [parsed.join],
            trustedAdminKeys: parsed.trustedAdminKeys, stateDir: board.stateDir, writtenBy: "hcctl join"), mode: 0o644)
        print("""
            wrote \(board.config) (node \(node), \(address) on \(interface), joining \(parsed.join)) and \(keyFile)
            the document comes by gossip; to give this board roles, add it to the document's nodes (and its
            `hcctl keys node` line to node_keys) and apply it signed with the admin key
            """)
        board.startAgent()
    }
}
