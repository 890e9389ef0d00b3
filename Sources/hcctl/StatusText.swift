// `hcctl status` for people: short sections with aligned columns.
import HomecloudSchema
#if canImport(Glibc)
import Glibc
#endif

enum StatusText {
    /// `now`: Unix seconds for "12s ago"; nil prints clock times instead (--watch, whose screen stays until a change).
    static func render(_ report: StatusReport, now: Int? = Int(time(nil))) -> String {
        var status = report
        // An older agent leaves these to hcctl: the same rules make them here.
        status.explainUnknowns()
        var out = (status.headline ?? StatusHeadline.line(for: status)) + "\n"
        out += "node     \(status.node)"
        if let cluster = status.cluster { out += " (cluster \(cluster))" }
        out += "   hcagent \(status.version)\n"
        if let generation = status.desired.generation {
            out += "desired  generation \(generation) from \(status.desired.file)\n"
        } else {
            out += "desired  none yet (waiting for \(status.desired.file))\n"
        }
        if !status.desired.rejected.isEmpty {
            out += "         last document REFUSED; the generation above stays in force:\n"
            for diagnostic in status.desired.rejected { out += "           \(diagnostic)\n" }
        }
        out += trustSection(status.desired)
        if status.drained == true {
            out += "DRAINED  this board: its VIPs only as the last live board, no `one` unit; hcctl undrain puts it back\n"
        }
        if let restart = status.restart { out += "RESTART  \(restart.line)\n" }
        if !status.problems.isEmpty {
            out += "DEGRADED (the other parts run on):\n"
            for problem in status.problems { out += "  \(problem.part): \(problem.reason)\n" }
        }
        out += memberSection(status.members, now: now)
        out += vipSection(status.vips, now: now)
        if !status.probes.isEmpty { out += probeSection(status.probes, now: now) }
        if let convergence = status.convergence { out += "this node: \(convergence)\n" }
        out += unitSection(status.units)
        if let files = status.files { out += fileSection(files) }
        if let secrets = status.secrets { out += secretSection(secrets) }
        if let facts = status.facts { out += factSection(facts) }
        return out
    }

    /// Which documents this board takes (signed or any, its policy), and the last it refused.
    static func trustSection(_ desired: DesiredSummary) -> String {
        var out = ""
        if let trusted = desired.trustedKeys {
            if trusted.isEmpty {
                out += "trust    ANY document (no trusted_admin_keys): whoever holds the gossip key can change this board\n"
            } else {
                out += "trust    signed documents only (admin keys \(trusted.joined(separator: ", ")))"
                out += desired.signedBy.map { "; in force signed by \($0)\n" } ?? "\n"
            }
        }
        // An older agent sends neither field: say nothing rather than "none".
        if desired.trustedKeys != nil {
            out += desired.policy.map { "policy   \($0)\n" } ?? "policy   none: the document may manage any unit and run any command here\n"
        }
        for refusal in desired.refused ?? [] {
            out += "refused  \(refusal.generation.map { "generation \($0)" } ?? "a document") from \(refusal.source) (\(refusal.reason)):\n"
            for message in refusal.messages { out += "           \(message)\n" }
        }
        return out
    }

    static func memberSection(_ members: [MemberStatus], now: Int? = Int(time(nil))) -> String {
        section("members", ["NAME", "ADDRESS", "STATE", "INCARNATION", "SINCE", "GENERATION", "UNITS", "PROBES", "VIPS", "IDENTITY", "ROLES"], members.map {
            [$0.name, $0.address, $0.drained == true ? "\($0.state),drained" : $0.state, $0.incarnation.map(String.init) ?? "-", $0.since.map { since($0, now: now) } ?? "-",
             $0.generation.map(String.init) ?? "-", $0.convergence ?? "-", probeSummary($0), $0.vips.map { $0.isEmpty ? "-" : $0.joined(separator: ",") } ?? "-",
             $0.identity ?? "-", $0.roles?.joined(separator: ",") ?? ""]
        })
    }

    /// "3 ok", "FAILING k3s-api (1 of 3)", or "-" when that board has not said.
    static func probeSummary(_ member: MemberStatus) -> String {
        guard let count = member.probes else { return "-" }
        let failing = member.failingProbes ?? []
        return failing.isEmpty ? "\(count) ok" : "FAILING \(failing.joined(separator: ",")) (\(failing.count) of \(count))"
    }

    static func probeSection(_ probes: [ProbeStatus], now: Int? = Int(time(nil))) -> String {
        section("probes", ["NAME", "STATE", "IN A ROW", "LATENCY", "SINCE", "LAST"], probes.map {
            [$0.name, $0.state, $0.state == "failing" ? "\($0.failures) failed" : "\($0.passes) passed",
             $0.latencyMs.map { "\($0) ms" } ?? "-", since($0.since, now: now), $0.last ?? Self.probeNotRun]
        })
    }

    static func vipSection(_ vips: [VIPStatus], now: Int? = Int(time(nil))) -> String {
        section("vips", ["NAME", "ADDRESS", "STATE", "HOLDER", "PRIORITY", "SINCE", "WHY"], vips.map {
            // Several addresses print comma-joined in one column, so that scripts splitting on spaces still see 7 fields.
            [$0.name, $0.addresses?.joined(separator: ",") ?? $0.address, $0.state, $0.holder ?? "-", $0.priority.map(String.init) ?? "-",
             $0.since.map { since($0, now: now) } ?? "-",
             [$0.group.map { "group \($0)" }, $0.reason, $0.priorityReason].compactMap { $0 }.joined(separator: "; ")]
        })
    }

    static func unitSection(_ units: [UnitStatus]) -> String {
        section("units", ["NAME", "DESIRED", "ACTIVE", "STATE", "WHY"], units.map {
            [$0.name, $0.desired, $0.active, $0.state ?? "-", $0.reason ?? ""]
        })
    }

    /// Managed files: shown only when the document gives this board any.
    static func fileSection(_ files: [FileStatus]) -> String {
        section("files", ["PATH", "ROLE", "STATE", "WRITES", "WHY"], files.map {
            [$0.path, $0.role, $0.state, String($0.writes), $0.reason ?? ""]
        })
    }

    /// Shared secrets: never a value, only a keyed fingerprint and the age of the value.
    static func secretSection(_ secrets: [SecretStatus]) -> String {
        section("secrets", ["NAME", "FROM", "STATE", "FINGERPRINT", "AGE", "WHY"], secrets.map {
            [$0.name, $0.from, $0.state, $0.fingerprint ?? "-", $0.age.map { "\($0)s" } ?? "-", $0.reason ?? ""]
        })
    }

    /// Per-board facts: public values (a Syncthing device ID), a long one shortened; --json has it whole.
    static func factSection(_ facts: [FactStatus]) -> String {
        section("facts", ["NAME", "BOARD", "STATE", "VALUE", "AGE", "WHY"], facts.map {
            [$0.name, $0.node, $0.state, $0.value.map(shortFactValue) ?? "-", $0.age.map { "\($0)s" } ?? "-", $0.reason ?? ""]
        })
    }

    /// At most `factValueWidth` characters: the start and an ellipsis.
    static func shortFactValue(_ value: String) -> String {
        value.count <= factValueWidth ? value : String(value.prefix(factValueWidth - 1)) + "…"
    }

    static let factValueWidth = 24

    /// A probe without a result: the agent sends `last` null until its first run.
    static let probeNotRun = "not run yet"

    /// "12s ago", or with no `now` the local clock time ("17:02:11").
    static func since(_ seconds: Int, now: Int?) -> String {
        guard seconds > 0 else { return "-" }
        if let now { return "\(max(0, now - seconds))s ago" }
        var time = time_t(seconds), parts = tm()
        localtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "at \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
    }

    static func section(_ title: String, _ header: [String], _ rows: [[String]]) -> String {
        guard !rows.isEmpty else { return "\(title)\n  (none)\n" }
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        var out = "\(title)\n"
        for row in all {
            let cells = row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }
            out += "  " + cells.joined(separator: "  ") + "\n"
        }
        return out
    }
}
