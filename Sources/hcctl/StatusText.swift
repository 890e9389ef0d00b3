// `hcctl status` for people: short sections with aligned columns.
import HomecloudSchema
#if canImport(Glibc)
import Glibc
#endif

enum StatusText {
    static func render(_ status: StatusReport) -> String {
        var out = "node     \(status.node)"
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
        if !status.problems.isEmpty {
            out += "DEGRADED (the other parts run on):\n"
            for problem in status.problems { out += "  \(problem.part): \(problem.reason)\n" }
        }
        out += memberSection(status.members)
        out += vipSection(status.vips)
        if !status.probes.isEmpty { out += probeSection(status.probes) }
        if let convergence = status.convergence { out += "this node: \(convergence)\n" }
        out += unitSection(status.units)
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

    static func memberSection(_ members: [MemberStatus], now: Int = Int(time(nil))) -> String {
        section("members", ["NAME", "ADDRESS", "STATE", "INCARNATION", "SINCE", "GENERATION", "UNITS", "PROBES", "VIPS", "IDENTITY", "ROLES"], members.map {
            [$0.name, $0.address, $0.drained == true ? "\($0.state),drained" : $0.state, $0.incarnation.map(String.init) ?? "-", $0.since.map { "\(max(0, now - $0))s ago" } ?? "-",
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

    static func probeSection(_ probes: [ProbeStatus], now: Int = Int(time(nil))) -> String {
        section("probes", ["NAME", "STATE", "IN A ROW", "LATENCY", "SINCE", "LAST"], probes.map {
            [$0.name, $0.state, $0.state == "failing" ? "\($0.failures) failed" : "\($0.passes) passed",
             $0.latencyMs.map { "\($0) ms" } ?? "-", "\(max(0, now - $0.since))s ago", $0.last ?? "-"]
        })
    }

    static func vipSection(_ vips: [VIPStatus], now: Int = Int(time(nil))) -> String {
        section("vips", ["NAME", "ADDRESS", "STATE", "HOLDER", "PRIORITY", "SINCE", "WHY"], vips.map {
            [$0.name, $0.address, $0.state, $0.holder ?? "-", $0.priority.map(String.init) ?? "-",
             $0.since.map { "\(max(0, now - $0))s ago" } ?? "-", [$0.reason, $0.priorityReason].compactMap { $0 }.joined(separator: "; ")]
        })
    }

    static func unitSection(_ units: [UnitStatus]) -> String {
        section("units", ["NAME", "DESIRED", "ACTIVE", "STATE", "WHY"], units.map {
            [$0.name, $0.desired, $0.active, $0.state ?? "-", $0.reason ?? ""]
        })
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
