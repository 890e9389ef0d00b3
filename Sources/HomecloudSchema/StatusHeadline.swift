// The one line that opens `hcctl status` and is systemd's STATUS=: is this board and its cluster healthy, and if
// not, the first thing to look at and the hcctl command that shows it. Pure: a StatusReport in, a line out.

public enum StatusHeadline {
    /// Longest headline: systemd shows STATUS= on one line of `systemctl status`, and a status that wraps is unread.
    public static let maxLength = 200

    /// What a headline says, most urgent first: the first finding a report has is the one its headline names.
    public enum Finding: Int, Sendable, Comparable, CaseIterable {
        /// A part of the agent runs degraded or not at all (the problems list).
        case partDown
        /// A desired-state document was refused, and the cluster's newest is not in force here.
        case documentRefused
        /// No desired-state document at all: the board waits for one.
        case noDocument
        /// Units that should run are failed or cannot be started (here or on another board).
        case unitsDegraded
        /// A VIP that no board holds, as far as this board can tell.
        case vipWithoutHolder
        /// Members gossip has declared dead.
        case memberDead
        /// Probes failing (here or on another board).
        case probeFailing
        /// A member whose metadata was refused (a forged signature), or one suspected of being down.
        case memberDoubtful
        /// Units on their way to what the document asks.
        case converging

        public static func < (lhs: Finding, rhs: Finding) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// The headline of a report, at most `maxLength` characters, one line.
    public static func line(for report: StatusReport) -> String {
        if let issue = issues(in: report).first { return issue.text }
        return bounded(healthyLine(report))
    }

    /// One thing wrong: which kind, what (in words), and the command that shows more.
    public struct Issue: Sendable, Equatable {
        public var finding: Finding
        public var what: String
        public var command: String

        /// "attention: WHAT — COMMAND" ("converging: ..." and "waiting: ..." for the states that heal themselves),
        /// the detail cut so the command always fits.
        public var text: String {
            let prefix: String
            switch finding {
            case .converging: prefix = "converging: "
            case .noDocument: prefix = "waiting: "
            default: prefix = "attention: "
            }
            let tail = " — \(command)"
            return prefix + StatusHeadline.cut(oneLine(what), to: StatusHeadline.maxLength - prefix.count - tail.count) + tail
        }
    }

    /// Every issue of a report, most urgent first (the order of Finding, then the report's own order).
    public static func issues(in report: StatusReport) -> [Issue] {
        var found: [Issue] = []
        func add(_ finding: Finding, _ what: String, _ command: String) { found.append(Issue(finding: finding, what: what, command: command)) }

        if let problem = report.problems.first {
            add(.partDown, "\(problem.part): \(problem.reason)\(more(report.problems.count - 1, "part"))", "hcctl status")
        }

        let inForce = report.desired.generation
        if let first = report.desired.rejected.first {
            let stays = inForce.map { "generation \($0) stays in force" } ?? "no document in force"
            let what = first.path.isEmpty ? first.message : "\(first.path): \(first.message)"
            add(.documentRefused, "desired-state document refused (\(what)); \(stays)", "hcctl status")
        } else if let newer = (report.desired.refused ?? []).last(where: { refused in
            refused.generation.map { generation in inForce.map { generation > $0 } ?? true } ?? false
        }), let generation = newer.generation {
            let stays = inForce.map { "generation \($0) stays in force" } ?? "no document in force"
            add(.documentRefused, "generation \(generation) from \(newer.source) refused (\(newer.reason)); \(stays)", "hcctl status")
        }
        if inForce == nil { add(.noDocument, "no desired-state document yet (\(report.desired.file))", "hcctl apply FILE") }

        let degraded = report.units.filter { $0.state == "degraded" }
        if let unit = degraded.first {
            let why = unit.reason.map { " (\($0))" } ?? ""
            let others = degraded.count > 1 ? "unit \(unit.name) and \(degraded.count - 1) more degraded" : "unit \(unit.name) degraded"
            add(.unitsDegraded, "\(others) on this board\(why)", "hcctl units")
        }
        let otherBoards = report.members.filter { $0.name != report.node && $0.state != "dead" && $0.state != "left" }
        for member in otherBoards where member.convergence == "degraded" {
            add(.unitsDegraded, "units degraded on \(member.name)", "hcctl members")
        }

        for vip in report.vips where holder(of: vip, node: report.node, members: report.members) == nil {
            add(.vipWithoutHolder, "VIP \(vip.name) (\(vip.address)) has no holder\(vip.reason.map { " (\($0))" } ?? "")", "hcctl vips")
        }

        let dead = report.members.filter { $0.state == "dead" }
        if let member = dead.first {
            add(.memberDead, "member \(member.name) dead\(more(dead.count - 1, "member"))", "hcctl members")
        }

        let failing = report.probes.filter { $0.state == "failing" }
        if let probe = failing.first {
            let why = probe.last.map { " (\($0))" } ?? ""
            add(.probeFailing, "probe \(probe.name) failing on this board\(why)\(more(failing.count - 1, "probe"))", "hcctl probes")
        }
        for member in otherBoards {
            if let probe = member.failingProbes?.first {
                add(.probeFailing, "probe \(probe) failing on \(member.name)\(more((member.failingProbes?.count ?? 1) - 1, "probe"))", "hcctl members")
            }
        }

        for member in report.members where member.identity?.hasPrefix("refused") == true {
            add(.memberDoubtful, "metadata of member \(member.name) \(member.identity ?? "refused")", "hcctl members")
        }
        for member in report.members where member.state == "suspect" {
            add(.memberDoubtful, "member \(member.name) suspected down", "hcctl members")
        }

        let converging = report.units.filter { $0.state == "converging" }
        if let unit = converging.first {
            let why = unit.reason.map { " (\($0))" } ?? ""
            let count = converging.count == 1 ? "unit \(unit.name)" : "\(converging.count) units, first \(unit.name)"
            add(.converging, "\(count) on the way to \(unit.desired)\(why)", "hcctl units")
        } else if report.convergence == "converging" {
            add(.converging, "units on their way", "hcctl units")
        }
        for member in otherBoards where member.convergence == "converging" {
            add(.converging, "units converging on \(member.name)", "hcctl members")
        }

        // Stable: within a finding, the order above (this board first, then the report's order).
        return found.enumerated().sorted { ($0.element.finding, $0.offset) < ($1.element.finding, $1.offset) }.map(\.element)
    }

    /// "healthy: 3 of 3 members alive, VIP front on n1, 12 units converged".
    static func healthyLine(_ report: StatusReport) -> String {
        let counted = report.members.filter { $0.state != "left" }
        let alive = counted.filter { $0.state == "alive" }.count
        var parts = ["\(alive) of \(counted.count) member\(counted.count == 1 ? "" : "s") alive"]
        if !report.vips.isEmpty {
            let held = report.vips.map { "\($0.name) on \(holder(of: $0, node: report.node, members: report.members) ?? "?")" }
            parts.append("VIP\(report.vips.count == 1 ? "" : "s") \(held.joined(separator: ", "))")
        }
        let converged = report.units.filter { $0.state == "converged" }.count
        parts.append(report.units.isEmpty ? "no units here" : "\(converged) unit\(converged == 1 ? "" : "s") converged")
        if !report.probes.isEmpty {
            parts.append("\(report.probes.count) probe\(report.probes.count == 1 ? "" : "s") \(report.probes.count == 1 ? "passes" : "pass")")
        }
        return "healthy: " + parts.joined(separator: ", ")
    }

    /// Who holds a VIP as this board sees it: itself when master, a member that says it holds it, or the address
    /// VRRP heard the master from (named when a member has that address); nil when nobody does.
    public static func holder(of vip: VIPStatus, node: String, members: [MemberStatus]) -> String? {
        if vip.state == "master" { return node }
        if let member = members.first(where: { $0.state == "alive" && $0.name != node && ($0.vips ?? []).contains(vip.name) }) {
            return member.name
        }
        guard let heard = vip.holder, !heard.isEmpty else { return nil }
        return members.first(where: { host(of: $0.address) == heard })?.name ?? heard
    }

    /// "10.0.0.2" of "10.0.0.2:7964", "fd00::2" of "[fd00::2]:7964".
    static func host(of address: String) -> String {
        if address.hasPrefix("["), let end = address.firstIndex(of: "]") {
            return String(address[address.index(after: address.startIndex)..<end])
        }
        guard let colon = address.lastIndex(of: ":"), address.firstIndex(of: ":") == colon else { return address }
        return String(address[..<colon])
    }

    static func more(_ count: Int, _ noun: String) -> String {
        count > 0 ? " (and \(count) more \(noun)\(count == 1 ? "" : "s"))" : ""
    }

    /// Newlines and tabs become spaces: the headline is one line whatever a reason holds.
    static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline || $0 == "\t" ? " " : $0 })
    }

    static func cut(_ text: String, to length: Int) -> String {
        text.count <= length ? text : String(text.prefix(max(0, length - 1))) + "…"
    }

    static func bounded(_ text: String) -> String { cut(oneLine(text), to: maxLength) }
}
