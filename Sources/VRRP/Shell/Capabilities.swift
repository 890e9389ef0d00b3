// Which of the capabilities VRRP needs this process holds (CapEff in /proc/self/status): without them VRRP
// turns itself off and says why, instead of failing at every advertisement.
import HomecloudSchema
import HomecloudYAML

public struct Capabilities: Sendable, Equatable {
    /// Adding and removing the VIP on its interface.
    public static let netAdmin = 12
    /// VRRP's raw IP socket (protocol 112) and the gratuitous ARP / neighbour advertisements.
    public static let netRaw = 13

    public var effective: UInt64

    public init(effective: UInt64) { self.effective = effective }

    public func has(_ capability: Int) -> Bool { effective & (1 << UInt64(capability)) != 0 }

    /// This process's effective set; nil when /proc cannot tell (then VRRP tries and reports what fails).
    public static func current() -> Capabilities? {
        (try? TextFile.read("/proc/self/status")).flatMap(parse)
    }

    /// The CapEff line of a /proc/PID/status text.
    public static func parse(_ status: String) -> Capabilities? {
        for line in status.split(separator: "\n") where line.hasPrefix("CapEff:") {
            let hex = line.dropFirst("CapEff:".count).drop { $0 == " " || $0 == "\t" }
            return UInt64(hex, radix: 16).map(Capabilities.init(effective:))
        }
        return nil
    }

    /// Why VRRP cannot run with these capabilities, or nil when it can.
    public var vrrpOffReason: String? {
        var missing: [String] = []
        if !has(Self.netAdmin) { missing.append("no CAP_NET_ADMIN (needed to add the VIP)") }
        if !has(Self.netRaw) { missing.append("no CAP_NET_RAW (needed for VRRP's raw socket)") }
        guard !missing.isEmpty else { return nil }
        return "VRRP off: " + missing.joined(separator: ", ")
            + ": this board holds no VIP; gossip and units run on (grant the capability: AmbientCapabilities= in the unit, --capability= for systemd-nspawn, cap_add for Docker, raw.lxc for LXD)"
    }
}
