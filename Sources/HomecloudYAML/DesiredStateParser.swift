// Reads desired.yaml into a DesiredState, checking every key and every cross-reference, with located errors.
import HomecloudSchema

public enum DesiredStateParser {
    /// Parses and validates a document. On any error the whole document is refused with every error found.
    public static func parse(_ text: String, file: String) -> Result<DesiredState, FileRejected> {
        if let tooLarge = sizeRefusal(text, file: file) { return .failure(tooLarge) }
        var reader = YAMLReader(file: file)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let state = reader.parse(text).flatMap { read(root: $0, lines: lines, reader: &reader) }
        if let state, reader.diagnostics.isEmpty { return .success(state) }
        if reader.diagnostics.isEmpty {
            reader.fail(nil, KeyPath(), "the document is empty")
        }
        return .failure(FileRejected(reader.diagnostics))
    }

    /// Why a document is refused before it is read: larger than DesiredState.maxDocumentBytes.
    static func sizeRefusal(_ text: String, file: String) -> FileRejected? {
        let size = text.utf8.count
        guard size > DesiredState.maxDocumentBytes else { return nil }
        return FileRejected([Diagnostic(file: file, mark: nil, path: "",
                                        message: "the document is \(size) bytes; a document is at most \(DesiredState.maxDocumentBytes) bytes (1 MiB)")])
    }

    static let topKeys = ["generation", "cluster", "requires", "nodes", "roles", "vips", "probes", "node_keys", "notify", "secrets", "facts"]

    private static func read(root: YAMLNode, lines: [Substring], reader: inout YAMLReader) -> DesiredState? {
        let top = KeyPath()
        // Read before anything else: a document for a newer agent may use keys this one does not know, and
        // "upgrade this board" is the one error worth showing then.
        let requires = readRequires(root, reader: &reader)
        if let requires, requires > AgentVersion.current { return nil }
        guard let entries = reader.mapping(root, at: top, allowed: topKeys) else { return nil }
        let fields = Dictionary(uniqueKeysWithValues: entries.map { ($0.key, $0.value) })
        for required in ["generation", "cluster"] where fields[required] == nil {
            reader.fail(root.mark, top.key(required), "missing (required)")
        }
        let generation = fields["generation"].flatMap { reader.unsigned($0, at: top.key("generation")) }
        let cluster = fields["cluster"].flatMap { reader.name($0, at: top.key("cluster"), what: "cluster name") }

        // Probes and VIPs first: roles and nodes refer to them.
        let probes = fields["probes"].map { readProbes($0, reader: &reader) } ?? []
        let vips = fields["vips"].map { readVIPs($0, probes: probes, reader: &reader) } ?? []
        var templates: [TemplateSource] = []
        // The names `secrets:` declares, for `wait_for: secret` (the section itself is read after the nodes).
        var secretNames: [String] = []
        if case .mapping(let pairs)? = fields["secrets"]?.content {
            for pair in pairs { if case .scalar(let name, _) = pair.key.content { secretNames.append(name) } }
        }
        let roles = fields["roles"].map {
            readRoles($0, vips: vips, probes: probes, secretNames: secretNames, lines: lines, templates: &templates, reader: &reader)
        } ?? []
        let nodes = fields["nodes"].map { readNodes($0, roles: roles, reader: &reader) } ?? []
        let secrets = fields["secrets"].map { readSecrets($0, nodes: nodes, reader: &reader) } ?? []
        let facts = fields["facts"].map { readFacts($0, roles: roles, reader: &reader) } ?? []
        checkTemplates(templates, vips: vips, nodes: nodes, roles: roles, secrets: secrets, declaredSecrets: fields["secrets"] != nil,
                       facts: facts, declaredFacts: fields["facts"] != nil, lines: lines, reader: &reader)
        checkVIPPriorities(fields["vips"], vips: vips, nodes: nodes, reader: &reader)
        checkUnitConflicts(fields["nodes"], nodes: nodes, roles: roles, reader: &reader)

        let nodeKeys = fields["node_keys"].map { readNodeKeys($0, nodes: nodes, reader: &reader) } ?? [:]
        let webhook = fields["notify"].flatMap { readWebhook($0, reader: &reader) }

        guard let generation, let cluster else { return nil }
        var state = DesiredState(generation: generation, cluster: cluster, nodes: nodes, roles: roles, vips: vips, probes: probes)
        state.nodeKeys = nodeKeys
        state.requires = requires
        state.webhook = webhook
        state.secrets = secrets
        state.facts = facts
        return state
    }

    /// `requires: "0.2"`: the oldest agent version that can read the document. Refused here when newer than
    /// this agent, with the one message that helps (the rest of the document is not read).
    private static func readRequires(_ root: YAMLNode, reader: inout YAMLReader) -> AgentVersion? {
        guard case .mapping(let pairs) = root.content,
              let pair = pairs.first(where: { if case .scalar("requires", _) = $0.key.content { return true } else { return false } })
        else { return nil }
        let path = KeyPath().key("requires")
        guard let text = reader.string(pair.value, at: path) else { return nil }
        guard let version = AgentVersion(text) else {
            reader.fail(pair.value.mark, path, "expected an agent version such as \"0.2\" or \"0.2.1\", found \"\(text)\"")
            return nil
        }
        if version > AgentVersion.current {
            reader.fail(pair.value.mark, path, "this document requires hcagent \(text) or later; this agent is \(AgentVersion.current): upgrade it (the document in force stays)")
        }
        return version
    }

    /// `notify: { webhook: http(s)://HOST[:PORT]/PATH, ca_file: /PATH }`: ca_file only beside an https:// URL.
    private static func readWebhook(_ node: YAMLNode, reader: inout YAMLReader) -> WebhookTarget? {
        let path = KeyPath("notify")
        guard let entries = reader.mapping(node, at: path, allowed: ["webhook", "ca_file"]) else { return nil }
        let urlEntry = entries.first { $0.key == "webhook" }, caEntry = entries.first { $0.key == "ca_file" }
        var caFile: String?
        if let caEntry, let text = reader.string(caEntry.value, at: path.key("ca_file")) {
            if WebhookTarget.isAcceptableCAFile(text) {
                caFile = text
            } else {
                reader.fail(caEntry.value.mark, path.key("ca_file"), "expected an absolute path to a PEM file such as /etc/homecloud/ca.pem (no quote, backslash or `..`), found \"\(text)\"")
            }
        }
        guard let urlEntry else {
            if let caEntry { reader.fail(caEntry.mark, path.key("ca_file"), "ca_file without a webhook: add `webhook: https://...` beside it") }
            return nil
        }
        guard let url = reader.string(urlEntry.value, at: path.key("webhook")) else { return nil }
        guard var target = WebhookTarget(url) else {
            reader.fail(urlEntry.value.mark, path.key("webhook"), "expected an http:// or https:// URL such as http://192.168.1.5:8080/hcagent, found \"\(url)\" (printable, no space, quote or backslash)")
            return nil
        }
        if let caEntry, !target.secure {
            reader.fail(caEntry.mark, path.key("ca_file"), "ca_file applies to an https:// webhook only; this one is \(target)")
            return nil
        }
        target.caFile = caFile
        return target
    }

    // MARK: node keys

    /// `node_keys: { NODE: "ed25519 KEYID BASE64" }`, as `hcctl keys node` prints it on each board. The key id's
    /// match with the key is checked where the keys are used (Trust); here the form, the node and that no key
    /// speaks for two names.
    private static func readNodeKeys(_ node: YAMLNode, nodes: [NodeAssignment], reader: inout YAMLReader) -> [String: String] {
        let path = KeyPath("node_keys")
        guard let entries = reader.mapping(node, at: path) else { return [:] }
        var result: [String: String] = [:]
        var owners: [String: String] = [:]
        for entry in entries {
            let keyPath = path.key(entry.key)
            guard let name = reader.checkName(entry.key, entry.mark, keyPath, what: "node name"),
                  let line = reader.string(entry.value, at: keyPath) else { continue }
            guard nodes.contains(where: { $0.name == name }) else {
                reader.fail(entry.mark, keyPath, "unknown node \"\(name)\"\(known(nodes.map(\.name), in: "nodes"))")
                continue
            }
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count == 3, fields[0] == "ed25519", fields[1].utf8.count == 16,
                  fields[1].utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }),
                  let bytes = Base64.decode(String(fields[2])), bytes.count == 32 else {
                reader.fail(entry.value.mark, keyPath, "expected a node key's public line \"ed25519 KEYID BASE64\" as `hcctl keys node` prints it, found \"\(line)\"")
                continue
            }
            let canonical = fields.joined(separator: " ")
            if let owner = owners[String(fields[1])] {
                reader.fail(entry.value.mark, keyPath, "key \(fields[1]) is already bound to node \"\(owner)\"; each node needs its own key")
                continue
            }
            owners[String(fields[1])] = name
            result[name] = canonical
        }
        return result
    }

    // MARK: nodes

    private static func readNodes(_ node: YAMLNode, roles: [Role], reader: inout YAMLReader) -> [NodeAssignment] {
        let path = KeyPath("nodes")
        guard let entries = reader.mapping(node, at: path) else { return [] }
        var result: [NodeAssignment] = []
        for entry in entries {
            let nodePath = path.key(entry.key)
            guard let name = reader.checkName(entry.key, entry.mark, nodePath, what: "node name") else { continue }
            // `n1: [web]`, or `n1: { roles: [web], address: 10.0.0.11 }` for templates that print node addresses.
            var rolesNode = entry.value
            var address: IPAddress?
            if case .mapping = entry.value.content {
                guard let fields = reader.mapping(entry.value, at: nodePath, allowed: ["roles", "address"]) else { continue }
                rolesNode = fields.first(where: { $0.key == "roles" })?.value ?? YAMLNode(content: .sequence([]), mark: entry.value.mark)
                if let addressNode = fields.first(where: { $0.key == "address" })?.value,
                   let text = reader.string(addressNode, at: nodePath.key("address")) {
                    address = IPAddress(text)
                    if address == nil {
                        reader.fail(addressNode.mark, nodePath.key("address"), "\"\(text)\" is not an IP address such as 192.168.1.11 or fd00::11 (no port, no prefix length)")
                    }
                }
            }
            let rolesPath = rolesNode.mark == entry.value.mark ? nodePath : nodePath.key("roles")
            guard let roleNames = reader.names(rolesNode, at: rolesPath, what: "role name") else { continue }
            if case .sequence(let items) = rolesNode.content {
                for (index, roleName) in roleNames.enumerated() where !roles.contains(where: { $0.name == roleName }) {
                    reader.fail(items[index].mark, rolesPath.index(index), "unknown role \"\(roleName)\"\(known(roles.map(\.name), in: "roles"))")
                }
            } else if let roleName = roleNames.first, !roles.contains(where: { $0.name == roleName }) {
                reader.fail(rolesNode.mark, rolesPath, "unknown role \"\(roleName)\"\(known(roles.map(\.name), in: "roles"))")
            }
            result.append(NodeAssignment(name: name, roles: roleNames, address: address))
        }
        return result
    }

    // MARK: roles

    private static func readRoles(_ node: YAMLNode, vips: [VirtualIP], probes: [Probe], secretNames: [String], lines: [Substring], templates: inout [TemplateSource],
                                  reader: inout YAMLReader) -> [Role] {
        let path = KeyPath("roles")
        guard let entries = reader.mapping(node, at: path) else { return [] }
        let roleNames = entries.map(\.key)
        var result: [Role] = []
        for entry in entries {
            let rolePath = path.key(entry.key)
            guard let name = reader.checkName(entry.key, entry.mark, rolePath, what: "role name"),
                  let fields = reader.mapping(entry.value, at: rolePath, allowed: ["units", "files"]) else { continue }
            var units: [UnitSpec] = []
            var listed: Set<String> = []  // a 1 MiB document holds some 18000 units: no search per unit
            if let unitsNode = fields.first(where: { $0.key == "units" })?.value,
               let items = reader.sequence(unitsNode, at: rolePath.key("units")) {
                for (index, item) in items.enumerated() {
                    let unitPath = rolePath.key("units").index(index)
                    guard let unit = readUnit(item, at: unitPath, vips: vips, probes: probes, roleNames: roleNames, secretNames: secretNames, reader: &reader) else { continue }
                    if !listed.insert(unit.name).inserted {
                        reader.fail(item.mark, unitPath, "unit \(unit.name) is listed twice in this role")
                    } else {
                        units.append(unit)
                    }
                }
            }
            let files = fields.first(where: { $0.key == "files" }).map {
                readFiles($0.value, at: rolePath.key("files"), lines: lines, sources: &templates, role: name, reader: &reader)
            } ?? []
            result.append(Role(name: name, units: units, files: files))
        }
        return result
    }

    static let unitSuffixes = [".service", ".socket", ".timer", ".mount", ".automount", ".path", ".target", ".swap"]

    private static func readUnit(_ node: YAMLNode, at path: KeyPath, vips: [VirtualIP], probes: [Probe], roleNames: [String], secretNames: [String],
                                 reader: inout YAMLReader) -> UnitSpec? {
        guard let entries = reader.mapping(node, at: path, allowed: ["name", "state", "enabled", "placement", "wait_for"]) else { return nil }
        let fields = Dictionary(uniqueKeysWithValues: entries.map { ($0.key, $0.value) })
        var ok = true
        var name: String?
        if let nameNode = fields["name"] {
            name = reader.name(nameNode, at: path.key("name"), what: "unit name")
            if let unitName = name, !unitSuffixes.contains(where: { unitName.hasSuffix($0) && unitName.count > $0.count }) {
                reader.fail(nameNode.mark, path.key("name"), "\"\(unitName)\" is not a systemd unit name (it needs a suffix such as .service)")
                ok = false
            }
        } else {
            reader.fail(node.mark, path.key("name"), "missing (required)")
        }
        var state = UnitSpec.State.running
        if let stateNode = fields["state"] {
            let text = reader.string(stateNode, at: path.key("state"))
            if let text, let value = UnitSpec.State(rawValue: text) {
                state = value
            } else {
                if text != nil { reader.fail(stateNode.mark, path.key("state"), "expected running or stopped, found \"\(text!)\"") }
                ok = false
            }
        }
        var enabled: Bool?
        if let enabledNode = fields["enabled"] {
            enabled = reader.bool(enabledNode, at: path.key("enabled"))
            if enabled == nil { ok = false }
        }
        var placement = Placement.all
        if let placementNode = fields["placement"] {
            if let text = reader.string(placementNode, at: path.key("placement")) {
                switch text {
                case "all": placement = .all
                case "one": placement = .one
                case _ where text.hasPrefix("vip:"):
                    let vipName = String(text.dropFirst(4))
                    placement = .vip(vipName)
                    if !vips.contains(where: { $0.name == vipName }) {
                        reader.fail(placementNode.mark, path.key("placement"), "unknown VIP \"\(vipName)\"\(known(vips.map(\.name), in: "vips"))")
                        ok = false
                    }
                default:
                    reader.fail(placementNode.mark, path.key("placement"), "expected all, one or vip:NAME, found \"\(text)\"")
                    ok = false
                }
            } else {
                ok = false
            }
        }
        var waitFor: [WaitCondition] = []
        if let waitNode = fields["wait_for"] {
            if let conditions = readWaitFor(waitNode, at: path.key("wait_for"), probes: probes, roleNames: roleNames, secretNames: secretNames, reader: &reader) {
                waitFor = conditions
            } else {
                ok = false
            }
        }
        guard ok, let name else { return nil }
        return UnitSpec(name: name, state: state, enabled: enabled, placement: placement, waitFor: waitFor)
    }

    // MARK: vips

    static let vipKeys = ["name", "address", "interface", "vrid", "advert", "priority", "track", "preempt", "preempt_delay", "unicast", "notify", "group"]

    private static func readVIPs(_ node: YAMLNode, probes: [Probe], reader: inout YAMLReader) -> [VirtualIP] {
        let path = KeyPath("vips")
        guard let items = reader.sequence(node, at: path) else { return [] }
        var result: [VirtualIP] = []
        for (index, item) in items.enumerated() {
            let vipPath = path.index(index)
            guard let vip = readVIP(item, at: vipPath, probes: probes, reader: &reader) else { continue }
            if result.contains(where: { $0.name == vip.name }) {
                reader.fail(item.mark, vipPath.key("name"), "a VIP named \(vip.name) is already defined")
            } else if let other = result.first(where: {
                $0.vrid == vip.vrid && $0.interface == vip.interface && $0.address.address.family == vip.address.address.family
            }) {
                reader.fail(item.mark, vipPath.key("vrid"), "vrid \(vip.vrid) on \(vip.interface) is already used by VIP \(other.name)")
            } else if let other = result.first(where: { $0.addresses.contains { held in vip.addresses.contains { $0.address == held.address } } }) {
                reader.fail(item.mark, vipPath.key("address"), "an address of this VIP is already one of VIP \(other.name)'s")
            } else {
                result.append(vip)
            }
        }
        return result
    }

    private static func readVIP(_ node: YAMLNode, at path: KeyPath, probes: [Probe], reader: inout YAMLReader) -> VirtualIP? {
        guard let entries = reader.mapping(node, at: path, allowed: vipKeys) else { return nil }
        let fields = Dictionary(uniqueKeysWithValues: entries.map { ($0.key, $0.value) })
        let errorsBefore = reader.diagnostics.count
        for required in ["name", "address", "interface", "vrid"] where fields[required] == nil {
            reader.fail(node.mark, path.key(required), "missing (required)")
        }
        let name = fields["name"].flatMap { reader.name($0, at: path.key("name"), what: "VIP name") }
        var addresses: [IPPrefix] = []
        if let addressNode = fields["address"] {
            addresses = readVIPAddresses(addressNode, at: path.key("address"), reader: &reader)
        }
        let address = addresses.first
        var interface: String?
        if let interfaceNode = fields["interface"], let text = reader.string(interfaceNode, at: path.key("interface")) {
            if text.isEmpty || text.utf8.count > 15 || text.contains("/") || text.contains(" ") {
                reader.fail(interfaceNode.mark, path.key("interface"), "\"\(text)\" is not an interface name (1 to 15 characters, no / or space)")
            } else {
                interface = text
            }
        }
        let vrid = fields["vrid"].flatMap { reader.integer($0, at: path.key("vrid"), in: 1...255) }
        var advert = VirtualIP.defaultAdvert
        if let advertNode = fields["advert"] {
            if let value = reader.duration(advertNode, at: path.key("advert"), in: .milliseconds(10) ... .milliseconds(40950)) {
                if value.components.attoseconds % 10_000_000_000_000_000 != 0 {
                    reader.fail(advertNode.mark, path.key("advert"), "VRRPv3 counts the interval in centiseconds; use a multiple of 10ms")
                } else {
                    advert = value
                }
            }
        }
        var priority = VirtualIP.Priority(default: 100)
        if let priorityNode = fields["priority"] {
            priority = readPriority(priorityNode, at: path.key("priority"), reader: &reader) ?? priority
        }
        var track: [String] = []
        if let trackNode = fields["track"], let names = reader.names(trackNode, at: path.key("track"), what: "probe name") {
            for probeName in names where !probes.contains(where: { $0.name == probeName }) {
                reader.fail(trackNode.mark, path.key("track"), "unknown probe \"\(probeName)\"\(known(probes.map(\.name), in: "probes"))")
            }
            track = names
        }
        let preempt = fields["preempt"].map { reader.bool($0, at: path.key("preempt")) ?? true } ?? true
        let preemptDelay = fields["preempt_delay"].flatMap {
            reader.duration($0, at: path.key("preempt_delay"), in: .zero ... .seconds(3600))
        } ?? .zero
        var unicast: [IPAddress] = []
        var unicastToMembers = false
        if let unicastNode = fields["unicast"], case .scalar(let word, _) = unicastNode.content, word == "members" {
            unicastToMembers = true
        } else if let unicastNode = fields["unicast"], let items = reader.sequence(unicastNode, at: path.key("unicast")) {
            for (index, item) in items.enumerated() {
                guard let text = reader.string(item, at: path.key("unicast").index(index)) else { continue }
                if let peer = IPAddress(text), peer.family == address?.address.family {
                    unicast.append(peer)
                } else {
                    reader.fail(item.mark, path.key("unicast").index(index), "\"\(text)\" is not an address of the VIP's family")
                }
            }
        }
        let notify = fields["notify"].flatMap { readNotify($0, at: path.key("notify"), reader: &reader) }
        let group = fields["group"].flatMap { reader.name($0, at: path.key("group"), what: "group name") }
        guard reader.diagnostics.count == errorsBefore, let name, let address, let interface, let vrid else { return nil }
        var vip = VirtualIP(name: name, address: address, interface: interface, vrid: vrid, advert: advert,
                            priority: priority, track: track, preempt: preempt, preemptDelay: preemptDelay, unicast: unicast,
                            unicastToMembers: unicastToMembers)
        vip.notify = notify
        vip.moreAddresses = Array(addresses.dropFirst())
        vip.group = group
        return vip
    }

    /// keepalived sends at most 20 addresses in one advertisement; so do we, so that its peers list the same.
    static let maxVIPAddresses = 20

    /// `address: 192.168.1.250/24`, or a list of them: one family (one VRRPv3 advertisement carries one), no
    /// address twice.
    private static func readVIPAddresses(_ node: YAMLNode, at path: KeyPath, reader: inout YAMLReader) -> [IPPrefix] {
        let items: [(YAMLNode, KeyPath)]
        if case .sequence(let list) = node.content {
            guard !list.isEmpty else {
                reader.fail(node.mark, path, "the list is empty: give at least one address, such as 192.168.1.250/24")
                return []
            }
            guard list.count <= maxVIPAddresses else {
                reader.fail(node.mark, path, "\(list.count) addresses; one VIP holds at most \(maxVIPAddresses) (keepalived's limit for one advertisement): split them over several VIPs in one group")
                return []
            }
            items = list.enumerated().map { ($0.element, path.index($0.offset)) }
        } else {
            items = [(node, path)]
        }
        var result: [IPPrefix] = []
        var failed = false
        for (item, itemPath) in items {
            guard let text = reader.string(item, at: itemPath) else { failed = true; continue }
            guard let prefix = IPPrefix(text) else {
                reader.fail(item.mark, itemPath, "\"\(text)\" is not an address with a prefix length, such as 192.168.1.250/24 or fd00::250/64")
                failed = true
                continue
            }
            if let first = result.first, first.address.family != prefix.address.family {
                reader.fail(item.mark, itemPath, "\(text) is not of the family of \(first): one VRRP advertisement carries one family; make a second VIP (same group) for the other")
                failed = true
            } else if result.contains(where: { $0.address == prefix.address }) {
                reader.fail(item.mark, itemPath, "\(prefix.address) is listed twice")
                failed = true
            } else {
                result.append(prefix)
            }
        }
        return failed ? [] : result
    }

    static let notifyKeys = ["master", "backup", "fault", "timeout"]

    /// `notify: { master: CMD, backup: CMD, fault: CMD, timeout: 10s }`; a command as exec probes take it: a
    /// string split on spaces or a list of words, its first word an absolute path.
    private static func readNotify(_ node: YAMLNode, at path: KeyPath, reader: inout YAMLReader) -> VIPNotify? {
        guard let entries = reader.mapping(node, at: path, allowed: notifyKeys) else { return nil }
        var notify = VIPNotify()
        for entry in entries {
            let keyPath = path.key(entry.key)
            if entry.key == "timeout" {
                if let timeout = reader.duration(entry.value, at: keyPath, in: .milliseconds(100) ... .seconds(3600)) { notify.timeout = timeout }
                continue
            }
            guard let argv = readCommand(entry.value, at: keyPath, reader: &reader) else { continue }
            switch entry.key {
            case "master": notify.master = argv
            case "backup": notify.backup = argv
            default: notify.fault = argv
            }
        }
        return notify
    }

    private static func readCommand(_ node: YAMLNode, at path: KeyPath, reader: inout YAMLReader) -> [String]? {
        var argv: [String]
        if case .sequence = node.content {
            guard let items = reader.sequence(node, at: path) else { return nil }
            let words = items.enumerated().compactMap { reader.string($0.element, at: path.index($0.offset)) }
            guard words.count == items.count else { return nil }
            argv = words
        } else {
            guard let text = reader.string(node, at: path) else { return nil }
            argv = text.split(separator: " ").map(String.init)
        }
        guard let first = argv.first else {
            reader.fail(node.mark, path, "the command is empty")
            return nil
        }
        guard first.hasPrefix("/") else {
            reader.fail(node.mark, path, "the command must start with an absolute path such as /usr/local/bin/vip-hook, found \"\(first)\"")
            return nil
        }
        return argv
    }

    /// `priority: 120`, or `priority: { default: 100, hc1-n1: 150 }`. 255 is VRRP's address owner and 0 means
    /// "leaving", so a configured priority is 1 to 254.
    private static func readPriority(_ node: YAMLNode, at path: KeyPath, reader: inout YAMLReader) -> VirtualIP.Priority? {
        if case .scalar = node.content {
            return reader.integer(node, at: path, in: 1...254).map { VirtualIP.Priority(default: $0) }
        }
        guard let entries = reader.mapping(node, at: path) else { return nil }
        var priority = VirtualIP.Priority(default: 100)
        for entry in entries {
            guard let value = reader.integer(entry.value, at: path.key(entry.key), in: 1...254) else { continue }
            if entry.key == "default" {
                priority.default = value
            } else {
                priority.perNode[entry.key] = value
            }
        }
        return priority
    }

    private static func checkVIPPriorities(_ node: YAMLNode?, vips: [VirtualIP], nodes: [NodeAssignment], reader: inout YAMLReader) {
        guard let node, case .sequence(let items) = node.content else { return }
        for (index, item) in items.enumerated() {
            guard case .mapping(let pairs) = item.content,
                  let priorityNode = pairs.first(where: { if case .scalar("priority", _) = $0.key.content { true } else { false } })?.value,
                  case .mapping(let priorities) = priorityNode.content else { continue }
            for (key, _) in priorities {
                guard case .scalar(let nodeName, _) = key.content, nodeName != "default" else { continue }
                if !nodes.contains(where: { $0.name == nodeName }) {
                    reader.fail(key.mark, KeyPath("vips").index(index).key("priority").key(nodeName),
                                "unknown node \"\(nodeName)\"\(known(nodes.map(\.name), in: "nodes"))")
                }
            }
        }
    }

    /// A node with two roles that name the same unit must get one answer for it.
    private static func checkUnitConflicts(_ node: YAMLNode?, nodes: [NodeAssignment], roles: [Role], reader: inout YAMLReader) {
        for assignment in nodes {
            var wanted: [String: (role: String, unit: UnitSpec)] = [:]
            for roleName in assignment.roles {
                guard let role = roles.first(where: { $0.name == roleName }) else { continue }
                for unit in role.units {
                    if let earlier = wanted[unit.name], earlier.unit != unit {
                        let mark = node.flatMap { mapValueMark($0, key: assignment.name) }
                        reader.fail(mark, KeyPath("nodes").key(assignment.name),
                                    "roles \(earlier.role) and \(roleName) both set \(unit.name), differently")
                    } else {
                        wanted[unit.name] = (roleName, unit)
                    }
                }
            }
        }
    }

    // MARK: probes

    static let probeKinds = ["tcp", "http", "exec", "file"]
    static let probeKeys = probeKinds + ["unit", "interval", "timeout", "rise", "fall", "weight", "restart", "grace", "expect", "body", "max_age"]

    private static func readProbes(_ node: YAMLNode, reader: inout YAMLReader) -> [Probe] {
        let path = KeyPath("probes")
        guard let entries = reader.mapping(node, at: path) else { return [] }
        var result: [Probe] = []
        for entry in entries {
            let probePath = path.key(entry.key)
            guard let name = reader.checkName(entry.key, entry.mark, probePath, what: "probe name"),
                  let probe = readProbe(entry.value, name: name, at: probePath, reader: &reader) else { continue }
            result.append(probe)
        }
        return result
    }

    private static func readProbe(_ node: YAMLNode, name: String, at path: KeyPath, reader: inout YAMLReader) -> Probe? {
        guard let entries = reader.mapping(node, at: path, allowed: probeKeys) else { return nil }
        let fields = Dictionary(uniqueKeysWithValues: entries.map { ($0.key, $0.value) })
        let errorsBefore = reader.diagnostics.count
        let kinds = probeKinds.filter { fields[$0] != nil }
        let unit = fields["unit"].flatMap { reader.name($0, at: path.key("unit"), what: "unit name") }
        var check: Probe.Check?
        if kinds.count > 1 {
            reader.fail(node.mark, path, "a probe has one check; found \(kinds.joined(separator: " and "))")
        } else if let kind = kinds.first, let kindNode = fields[kind] {
            check = readCheck(kind, kindNode, fields: fields, at: path, reader: &reader)
        } else if let unit {
            check = .unit(unit)
        } else {
            reader.fail(node.mark, path, "no check: give one of tcp, http, exec, file, or unit alone")
        }
        if kinds.first != "http" {
            for key in ["expect", "body"] where fields[key] != nil {
                reader.fail(fields[key]!.mark, path.key(key), "only an http probe takes \(key)")
            }
        }
        if kinds.first != "file", let maxAgeNode = fields["max_age"] {
            reader.fail(maxAgeNode.mark, path.key("max_age"), "only a file probe takes max_age")
        }
        let interval = fields["interval"].flatMap { reader.duration($0, at: path.key("interval"), in: .milliseconds(100) ... .seconds(86400)) } ?? .seconds(5)
        let timeout = fields["timeout"].flatMap { reader.duration($0, at: path.key("timeout"), in: .milliseconds(10) ... .seconds(3600)) } ?? min(.seconds(2), interval)
        if timeout > interval, let timeoutNode = fields["timeout"] {
            reader.fail(timeoutNode.mark, path.key("timeout"), "the timeout (\(DurationText.format(timeout))) is longer than the interval (\(DurationText.format(interval)))")
        }
        let rise = fields["rise"].flatMap { reader.integer($0, at: path.key("rise"), in: 1...100) } ?? 2
        let fall = fields["fall"].flatMap { reader.integer($0, at: path.key("fall"), in: 1...100) } ?? 3
        let weight = fields["weight"].flatMap { reader.integer($0, at: path.key("weight"), in: -254...254) } ?? 0
        let restart = fields["restart"].flatMap { reader.bool($0, at: path.key("restart")) } ?? false
        if restart && unit == nil, let restartNode = fields["restart"] {
            reader.fail(restartNode.mark, path.key("restart"), "restart: true needs unit: NAME, the unit to restart")
        }
        let grace = fields["grace"].flatMap { reader.duration($0, at: path.key("grace"), in: .zero ... .seconds(3600)) } ?? .zero
        guard reader.diagnostics.count == errorsBefore, let check else { return nil }
        return Probe(name: name, check: check, interval: interval, timeout: timeout, rise: rise, fall: fall,
                     weight: weight, restart: restart, unit: unit, grace: grace)
    }

    private static func readCheck(_ kind: String, _ node: YAMLNode, fields: [String: YAMLNode], at path: KeyPath,
                                  reader: inout YAMLReader) -> Probe.Check? {
        let kindPath = path.key(kind)
        switch kind {
        case "tcp":
            guard let text = reader.string(node, at: kindPath) else { return nil }
            guard let (host, port) = HostPort.split(text) else {
                reader.fail(node.mark, kindPath, "expected host:port such as 127.0.0.1:6443, found \"\(text)\"")
                return nil
            }
            return .tcp(host: host, port: port)
        case "http":
            guard let url = reader.string(node, at: kindPath) else { return nil }
            guard url.hasPrefix("http://"), !hostPort(ofURL: url).isEmpty else {
                reader.fail(node.mark, kindPath, "expected an http:// URL, found \"\(url)\"")
                return nil
            }
            var expect = 200...399
            if let expectNode = fields["expect"] {
                guard let text = reader.string(expectNode, at: path.key("expect")), let range = statusRange(text) else {
                    reader.fail(expectNode.mark, path.key("expect"), "expected a status or a range such as 200 or 200-299")
                    return nil
                }
                expect = range
            }
            let body = fields["body"].flatMap { reader.string($0, at: path.key("body")) }
            return .http(url: url, expect: expect, body: body)
        case "exec":
            if case .sequence = node.content {
                guard let items = reader.sequence(node, at: kindPath) else { return nil }
                let argv = items.enumerated().compactMap { reader.string($0.element, at: kindPath.index($0.offset)) }
                guard argv.count == items.count, !argv.isEmpty else {
                    if items.isEmpty { reader.fail(node.mark, kindPath, "the command is empty") }
                    return nil
                }
                return .exec(argv)
            }
            guard let command = reader.string(node, at: kindPath) else { return nil }
            let argv = command.split(separator: " ").map(String.init)
            guard !argv.isEmpty else {
                reader.fail(node.mark, kindPath, "the command is empty")
                return nil
            }
            return .exec(argv)
        case "file":
            guard let filePath = reader.string(node, at: kindPath) else { return nil }
            guard filePath.hasPrefix("/") else {
                reader.fail(node.mark, kindPath, "expected an absolute path, found \"\(filePath)\"")
                return nil
            }
            let maxAge = fields["max_age"].flatMap { reader.duration($0, at: path.key("max_age"), in: .seconds(1) ... .seconds(31_536_000)) }
            return .file(path: filePath, maxAge: maxAge)
        default:
            return nil
        }
    }

    // MARK: helpers

    private static func hostPort(ofURL url: String) -> String {
        let rest = url.dropFirst("http://".count)
        return String(rest.prefix { $0 != "/" })
    }

    private static func statusRange(_ text: String) -> ClosedRange<Int>? {
        let parts = text.split(separator: "-")
        guard let low = parts.first.flatMap({ Int($0) }), (100...599).contains(low) else { return nil }
        if parts.count == 1 { return low...low }
        guard parts.count == 2, let high = Int(parts[1]), (low...599).contains(high) else { return nil }
        return low...high
    }

    static func known(_ names: [String], in section: String) -> String {
        names.isEmpty ? " (\(section) is empty)" : " (\(section) has: \(names.joined(separator: ", ")))"
    }

    private static func mapValueMark(_ node: YAMLNode, key: String) -> SourceMark? {
        guard case .mapping(let pairs) = node.content else { return nil }
        return pairs.first { if case .scalar(key, _) = $0.key.content { true } else { false } }?.key.mark
    }
}
