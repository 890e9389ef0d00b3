// The record an agent leaves for the binary it re-executes in place (an upgrade), and the rule that lets the new
// process start a VIP directly as master from it instead of as backup, so no backup sees the master go away.
import HomecloudSchema

public struct InPlaceHandoff: Sendable, Equatable {
    /// A VIP the old process held as master, with the settings it held it under.
    public struct Held: Sendable, Equatable {
        public var name: String
        public var vrid: Int
        public var interface: String
        public var address: IPPrefix
        /// This board's configured priority (before probe weights).
        public var priority: Int
        public var advertInterval: Duration
        /// The VIP's addresses after the first (`address: [A, B]`).
        public var moreAddresses: [IPPrefix] = []

        /// Every address the old process held for this VIP.
        public var addresses: [IPPrefix] { [address] + moreAddresses }

        public init(name: String, vrid: Int, interface: String, address: IPPrefix, priority: Int, advertInterval: Duration) {
            self.name = name
            self.vrid = vrid
            self.interface = interface
            self.address = address
            self.priority = priority
            self.advertInterval = advertInterval
        }

        /// The VIP as this board runs it under a document.
        public init(_ vip: VirtualIP, node: String) {
            self.init(name: vip.name, vrid: vip.vrid, interface: vip.interface, address: vip.address,
                      priority: vip.priority.of(node), advertInterval: vip.advert)
            moreAddresses = vip.moreAddresses
        }
    }

    /// The kernel's boot id: a record from before a reboot is never fresh, whatever its clock says.
    public var bootID: String
    /// When it was written, on the kernel's boot-time clock (one clock for both processes, unlike a process's own origin).
    public var writtenAt: Duration
    public var held: [Held]

    public init(bootID: String, writtenAt: Duration, held: [Held]) {
        self.bootID = bootID
        self.writtenAt = writtenAt
        self.held = held
    }

    /// The rule: resume `vip` as master only if the record is from this boot, younger than the shortest master
    /// down interval any backup of it can have (3 advert intervals: past that a backup may already have taken
    /// over), and names this VIP with exactly the settings it has now (a changed VIP starts as any VIP does).
    public func mayResume(_ vip: Held, bootID: String, now: Duration) -> Bool {
        guard !bootID.isEmpty, bootID == self.bootID, now >= writtenAt, held.contains(vip) else { return false }
        return now - writtenAt < vip.advertInterval * 3
    }

    /// Whether any VIP of the record may still resume (the old process's addresses are then kept at start).
    public func isFresh(bootID: String, now: Duration) -> Bool {
        held.contains { mayResume($0, bootID: bootID, now: now) }
    }

    // MARK: the file

    static let header = "hcagent-handoff 1"

    /// One line per field, and `end` last (a record cut short is not one); VIP names, interfaces and the boot id
    /// have no spaces. Several addresses are joined by commas (an older binary reads no record then: it starts
    /// every VIP as backup, which is safe).
    public var text: String {
        var lines = [Self.header, "boot \(bootID)", "written \(Self.nanoseconds(writtenAt))"]
        for vip in held {
            lines.append("vip \(vip.name) \(vip.vrid) \(vip.interface) \(vip.addresses.map(\.description).joined(separator: ",")) \(vip.priority) \(Self.nanoseconds(vip.advertInterval))")
        }
        lines.append("end")
        return lines.joined(separator: "\n") + "\n"
    }

    /// nil for anything but a whole record of this version: a damaged record resumes nothing.
    public static func parse(_ text: String) -> InPlaceHandoff? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map { $0.split(separator: " ").map(String.init) }
        guard lines.count >= 4, lines[0].joined(separator: " ") == header, lines.last == ["end"],
              lines[1].count == 2, lines[1][0] == "boot",
              lines[2].count == 2, lines[2][0] == "written", let written = Int64(lines[2][1]), written >= 0 else { return nil }
        var held: [Held] = []
        for fields in lines.dropFirst(3).dropLast() {
            let addresses = fields.count == 7 ? fields[4].split(separator: ",").compactMap { IPPrefix(String($0)) } : []
            guard fields.count == 7, fields[0] == "vip", let vrid = Int(fields[2]), let address = addresses.first,
                  addresses.count == fields[4].split(separator: ",").count,
                  let priority = Int(fields[5]), let advert = Int64(fields[6]), advert > 0 else { return nil }
            var vip = Held(name: fields[1], vrid: vrid, interface: fields[3], address: address, priority: priority,
                           advertInterval: .nanoseconds(advert))
            vip.moreAddresses = Array(addresses.dropFirst())
            held.append(vip)
        }
        return InPlaceHandoff(bootID: lines[1][1], writtenAt: .nanoseconds(written), held: held)
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
