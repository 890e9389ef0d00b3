// The managed-file planner: what to write given the document, the facts and what is on disk; drift, refusals,
// failures, files dropped from the document, and units restarted or reloaded once per change.
import Testing
import HomecloudSchema
import HomecloudYAML
import ReconcilerCore

@Suite struct ManagedFilesCoreTests {
    static func document(_ generation: Int = 1, hosts: String = "{% for n in roles.web.nodes %}{{ n.address }} {{ n.name }}\\n{% endfor %}",
                         extra: String = "") throws -> DesiredState {
        try DesiredStateParser.parse("""
            generation: \(generation)
            cluster: hc
            nodes:
              n1: { roles: [web], address: 10.0.0.1 }
              n2: { roles: [web], address: 10.0.0.2 }
              n3: { roles: [db], address: 10.0.0.3 }
            vips:
              - { name: front, address: 10.0.0.250/24, interface: eth0, vrid: 1 }
            roles:
              web:
                units: [ { name: web.service, state: running } ]
                files:
                  - { path: /etc/web/hosts, restart: [web.service], content: "\(hosts)" }
                  - { path: /etc/web/web.conf, mode: "0600", restart: [web.service, side.service], reload: [side.service, log.service],
                      content: "node={{ node }} at={{ address }} vip={{ vips.front.ip }} cluster={{ cluster }}" }
            \(extra)
              db: {}

            """, file: "d.yaml").get()
    }

    static func present(_ text: String, mode: UInt32 = 0o644) -> ObservedFile {
        .present(bytes: Array(text.utf8), mode: mode, uid: 0, gid: 0)
    }

    static func writes(_ actions: [ManagedFilesCore.Action]) -> [String] {
        actions.compactMap { if case .write(let file, let reason) = $0 { "\(file.path): \(reason)" } else { nil } }
    }

    @Test func templatesRenderWithThisBoardsFacts() throws {
        var core = ManagedFilesCore(node: "n2")
        core.onDocument(try Self.document(), address: "10.0.0.42")
        #expect(core.paths == ["/etc/web/hosts", "/etc/web/web.conf"])
        #expect(core.desired(at: "/etc/web/hosts")?.bytes == Array("10.0.0.1 n1\n10.0.0.2 n2\n".utf8))
        #expect(core.desired(at: "/etc/web/web.conf")?.bytes == Array("node=n2 at=10.0.0.42 vip=10.0.0.250 cluster=hc".utf8))
        #expect(core.desired(at: "/etc/web/web.conf")?.mode == 0o600)
        // Without an address in agent.yaml (a wildcard bind), the document's address for this node.
        core.onDocument(try Self.document(), address: nil)
        #expect(core.desired(at: "/etc/web/web.conf")?.bytes == Array("node=n2 at=10.0.0.2 vip=10.0.0.250 cluster=hc".utf8))
        // A board without the role manages no file.
        var other = ManagedFilesCore(node: "n3")
        other.onDocument(try Self.document(), address: nil)
        #expect(other.paths.isEmpty)
    }

    @Test func onlyWhatDiffersIsWrittenThenUnitsOnceEach() throws {
        var core = ManagedFilesCore(node: "n1")
        core.onDocument(try Self.document(), address: "10.0.0.1")
        let hosts = "10.0.0.1 n1\n10.0.0.2 n2\n"
        let actions = core.onObserved([("/etc/web/hosts", Self.present(hosts)), ("/etc/web/web.conf", .missing)], now: .seconds(1))
        #expect(Self.writes(actions) == ["/etc/web/web.conf: missing"])
        #expect(core.report().map(\.state) == ["converged", "converging"])
        let notify = core.onWritten([("/etc/web/web.conf", .written)], now: .seconds(1))
        // web.service and side.service restarted once; side.service not also reloaded; log.service reloaded.
        #expect(notify == [.restart(["web.service", "side.service"]), .reload(["log.service"])])
        #expect(core.report().map(\.state) == ["converged", "converged"])
        #expect(core.report().map(\.writes) == [0, 1])
    }

    @Test func twoFilesNamingOneUnitRestartItOnce() throws {
        var core = ManagedFilesCore(node: "n1")
        core.onDocument(try Self.document(), address: "10.0.0.1")
        let actions = core.onObserved([("/etc/web/hosts", .missing), ("/etc/web/web.conf", .missing)], now: .zero)
        #expect(Self.writes(actions).count == 2)
        let notify = core.onWritten([("/etc/web/hosts", .written), ("/etc/web/web.conf", .written)], now: .zero)
        #expect(notify == [.restart(["web.service", "side.service"]), .reload(["log.service"])])
    }

    @Test func driftIsRepairedAndSaidSo() throws {
        var core = ManagedFilesCore(node: "n1")
        core.onDocument(try Self.document(), address: "10.0.0.1")
        let hosts = "10.0.0.1 n1\n10.0.0.2 n2\n"
        let conf = "node=n1 at=10.0.0.1 vip=10.0.0.250 cluster=hc"
        #expect(core.onObserved([("/etc/web/hosts", Self.present(hosts)), ("/etc/web/web.conf", Self.present(conf, mode: 0o600))], now: .zero).isEmpty)
        // A hand edit, a chmod, a deletion, a chown: each is drift, repaired.
        #expect(Self.writes(core.onObserved([("/etc/web/hosts", Self.present(hosts + "# mine\n"))], now: .seconds(1))) == ["/etc/web/hosts: drift: content differs"])
        _ = core.onWritten([("/etc/web/hosts", .written)], now: .seconds(1))
        #expect(Self.writes(core.onObserved([("/etc/web/web.conf", Self.present(conf, mode: 0o644))], now: .seconds(2)))
                == ["/etc/web/web.conf: drift: mode 0644, wanted 0600"])
        _ = core.onWritten([("/etc/web/web.conf", .written)], now: .seconds(2))
        #expect(Self.writes(core.onObserved([("/etc/web/hosts", .missing)], now: .seconds(3))) == ["/etc/web/hosts: drift: missing"])
        _ = core.onWritten([("/etc/web/hosts", .written)], now: .seconds(3))
        let chowned = ObservedFile.present(bytes: Array(hosts.utf8), mode: 0o644, uid: 1000, gid: 0)
        #expect(Self.writes(core.onObserved([("/etc/web/hosts", chowned)], now: .seconds(4))) == ["/etc/web/hosts: drift: owner 1000:0, wanted root:root"])
    }

    @Test func aRefusedContentIsNotTriedAgainUntilItChanges() throws {
        var core = ManagedFilesCore(node: "n1")
        core.onDocument(try Self.document(), address: "10.0.0.1")
        let old = Self.present("old")
        #expect(Self.writes(core.onObserved([("/etc/web/hosts", old), ("/etc/web/web.conf", old)], now: .zero)).count == 2)
        let notify = core.onWritten([("/etc/web/hosts", .refused("testparm exited with 1")), ("/etc/web/web.conf", .failed("Read-only file system"))], now: .zero)
        #expect(notify.isEmpty)
        let report = core.report()
        #expect(report.map(\.state) == ["degraded", "degraded"])
        #expect(report[0].reason?.contains("the old file stays: testparm exited with 1") == true)
        #expect(report[1].reason == "cannot write: Read-only file system")
        // Read again: the refused content waits for a new one; the failed write waits for its retry.
        #expect(core.onObserved([("/etc/web/hosts", old), ("/etc/web/web.conf", old)], now: .seconds(5)).isEmpty)
        #expect(core.nextRetry() == .seconds(10))
        #expect(Self.writes(core.onObserved([("/etc/web/hosts", old), ("/etc/web/web.conf", old)], now: .seconds(10))) == ["/etc/web/web.conf: content differs"])
        #expect(core.onWritten([("/etc/web/web.conf", .written)], now: .seconds(10)) == [.restart(["web.service", "side.service"]), .reload(["log.service"])])
        // A new document with other content for the refused file: tried again.
        core.onDocument(try Self.document(2, hosts: "{{ node }}"), address: "10.0.0.1")
        #expect(Self.writes(core.onObserved([("/etc/web/hosts", old)], now: .seconds(11))) == ["/etc/web/hosts: content differs"])
    }

    @Test func aFileDroppedFromTheDocumentIsLeftAlone() throws {
        var core = ManagedFilesCore(node: "n1")
        core.onDocument(try Self.document(), address: "10.0.0.1")
        var third = try Self.document(2)
        third.roles[0].files.removeFirst()
        core.onDocument(third, address: "10.0.0.1")
        #expect(core.paths == ["/etc/web/web.conf"])
        // Even told about the old path, the planner writes nothing there.
        #expect(Self.writes(core.onObserved([("/etc/web/hosts", .missing), ("/etc/web/web.conf", .missing)], now: .zero)) == ["/etc/web/web.conf: missing"])
    }

    @Test func aChangedFactRewritesOnlyTheFilesThatUseIt() throws {
        var core = ManagedFilesCore(node: "n1")
        core.onDocument(try Self.document(), address: "10.0.0.1")
        let hosts = "10.0.0.1 n1\n10.0.0.2 n2\n"
        let conf = "node=n1 at=10.0.0.1 vip=10.0.0.250 cluster=hc"
        _ = core.onObserved([("/etc/web/hosts", Self.present(hosts)), ("/etc/web/web.conf", Self.present(conf, mode: 0o600))], now: .zero)
        var moved = try Self.document(2)
        moved.vips[0].address = IPPrefix("10.0.0.251/24")!
        core.onDocument(moved, address: "10.0.0.1")
        #expect(Self.writes(core.onObserved([("/etc/web/hosts", Self.present(hosts)), ("/etc/web/web.conf", Self.present(conf, mode: 0o600))], now: .seconds(1)))
                == ["/etc/web/web.conf: content differs"])
    }

    @Test func aMissingAddressIsDegradedNotWritten() throws {
        var core = ManagedFilesCore(node: "n1")
        var document = try Self.document()
        document.nodes[0].address = nil
        core.onDocument(document, address: nil)
        #expect(Self.writes(core.onObserved([("/etc/web/hosts", .missing), ("/etc/web/web.conf", .missing)], now: .zero)).isEmpty)
        #expect(core.report().map(\.state) == ["degraded", "degraded"])
        #expect(core.report()[1].reason?.contains("address") == true)
    }

    @Test func aLineDiffShowsWhatAWriteChanges() {
        #expect(LineDiff.changes(from: "a\nb\nc", to: "a\nB\nc\nd") == ["- b", "+ B", "+ d"])
        #expect(LineDiff.changes(from: "", to: "x\n") == ["+ x", "+ "])
    }
}
