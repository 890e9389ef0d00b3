// What state_dir holds, damaged (garbage, truncated, binary) or unwritable: ignored with a warning, never a
// crash; a full or read-only state_dir is one problem in status, cleared when writes work again.
@testable import AgentRuntime
import Gossip
import HomecloudSchema
import HomecloudYAML
import Logging
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Keeps every log line, to check that a damaged file is reported.
final class CapturedLog: Sendable {
    let lines = Mutex<[String]>([])
    var logger: Logger {
        Logger(label: "test") { _ in CapturingHandler(log: self) }
    }
    var all: [String] { lines.withLock { $0 } }
}

struct CapturingHandler: LogHandler {
    let log: CapturedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        log.lines.withLock { $0.append("\(event.level): \(event.message)") }
    }
}

func writeBytes(_ path: String, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
}

let binary: [UInt8] = [0xFF, 0xFE, 0x00, 0x01, 0xC3, 0x28, 0x80, 0x00, 0x7F]
let goodDocument = """
generation: 4
cluster: home
nodes: { n1: [web] }
roles:
  web:
    units: []

"""

@Suite struct StateDirTests {
    @Test func aDamagedKeptDocumentIsIgnoredWithAWarning() {
        let directory = TemporaryDirectory()
        let path = directory.path + "/desired.yaml"
        for damaged in [Array(goodDocument.utf8.prefix(30)), binary, Array("generation: [[[\n\u{0}".utf8), []] {
            writeBytes(path, damaged)
            let log = CapturedLog()
            #expect(StateDirFiles.persistedDocument(at: path, logger: log.logger) == nil)
            #expect(log.all.contains { $0.hasPrefix("warning: ignoring the kept document") }, "\(log.all)")
        }
        writeBytes(path, Array(goodDocument.utf8))
        #expect(StateDirFiles.persistedDocument(at: path, logger: CapturedLog().logger) == goodDocument)
        let log = CapturedLog()
        #expect(StateDirFiles.persistedDocument(at: directory.path + "/none.yaml", logger: log.logger) == nil)
        #expect(log.all.isEmpty, "a board's first start has no kept document: nothing to say")
    }

    @Test func anAgentStartsWithoutADamagedKeptDocumentAndTakesTheFileOne() async {
        let directory = TemporaryDirectory()
        mkdir(directory.path + "/state", 0o700)
        writeBytes(directory.path + "/state/desired.yaml", binary)
        directory.write("desired.yaml", goodDocument)
        let config = AgentConfig(node: "n1", socket: directory.path + "/hc.sock", stateDir: directory.path + "/state",
                                 desired: directory.path + "/desired.yaml")
        let state = DocumentKeeper(config: config, logger: CapturedLog().logger)
        await state.restorePersisted()
        #expect(await state.document == nil)
        #expect(await state.status().desired.rejected.isEmpty, "a damaged kept copy is not a refused document")
        await state.reloadDesired()
        #expect(await state.document?.generation == 4)
        #expect((try? TextFile.read(directory.path + "/state/desired.yaml")) == goodDocument, "the damaged copy is replaced")
    }

    @Test func aDamagedIncarnationFileStartsFromOneAndTheLargestNumberDoesNotOverflow() {
        let directory = TemporaryDirectory()
        let path = directory.path + "/incarnation"
        for damaged in [binary, Array("12x\n".utf8), Array("-3\n".utf8), Array("\(UInt64.max)\n".utf8), Array("99999999999999999999999\n".utf8), []] {
            writeBytes(path, damaged)
            let log = CapturedLog()
            let last = GossipStateFiles.lastIncarnation(at: path, logger: log.logger)
            #expect(last == 0)
            #expect(last &+ 1 == 1)
            #expect(log.all.count == 1 && log.all[0].hasPrefix("warning: ignoring"), "\(log.all)")
        }
        writeBytes(path, Array("41\n".utf8))
        #expect(GossipStateFiles.lastIncarnation(at: path, logger: CapturedLog().logger) == 41)
    }

    @Test func damagedPeerLinesAreSkippedAndTheRestKept() {
        let directory = TemporaryDirectory()
        let path = directory.path + "/peers"
        writeBytes(path, Array("n2 10.0.0.2:7964\nn3 10.0.0.3:99999\ngarbage\nn4 [fd00::4]:7964\nn5 10.0.0.5:7964 extra\nn2 10.0.0.2:7964\nn6 10.0.0".utf8))
        let log = CapturedLog()
        let peers = GossipStateFiles.peers(at: path, logger: log.logger)
        #expect(peers.map(\.description) == [GossipAddress(ipv4: 10, 0, 0, 2, port: 7964).description,
                                             GossipAddress(host: IPAddress("fd00::4")!.bytes, port: 7964)!.description])
        #expect(log.all.count == 1 && log.all[0].contains("4 damaged lines"), "\(log.all)")
        writeBytes(path, binary)
        let binaryLog = CapturedLog()
        #expect(GossipStateFiles.peers(at: path, logger: binaryLog.logger).isEmpty)
        #expect(binaryLog.all.count == 1)
    }

    @Test func aDamagedKeptKeyringIsIgnoredWithAWarningThatNamesNoKey() {
        let directory = TemporaryDirectory()
        let path = directory.path + "/keyring"
        let key = Base64.encode([UInt8](repeating: 7, count: 32))
        for damaged in [binary, Array(key.prefix(20).utf8), Array("\(key)\nnot a key\n".utf8), Array("\n\n".utf8)] {
            writeBytes(path, damaged)
            let log = CapturedLog()
            #expect(GossipStateFiles.keptKeyring(at: path, logger: log.logger) == nil)
            #expect(log.all.count == 1 && log.all[0].hasPrefix("warning: ignoring the kept keyring"), "\(log.all)")
            #expect(!log.all[0].contains(key), "a key never reaches the log")
        }
        writeBytes(path, Array("\(key)\n".utf8))
        #expect(GossipStateFiles.keptKeyring(at: path, logger: CapturedLog().logger)?.keys.count == 1)
    }

    @Test func anUnwritableStateDirIsOneProblemUntilARetryWorks() async throws {
        let directory = TemporaryDirectory()
        let log = CapturedLog()
        // state_dir does not exist and cannot be made (its parent is a file): every write there fails.
        directory.write("blocked", "")
        let config = AgentConfig(node: "n1", socket: directory.path + "/hc.sock", stateDir: directory.path + "/blocked/state",
                                 desired: directory.path + "/desired.yaml")
        directory.write("desired.yaml", goodDocument)
        let state = DocumentKeeper(config: config, logger: log.logger)
        await state.reloadDesired()
        #expect(await state.document?.generation == 4, "the document is taken all the same")
        let problems = state.problems
        for _ in 0..<3 {
            #expect(!problems.keepInStateDir { try TextFile.writeAtomically(config.stateDir + "/peers", "x") })
        }
        #expect(!(await StateDirService.retry(state)))
        #expect(problems.all.map(\.part) == ["state_dir"])
        #expect(problems.all.first?.reason.contains("running on what is in memory") == true)
        #expect(log.all.filter { $0.contains("state_dir") }.count == 1, "five failed writes, one log line: \(log.all)")
        #expect(await state.status().problems.map(\.part) == ["state_dir"])

        // A write that happens to pass does not clear it; a retry that works does, and keeps the document.
        unlink(directory.path + "/blocked")
        mkdir(directory.path + "/blocked", 0o700)
        mkdir(config.stateDir, 0o700)
        #expect(problems.keepInStateDir { try TextFile.writeAtomically(config.stateDir + "/peers", "x") })
        #expect(problems.all.count == 1)
        #expect(await StateDirService.retry(state))
        #expect(problems.all.isEmpty)
        #expect((try? TextFile.read(config.stateDir + "/desired.yaml")) == goodDocument)
        #expect(log.all.filter { $0.contains("state_dir") }.count == 2 && log.all.last?.contains("writable again") == true, "\(log.all)")
    }
}
