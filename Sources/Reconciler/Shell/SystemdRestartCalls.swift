// hcctl restart on this board: a unit restarted over sd-bus, and awaited until it is active again (a new
// ActiveEnterTimestamp, so the old run still up does not count) or has failed.
import CSystemd

extension SystemdBus {
    /// The unit's ActiveState and ActiveEnterTimestampMonotonic (0 before it was ever active).
    func activeSince(_ name: String) async throws -> (state: String, since: UInt64) {
        try await perform { bus in
            var path = ""
            try Self.call(bus, manager: "LoadUnit", read: { path = try Self.readString($0, type: "o") }) {
                try Self.appendString($0, name)
            }
            var state = "unknown", since: UInt64 = 0
            try Self.readProperties(bus, path: path, interface: "org.freedesktop.systemd1.Unit") { key, message in
                switch key {
                case "ActiveState": state = try Self.readVariantString(message)
                case "ActiveEnterTimestampMonotonic":
                    try Self.check(sd_bus_message_enter_container(message, CChar(UInt8(ascii: "v")), "t"), "cannot read ActiveEnterTimestampMonotonic")
                    try Self.check(sd_bus_message_read_basic(message, CChar(UInt8(ascii: "t")), &since), "cannot read ActiveEnterTimestampMonotonic")
                    try Self.check(sd_bus_message_exit_container(message), "cannot read ActiveEnterTimestampMonotonic")
                default: try Self.check(sd_bus_message_skip(message, "v"), "cannot read properties")
                }
            }
            return (state, since)
        }
    }
}

extension ReconcilerHandle {
    /// Restarts `unit` and waits until it is active again since the restart: nil, or why not (no systemd, the
    /// restart refused, the unit failed, or not active again within `limit`).
    public func restart(_ unit: String, within limit: Duration) async -> String? {
        guard let bus = connection?.bus else { return "systemd is not connected on this board" }
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        do {
            let before = try await bus.activeSince(unit)
            try await bus.restartUnit(unit)
            var last = before.state
            while clock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                let now = try await bus.activeSince(unit)
                last = now.state
                if now.state == "active" && now.since != before.since { return nil }
                if now.state == "failed" { return "\(unit) failed after its restart" }
            }
            return "\(unit) not active again within \(limit.components.seconds) s (it is \(last))"
        } catch {
            return "cannot restart \(unit): \(error)"
        }
    }
}
