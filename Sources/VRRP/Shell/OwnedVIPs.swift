// The agent's record of the VIPs it has put on interfaces, so a restart after a crash removes what it left behind.
import HomecloudSchema
import HomecloudYAML

/// Written before an address is added and after it is removed: whatever the moment of a crash, every VIP the
/// agent may have added is in the record, and the agent never removes an address it did not add.
public struct OwnedVIPs: Sendable {
    public let path: String
    public private(set) var entries: [Entry]
    /// The file lags `entries`: a save failed (state_dir full). Until `saveIfBehind` works, a crash would leave
    /// an address that the next run does not know to remove (a second holder of the VIP, for good).
    public private(set) var behind = false

    public struct Entry: Sendable, Equatable, Hashable {
        public var interface: String
        public var prefix: IPPrefix
        public init(interface: String, prefix: IPPrefix) {
            self.interface = interface
            self.prefix = prefix
        }
    }

    /// Reads the record; a missing or damaged line is skipped (it cannot name an address to remove).
    public init(path: String) {
        self.path = path
        let text = (try? TextFile.read(path)) ?? ""
        entries = text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count == 2, let prefix = IPPrefix(String(fields[1])) else { return nil }
            return Entry(interface: String(fields[0]), prefix: prefix)
        }
    }

    public mutating func record(_ entry: Entry) throws {
        guard !entries.contains(entry) else { return try saveIfBehind() }
        entries.append(entry)
        try save()
    }

    public mutating func forget(_ entry: Entry) throws {
        guard entries.contains(entry) else { return try saveIfBehind() }
        entries.removeAll { $0 == entry }
        try save()
    }

    /// Writes the record again if a save failed since the last one that worked.
    public mutating func saveIfBehind() throws {
        if behind { try save() }
    }

    /// Removes every recorded VIP that is still on its interface (left by a run that crashed), then the record.
    /// Those in `keeping` (handed over by an in-place restart, to be resumed as master) stay, and stay recorded.
    public mutating func removeStale(using table: VIPAddressTable, keeping: Set<Entry> = []) -> [Entry] {
        var removed: [Entry] = []
        for entry in entries where !keeping.contains(entry) {
            let present = (try? table.addresses(on: entry.interface))?.contains(entry.prefix) ?? false
            if present, (try? table.remove(entry.prefix, interface: entry.interface)) != nil { removed.append(entry) }
        }
        entries = entries.filter { keeping.contains($0) }
        try? save()
        return removed
    }

    private mutating func save() throws {
        let text = entries.map { "\($0.interface) \($0.prefix)\n" }.joined()
        do {
            try TextFile.writeAtomically(path, text)
            behind = false
        } catch {
            behind = true
            throw error
        }
    }
}
