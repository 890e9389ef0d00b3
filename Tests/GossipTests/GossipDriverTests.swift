// Two GossipDrivers on loopback, each on its own EventThread: they join, a newer document announced in one's
// metadata is fetched by the other at once, and a leave is seen.
import HomecloudSchema
import HomecloudYAML
import Logging
import Reactor
import Testing
@testable import Gossip
@testable import GossipCore
#if canImport(Glibc)
import Glibc
#endif

/// A driver, its thread and what it reports.
private final class Board: @unchecked Sendable {
    let thread: EventThread
    var driver: GossipDriver!
    var reports: AsyncStream<GossipDriver.Report>.Iterator
    let sink: AsyncStream<GossipDriver.Report>.Continuation
    let directory: String

    init(name: String, port: UInt16, join: [UInt16], key: [UInt8]) async throws {
        thread = try EventThread(name: "test-\(name)")
        var template = Array("/tmp/hc-driver.XXXXXX".utf8CString)
        directory = String(cString: mkdtemp(&template)!)
        let (stream, sink) = AsyncStream.makeStream(of: GossipDriver.Report.self)
        reports = stream.makeAsyncIterator()
        self.sink = sink
        let address = GossipAddress(ipv4: 127, 0, 0, 1, port: port)
        let settings = GossipDriver.Settings(node: name, bind: address, advertised: address,
                                             join: join.map { GossipAddress(ipv4: 127, 0, 0, 1, port: $0) },
                                             stateDir: directory, version: "test")
        let ring = try GossipKeyring(keys: [key])
        let failure: String? = await thread.submit { [self] () -> String? in
            do {
                driver = try GossipDriver(thread: thread, settings: settings, keyring: ring, reports: sink,
                                          logger: Logger(label: "test"))
                driver.start()
                return nil
            } catch {
                return "\(error)"
            }
        } ?? "the thread stopped"
        if let failure { throw GossipTransportError(description: failure) }
    }

    /// The next report that `matches`; nil if none comes within 10 s (the reports end then: a failure, not a hang).
    func next(_ matches: (GossipDriver.Report) -> Bool) async -> GossipDriver.Report? {
        let sink = self.sink
        let timeout = Task {
            try await Task.sleep(for: .seconds(10))
            sink.finish()
        }
        defer { timeout.cancel() }
        while let report = await reports.next() {
            if matches(report) { return report }
        }
        return nil
    }

    func end() {
        thread.execute { [self] in driver.finish() }
        thread.stop()
        thread.waitUntilEnded()
        _ = system("rm -rf '\(directory)'")
    }
}

private func alive(_ names: Set<String>) -> (GossipDriver.Report) -> Bool {
    { report in
        guard case .members(let views) = report else { return false }
        return Set(views.filter { $0.member.state == .alive }.map(\.member.name)) == names
    }
}

@Suite struct GossipDriverTests {
    @Test func joinFetchANewerDocumentAndLeave() async throws {
        let base = UInt16(40000 + Int(getpid() % 10000))
        let key = [UInt8](repeating: 0x5A, count: 32)
        let a = try await Board(name: "a", port: base, join: [], key: key)
        let b = try await Board(name: "b", port: base + 1, join: [base], key: key)
        #expect(await a.next(alive(["a", "b"])) != nil, "a sees b")
        #expect(await b.next(alive(["a", "b"])) != nil, "b sees a")

        let text = "generation: 7\ncluster: c\nnodes: { a: [], b: [] }\n"
        let document = try DesiredStateParser.parse(text, file: "d").get()
        let start = ContinuousClock.now
        a.thread.execute { a.driver.onDocument(document, text: text) }
        let fetched = await b.next { if case .document = $0 { true } else { false } }
        guard case .document(let got, let from)? = fetched else {
            Issue.record("b never fetched a's document")
            return
        }
        #expect(got == text && from == "a")
        // Within a few hundred ms on an idle machine; the bound is loose because this task may wait for a thread
        // while other tests keep the pool busy (DocumentFetchPolicyTests pins the decision to fetch at once).
        #expect(ContinuousClock.now - start < .seconds(3))

        a.thread.execute { a.driver.leave() }
        let left = await b.next { report in
            guard case .members(let views) = report else { return false }
            return views.contains { $0.member.name == "a" && $0.member.state == .left }
        }
        #expect(left != nil, "b sees a leave")
        #expect(await a.next { if case .stopped = $0 { true } else { false } } != nil, "a stops after its linger")
        a.end()
        b.end()
    }

    /// A secret's source file is read when inotify sees it appear (its directory made later, as k3s does), be
    /// replaced by rename or rewritten in place: the new copy is reported at once, with no stat poll to wait for.
    @Test func aSourceFileIsReadWhenItAppearsAndChanges() async throws {
        let base = UInt16(40000 + Int(getpid() % 10000)) + 20
        let a = try await Board(name: "a", port: base, join: [], key: [UInt8](repeating: 0x5B, count: 32))
        let source = a.directory + "/k3s/server/node-token"
        let text = "generation: 1\ncluster: c\nnodes: { a: [] }\nsecrets: { tok: { from: a, file: \(source) } }\n"
        let document = try DesiredStateParser.parse(text, file: "d").get()
        a.thread.execute { a.driver.onDocument(document, text: text) }
        func held(_ report: GossipDriver.Report) -> String? {
            guard case .secrets(_, let statuses) = report, let status = statuses.first(where: { $0.name == "tok" }),
                  status.state == "held" else { return nil }
            return status.fingerprint
        }
        func write(_ value: String, to path: String) {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            _ = value.withCString { Glibc.write(fd, $0, strlen($0)) }
            close(fd)
        }
        try await Task.sleep(for: .milliseconds(100))
        mkdir(a.directory + "/k3s", 0o700)
        mkdir(a.directory + "/k3s/server", 0o700)
        var start = ContinuousClock.now
        write("K10first::server:one\n", to: source)
        let first = await a.next { held($0) != nil }.flatMap(held)
        print("appeared: read and reported in \(ContinuousClock.now - start)")
        #expect(first != nil)
        try await Task.sleep(for: .milliseconds(20))
        start = ContinuousClock.now
        write("K10second::server:two\n", to: source + ".new")
        rename(source + ".new", source)
        let second = await a.next { held($0).map { $0 != first } ?? false }.flatMap(held)
        print("renamed over: read and reported in \(ContinuousClock.now - start)")
        #expect(second != nil)
        try await Task.sleep(for: .milliseconds(20))
        start = ContinuousClock.now
        write("K10third::server:three\n", to: source)
        let third = await a.next { held($0).map { $0 != first && $0 != second } ?? false }.flatMap(held)
        let inPlace = ContinuousClock.now - start
        print("rewritten in place: read and reported in \(inPlace)")
        #expect(third != nil)
        // The stat poll it replaces waited up to a second and a half; on a busy machine the bound stays loose.
        #expect(inPlace < .seconds(3))
        a.end()
    }
}
