// A managed file's owner in the planner: names resolved through the shell's lookup, a changed owner is drift, an
// owner unknown on this board degrades only that file (looked up again each round), and a file that cannot be
// read back after its write is not written again and again.
import Testing
import HomecloudSchema
import HomecloudYAML
import ReconcilerCore

@Suite struct ManagedFileOwnerTests {
    static let document = try! DesiredStateParser.parse("""
        generation: 1
        cluster: hc
        nodes: { n1: [sync] }
        roles:
          sync:
            units: [ { name: syncthing@dnas.service, state: running } ]
            files:
              - { path: /var/lib/dnas/config.xml, mode: "0600", owner: "dnas:dnas", restart: [syncthing@dnas.service], content: "<configuration/>" }
              - { path: /etc/plain.conf, content: plain }
              - { path: /etc/numeric.conf, content: numeric, owner: "1001:1002" }

        """, file: "d.yaml").get()
    static let bytes = Array("<configuration/>".utf8)

    final class Users: @unchecked Sendable {
        var known: [String: UInt32] = [:]
        var lookups = 0
        func lookup(_ owner: FileOwner) -> OwnerLookup {
            lookups += 1
            guard let uid = known[owner.user], let gid = known[owner.group] else { return .unknown("no user \"\(owner.user)\" on this board") }
            return .found(OwnerIDs(uid: uid, gid: gid))
        }
    }

    static func writes(_ actions: [ManagedFilesCore.Action]) -> [String] {
        actions.compactMap { if case .write(let file, let reason) = $0 { "\(file.path): \(reason)" } else { nil } }
    }

    @Test func namesAreResolvedAndTheWriteCarriesTheIds() {
        let users = Users()
        users.known = ["dnas": 998]
        var core = ManagedFilesCore(node: "n1", lookupOwner: { users.lookup($0) })
        core.onDocument(Self.document, address: nil)
        #expect(core.desired(at: "/var/lib/dnas/config.xml")?.ownerIDs == OwnerIDs(uid: 998, gid: 998))
        #expect(core.desired(at: "/etc/plain.conf")?.ownerIDs == .root)
        #expect(core.desired(at: "/etc/numeric.conf")?.ownerIDs == OwnerIDs(uid: 1001, gid: 1002))
        #expect(users.lookups == 1)  // root:root and numbers need no lookup
        let actions = core.onObserved([("/var/lib/dnas/config.xml", .present(bytes: Self.bytes, mode: 0o600, uid: 0, gid: 0)),
                                       ("/etc/plain.conf", .present(bytes: Array("plain".utf8), mode: 0o644, uid: 0, gid: 0)),
                                       ("/etc/numeric.conf", .present(bytes: Array("numeric".utf8), mode: 0o644, uid: 1001, gid: 1002))], now: .zero)
        #expect(Self.writes(actions) == ["/var/lib/dnas/config.xml: owner 0:0, wanted dnas:dnas (998:998)"])
        #expect(core.onWritten([("/var/lib/dnas/config.xml", .written)], now: .zero) == [.restart(["syncthing@dnas.service"])])
        #expect(core.report().map(\.state) == ["converged", "converged", "converged"])
        // chown by hand: drift, repaired.
        let drift = core.onObserved([("/var/lib/dnas/config.xml", .present(bytes: Self.bytes, mode: 0o600, uid: 998, gid: 0))], now: .seconds(1))
        #expect(Self.writes(drift) == ["/var/lib/dnas/config.xml: drift: owner 998:0, wanted dnas:dnas (998:998)"])
    }

    @Test func anUnknownOwnerDegradesThatFileOnlyUntilTheUserExists() {
        let users = Users()
        var core = ManagedFilesCore(node: "n1", lookupOwner: { users.lookup($0) })
        core.onDocument(Self.document, address: nil)
        let first = core.onObserved([("/var/lib/dnas/config.xml", .missing), ("/etc/plain.conf", .missing), ("/etc/numeric.conf", .missing)], now: .zero)
        #expect(Self.writes(first) == ["/etc/plain.conf: missing", "/etc/numeric.conf: missing"])
        _ = core.onWritten([("/etc/plain.conf", .written), ("/etc/numeric.conf", .written)], now: .zero)
        let report = core.report()[0]
        #expect(report.state == "degraded")
        #expect(report.reason == "owner dnas:dnas: no user \"dnas\" on this board; not written")
        // The user is made (the package's postinst, an admin): the next round writes it.
        users.known = ["dnas": 998]
        let second = core.onObserved([("/var/lib/dnas/config.xml", .missing)], now: .seconds(1))
        #expect(Self.writes(second) == ["/var/lib/dnas/config.xml: missing"])
        #expect(core.desired(at: "/var/lib/dnas/config.xml")?.ownerIDs == OwnerIDs(uid: 998, gid: 998))
    }

    @Test func aFileThatCannotBeReadBackIsNotWrittenAgainAndAgain() {
        var core = ManagedFilesCore(node: "n1", lookupOwner: { _ in .found(OwnerIDs(uid: 998, gid: 998)) })
        core.onDocument(Self.document, address: nil)
        let path = "/var/lib/dnas/config.xml"
        let denied = ObservedFile.unreadable("Permission denied (a file of another owner: the agent needs CAP_DAC_READ_SEARCH)")
        #expect(Self.writes(core.onObserved([(path, denied)], now: .zero)).count == 1)
        #expect(core.onWritten([(path, .written)], now: .zero) == [.restart(["syncthing@dnas.service"])])
        // Read back: still denied. Writing again would restart Syncthing every round: it waits, degraded.
        #expect(Self.writes(core.onObserved([(path, denied)], now: .seconds(1))).isEmpty)
        #expect(core.report()[0].state == "degraded")
        #expect(core.report()[0].reason?.hasPrefix("written, but cannot be read back to watch for drift: Permission denied") == true)
        // Readable again and as written: converged.
        _ = core.onObserved([(path, .present(bytes: Self.bytes, mode: 0o600, uid: 998, gid: 998))], now: .seconds(2))
        #expect(core.report()[0].state == "converged")
    }
}
