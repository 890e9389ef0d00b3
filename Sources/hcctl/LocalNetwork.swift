// This board's name, LAN interface and address as hcctl init and join guess them: the default route's interface
// (or the only one with an address), its first IPv4 address, the hostname up to its first dot.
#if canImport(Glibc)
import Glibc
#endif

enum LocalNetwork {
    /// The hostname up to its first dot, as the agent's default node name.
    static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        let full = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return String(full.split(separator: ".").first ?? Substring(full))
    }

    /// The interface of the IPv4 default route with the lowest metric, from /proc/net/route.
    static func defaultRouteInterface() -> String? {
        guard let fd = fopen("/proc/net/route", "r") else { return nil }
        defer { fclose(fd) }
        var best: (interface: String, metric: Int)?
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), fd) != nil {
            let fields = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                .split(whereSeparator: { $0 == "\t" || $0 == " " || $0 == "\n" })
            // Iface Destination Gateway Flags RefCnt Use Metric Mask ...
            guard fields.count >= 8, fields[1] == "00000000", fields[7] == "00000000", let metric = Int(fields[6]) else { continue }
            if best == nil || metric < best!.metric { best = (String(fields[0]), metric) }
        }
        return best?.interface
    }

    /// Every non-loopback interface's IPv4 addresses, in the kernel's order.
    static func ipv4Addresses() -> [(interface: String, address: String)] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var found: [(String, String)] = []
        var entry = list
        while let current = entry {
            defer { entry = current.pointee.ifa_next }
            guard let address = current.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                  current.pointee.ifa_flags & UInt32(IFF_LOOPBACK) == 0 else { continue }
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { inet in
                var raw = inet.pointee.sin_addr
                _ = inet_ntop(AF_INET, &raw, &text, socklen_t(text.count))
            }
            let name = String(cString: current.pointee.ifa_name)
            found.append((name, String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)))
        }
        return found
    }

    /// The interface and address to use: what the operator gave, else the default route's interface, else the
    /// only interface with an IPv4 address; an error that says which option to give when it cannot tell.
    static func choose(interface: String?, address: String?) -> Result<(interface: String, address: String), BootstrapError> {
        let addresses = ipv4Addresses()
        if let interface, let address { return .success((interface, address)) }
        if let address {
            guard let match = addresses.first(where: { $0.address == address }) else {
                return .failure(BootstrapError("no interface has the address \(address); give --interface too"))
            }
            return .success((match.interface, address))
        }
        let wanted = interface ?? defaultRouteInterface()
        if let wanted {
            guard let match = addresses.first(where: { $0.interface == wanted }) else {
                return .failure(BootstrapError("\(wanted) has no IPv4 address; give --address"))
            }
            return .success((wanted, match.address))
        }
        let interfaces = Set(addresses.map(\.interface))
        guard interfaces.count == 1, let only = addresses.first else {
            return .failure(BootstrapError("no default route, and \(interfaces.isEmpty ? "no interface with an IPv4 address" : "several interfaces (\(interfaces.sorted().joined(separator: ", ")))"); give --interface and --address"))
        }
        return .success(only)
    }
}
