// Turns keepalived.conf files (one per board) into the `vips:` and `probes:` of a desired-state document, with a
// warning for each thing that has no equivalent: what `hcctl import keepalived` prints.

public struct KeepalivedImport: Sendable {
    /// One board's keepalived.conf: the node name it becomes in the document (nil: a single board, so its
    /// priority is the VIP's default) and the file's text.
    public struct Board: Sendable {
        public var node: String?
        public var file: String
        public var text: String
        public init(node: String?, file: String, text: String) {
            self.node = node
            self.file = file
            self.text = text
        }
    }

    public struct Warning: Sendable, Equatable, CustomStringConvertible {
        public var file: String
        public var line: Int
        public var message: String
        public var description: String { "\(file):\(line): \(message)" }
    }

    /// The YAML for the document (a `vips:` list and a `probes:` map) and what did not carry over.
    public struct Result: Sendable {
        public var yaml: String
        public var warnings: [Warning]
    }

    public enum Failure: Error, CustomStringConvertible {
        case syntax(file: String, KeepalivedConfig.SyntaxError)
        case nothingToImport
        public var description: String {
            switch self {
            case .syntax(let file, let error): return "\(file):\(error.line): \(error.message)"
            case .nothingToImport: return "no vrrp_instance in the files given: nothing to import"
            }
        }
    }

    /// A VRRP instance as hcagent will hold it, merged across the boards' files by instance name.
    struct VIP {
        var name: String
        /// Every address the instance advertises (virtual_ipaddress), the first one first.
        var addresses: [String]
        var interface: String?
        var vrid: Int?
        var advert: String?
        var priorities: [(node: String?, priority: Int)] = []
        var preempt = true
        var preemptDelay: String?
        var unicast: [String] = []
        var track: [String] = []
        var notify: [(state: String, command: String)] = []
    }

    struct Probe {
        var name: String
        var command: String
        var interval: String?
        var timeout: String?
        var rise: Int?
        var fall: Int?
        var weight: Int?
    }

    private var vips: [VIP] = []
    private var probes: [Probe] = []
    /// Instance name → its vrrp_sync_group's name (the first group that names it).
    private var groups: [String: String] = [:]
    /// Where each group named its members, to warn of a member no file defines.
    private var groupMentions: [(group: String, member: String, board: Board, line: Int)] = []
    private var warnings: [Warning] = []

    public static func convert(_ boards: [Board]) throws(Failure) -> Result {
        var state = KeepalivedImport()
        for board in boards {
            let statements: [KeepalivedStatement]
            do { statements = try KeepalivedConfig.parse(board.text) } catch { throw .syntax(file: board.file, error) }
            state.read(statements, board: board)
        }
        guard !state.vips.isEmpty else { throw .nothingToImport }
        state.checkGroups()
        return Result(yaml: state.yaml(), warnings: state.warnings)
    }

    private mutating func warn(_ board: Board, _ line: Int, _ message: String) {
        warnings.append(Warning(file: board.file, line: line, message: message))
    }

    private mutating func read(_ statements: [KeepalivedStatement], board: Board) {
        for statement in statements {
            switch statement.keyword {
            case "global_defs":
                break  // router ids, mail settings, script security: nothing a VIP needs.
            case "vrrp_script":
                readScript(statement, board: board)
            case "vrrp_instance":
                readInstance(statement, board: board)
            case "vrrp_sync_group":
                readSyncGroup(statement, board: board)
            case "include":
                warn(board, statement.line, "include \(statement.arguments.joined(separator: " ")): not followed; import those files too (list them after this one)")
            case "virtual_server", "virtual_server_group":
                warn(board, statement.line, "\(statement.keyword) (LVS load balancing): hcagent has no equivalent; left out")
            default:
                warn(board, statement.line, "\(statement.keyword): not known to this import; left out")
            }
        }
    }

    /// vrrp_sync_group NAME { group { A B } }: each member VIP gets `group: NAME` (the VIPs of a group are held by
    /// one board, as keepalived keeps them).
    private mutating func readSyncGroup(_ statement: KeepalivedStatement, board: Board) {
        guard let group = statement.arguments.first.map(Self.name) else {
            warn(board, statement.line, "vrrp_sync_group without a name: left out")
            return
        }
        for field in statement.block ?? [] {
            switch field.keyword {
            case "group":
                for entry in field.block ?? [] {
                    for word in entry.words {
                        let member = Self.name(word)
                        if let other = groups[member], other != group {
                            warn(board, entry.line, "vrrp_instance \(member) is in vrrp_sync_group \(other) already; a VIP has one group: \(other) is kept")
                            continue
                        }
                        groups[member] = group
                        groupMentions.append((group, member, board, entry.line))
                    }
                }
            case "notify_master", "notify_backup", "notify_fault", "notify", "notify_stop":
                warn(board, field.line, "\(field.keyword) of vrrp_sync_group \(group): hcagent runs notify commands per VIP; put it on one of the group's VIPs (notify:)")
            case "smtp_alert":
                warn(board, field.line, "smtp_alert: no equivalent; left out")
            default:
                warn(board, field.line, "\(field.keyword) in vrrp_sync_group \(group): not known to this import; left out (the group's VIPs still move together)")
            }
        }
    }

    /// After every file: a group member that no file defines is worth a word (a typo, or a file not given).
    private mutating func checkGroups() {
        var warned: Set<String> = []
        for mention in groupMentions where !vips.contains(where: { $0.name == mention.member }) && !warned.contains(mention.member) {
            warned.insert(mention.member)
            warn(mention.board, mention.line, "vrrp_sync_group \(mention.group) names \(mention.member), which no vrrp_instance in the files given defines")
        }
    }

    private mutating func readScript(_ statement: KeepalivedStatement, board: Board) {
        guard let name = statement.arguments.first.map(Self.name) else {
            warn(board, statement.line, "vrrp_script without a name: left out")
            return
        }
        var probe = Probe(name: name, command: "")
        for field in statement.block ?? [] {
            let value = field.arguments.first ?? ""
            switch field.keyword {
            case "script": probe.command = field.arguments.joined(separator: " ")
            case "interval": probe.interval = Self.seconds(value)
            case "timeout": probe.timeout = Self.seconds(value)
            case "rise": probe.rise = Int(value)
            case "fall": probe.fall = Int(value)
            case "weight":
                probe.weight = Int(value)
                if field.arguments.contains("reverse") {
                    warn(board, field.line, "vrrp_script \(name): weight ... reverse has no equivalent; the weight is applied as written")
                }
            case "user": warn(board, field.line, "vrrp_script \(name): user \(value): exec probes run as the agent; the local policy's exec rules decide which commands may run")
            case "init_fail": break
            default: warn(board, field.line, "vrrp_script \(name): \(field.keyword) has no equivalent; left out")
            }
        }
        if let weight = probe.weight, weight > 0 {
            warn(board, statement.line, "vrrp_script \(name): weight \(weight) adds to the priority while the script succeeds; hcagent subtracts a failing probe's weight, so it is imported as \(-weight): raise the VIP's priorities by \(weight) to keep the same elections")
            probe.weight = -weight
        } else if probe.weight == nil || probe.weight == 0 {
            warn(board, statement.line, "vrrp_script \(name) has no weight: keepalived puts the instance in FAULT when it fails; imported with weight -254 (the board's priority drops to 1), which keeps the VIP on a board that is alone")
            probe.weight = -254
        }
        guard !probe.command.isEmpty else {
            warn(board, statement.line, "vrrp_script \(name) has no script: left out")
            return
        }
        if let existing = probes.firstIndex(where: { $0.name == name }) {
            if probes[existing].command != probe.command {
                warn(board, statement.line, "vrrp_script \(name) runs another command on this board (\(probe.command)); the document has one probe per name: the first file's is kept")
            }
        } else {
            probes.append(probe)
        }
    }

    private mutating func readInstance(_ statement: KeepalivedStatement, board: Board) {
        guard let name = statement.arguments.first.map(Self.name) else {
            warn(board, statement.line, "vrrp_instance without a name: left out")
            return
        }
        var vip = VIP(name: name, addresses: [])
        var addresses: [(address: String, line: Int)] = []
        var priority = 100
        for field in statement.block ?? [] {
            let value = field.arguments.first ?? ""
            switch field.keyword {
            case "state":
                break  // hcagent elects by priority alone; MASTER/BACKUP only set keepalived's first state.
            case "interface": vip.interface = value
            case "virtual_router_id": vip.vrid = Int(value)
            case "priority": priority = Int(value) ?? 100
            case "advert_int":
                vip.advert = Self.advert(value)
                if vip.advert == nil { warn(board, field.line, "advert_int \(value): hcagent advertises in steps of 10 ms from 10 ms to 40.95 s; the default (100 ms) is used") }
            case "nopreempt": vip.preempt = false
            case "preempt_delay": vip.preemptDelay = Self.seconds(value)
            case "unicast_peer":
                vip.unicast = (field.block ?? []).flatMap(\.words).filter { $0.first?.isNumber == true || $0.contains(":") }
            case "unicast_src_ip":
                warn(board, field.line, "unicast_src_ip: hcagent sends from the interface's own address")
            case "virtual_ipaddress":
                for entry in field.block ?? [] {
                    var address = entry.keyword
                    if !address.contains("/") {
                        address += address.contains(":") ? "/128" : "/32"
                    }
                    if let dev = entry.arguments.firstIndex(of: "dev"), dev + 1 < entry.arguments.count {
                        vip.interface = vip.interface ?? entry.arguments[dev + 1]
                    }
                    addresses.append((address, entry.line))
                }
            case "virtual_ipaddress_excluded":
                warn(board, field.line, "virtual_ipaddress_excluded: not advertised addresses have no equivalent; left out")
            case "track_script":
                for entry in field.block ?? [] {
                    vip.track.append(Self.name(entry.keyword))
                    if let weight = entry.arguments.firstIndex(of: "weight"), weight + 1 < entry.arguments.count {
                        warn(board, entry.line, "track_script \(entry.keyword) weight \(entry.arguments[weight + 1]): hcagent takes the weight from the probe; set it there")
                    }
                }
            case "track_interface":
                warn(board, field.line, "track_interface: hcagent gives the VIP up when its own interface goes down; other interfaces are not tracked (a probe can check them)")
            case "notify_master", "notify_backup", "notify_fault":
                let state = String(field.keyword.dropFirst("notify_".count))
                vip.notify.append((state, field.arguments.joined(separator: " ")))
                warn(board, field.line, "\(field.keyword): hcagent runs it without a shell and appends the VIP's name and state as two more arguments (also in HC_VIP, HC_STATE); the board's policy exec rules must allow it")
            case "notify", "notify_stop":
                warn(board, field.line, "\(field.keyword): hcagent runs one command per state (notify_master, notify_backup, notify_fault); left out")
            case "authentication":
                warn(board, field.line, "authentication: VRRPv2's password has no place in VRRPv3; the cluster key encrypts gossip, not adverts")
            case "version", "vrrp_version":
                if value != "3" { warn(board, field.line, "VRRP version \(value): hcagent speaks VRRPv3 only; keepalived boards that stay must use vrrp_version 3") }
            case "garp_master_delay", "garp_master_refresh", "garp_master_repeat", "dont_track_primary", "smtp_alert", "use_vmac", "vmac_xmit_base":
                warn(board, field.line, "\(field.keyword): no equivalent; left out")
            default:
                warn(board, field.line, "\(field.keyword) in vrrp_instance \(name): not known to this import; left out")
            }
        }
        guard let first = addresses.first else {
            warn(board, statement.line, "vrrp_instance \(name) has no virtual_ipaddress: left out")
            return
        }
        // One advertisement carries one family and, as keepalived sends it, at most 20 addresses.
        let family = { (address: String) in address.contains(":") }
        for entry in addresses {
            if family(entry.address) != family(first.address) {
                warn(board, entry.line, "\(entry.address): not of the family of \(first.address); one VRRPv3 advertisement carries one family: left out (make it a VIP of its own, another vrid, in the same group)")
            } else if vip.addresses.contains(entry.address) {
                warn(board, entry.line, "\(entry.address) is listed twice: once is kept")
            } else if vip.addresses.count == Self.maxAddresses {
                warn(board, entry.line, "\(entry.address): past the \(Self.maxAddresses) addresses one VIP holds (keepalived advertises no more either): left out; make a second VIP in the same group")
            } else {
                vip.addresses.append(entry.address)
            }
        }
        if vip.vrid == nil { warn(board, statement.line, "vrrp_instance \(name) has no virtual_router_id: set vrid by hand") }
        if vip.interface == nil { warn(board, statement.line, "vrrp_instance \(name) has no interface: set it by hand") }
        if let existing = vips.firstIndex(where: { $0.name == name }) {
            var merged = vips[existing]
            for (label, mine, theirs) in [("address", vip.addresses.joined(separator: ", "), merged.addresses.joined(separator: ", ")), ("vrid", vip.vrid.map(String.init) ?? "", merged.vrid.map(String.init) ?? ""),
                                           ("interface", vip.interface ?? "", merged.interface ?? "")] where mine != theirs {
                warn(board, statement.line, "vrrp_instance \(name): \(label) \(mine) here, \(theirs) in an earlier file; the earlier one is kept")
            }
            merged.priorities.append((board.node, priority))
            vips[existing] = merged
        } else {
            vip.priorities.append((board.node, priority))
            vips.append(vip)
        }
    }

    // MARK: output

    private func yaml() -> String {
        var out = "vips:\n"
        for vip in vips {
            out += "  - name: \(vip.name)\n"
            if vip.addresses.count == 1 {
                out += "    address: \(Self.quoted(vip.addresses[0]))\n"
            } else {
                out += "    address: [\(vip.addresses.map(Self.quoted).joined(separator: ", "))]\n"
            }
            if let group = groups[vip.name] { out += "    group: \(group)\n" }
            if let interface = vip.interface { out += "    interface: \(interface)\n" }
            out += "    vrid: \(vip.vrid.map(String.init) ?? "0  # set by hand")\n"
            if let advert = vip.advert { out += "    advert: \(advert)\n" }
            let named = vip.priorities.filter { $0.node != nil }
            if named.isEmpty {
                out += "    priority: \(vip.priorities.first?.priority ?? 100)\n"
            } else {
                // The lowest as the default: a board added later starts as the least preferred.
                let lowest = vip.priorities.map(\.priority).min() ?? 100
                let entries = named.map { "\($0.node ?? ""): \($0.priority)" }
                out += "    priority: { default: \(lowest), \(entries.joined(separator: ", ")) }\n"
            }
            if !vip.preempt { out += "    preempt: false\n" }
            if let delay = vip.preemptDelay { out += "    preempt_delay: \(delay)\n" }
            if !vip.unicast.isEmpty { out += "    unicast: [\(vip.unicast.map(Self.quoted).joined(separator: ", "))]\n" }
            let tracked = vip.track.filter { name in probes.contains { $0.name == name } }
            if !tracked.isEmpty { out += "    track: [\(tracked.joined(separator: ", "))]\n" }
            if !vip.notify.isEmpty {
                out += "    notify:\n"
                for (state, command) in vip.notify { out += "      \(state): \(Self.quoted(command))\n" }
            }
        }
        if !probes.isEmpty {
            out += "probes:\n"
            for probe in probes {
                var fields = ["exec: \(Self.quoted(probe.command))"]
                if let interval = probe.interval { fields.append("interval: \(interval)") }
                if let timeout = probe.timeout { fields.append("timeout: \(timeout)") }
                if let rise = probe.rise { fields.append("rise: \(rise)") }
                if let fall = probe.fall { fields.append("fall: \(fall)") }
                if let weight = probe.weight { fields.append("weight: \(weight)") }
                out += "  \(probe.name): { \(fields.joined(separator: ", ")) }\n"
            }
        }
        return out
    }

    /// Addresses in one VIP, as the document allows and keepalived advertises.
    static let maxAddresses = 20

    /// keepalived names may hold characters a document's names do not: those become "-".
    static func name(_ text: String) -> String {
        String(text.map { $0.isLetter && $0.isASCII || $0.isNumber && $0.isASCII || "-_.@:".contains($0) ? $0 : "-" })
    }

    /// keepalived's seconds ("2", "0.5") as a document duration ("2s", "500ms"); nil when not a number.
    static func seconds(_ text: String) -> String? {
        guard let milliseconds = milliseconds(text) else { return nil }
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }

    /// advert_int in 10 ms steps from 10 ms to 40.95 s, as VRRPv3 carries it; nil otherwise.
    static func advert(_ text: String) -> String? {
        guard let milliseconds = milliseconds(text), milliseconds >= 10, milliseconds <= 40_950, milliseconds % 10 == 0 else { return nil }
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }

    private static func milliseconds(_ text: String) -> Int? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let whole = Int(parts[0]), whole >= 0 else { return nil }
        var fraction = 0
        if parts.count == 2 {
            var digits = String(parts[1].prefix(3))
            while digits.count < 3 { digits += "0" }
            guard parts[1].allSatisfy(\.isNumber), let value = Int(digits) else { return nil }
            fraction = value
        }
        return whole * 1000 + fraction
    }

    private static func quoted(_ text: String) -> String {
        var out = "\""
        for character in text {
            switch character {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default: out.append(character)
            }
        }
        return out + "\""
    }
}
