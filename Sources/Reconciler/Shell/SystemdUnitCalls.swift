// The unit operations the reconciler needs, as systemd's Manager and Properties methods over SystemdBus.
import CSystemd

extension SystemdBus {
    /// Loads the unit (so an inactive one has properties too) and reads what the planner needs.
    public func readUnit(_ name: String) async throws -> (path: String, unit: ObservedUnit) {
        try await perform { bus in
            var path = ""
            try Self.call(bus, manager: "LoadUnit", read: { path = try Self.readString($0, type: "o") }) {
                try Self.appendString($0, name)
            }
            var unit = ObservedUnit(name: name, activeState: "unknown")
            try Self.readProperties(bus, path: path, interface: "org.freedesktop.systemd1.Unit") { key, message in
                switch key {
                case "LoadState": unit.loadState = try Self.readVariantString(message)
                case "ActiveState": unit.activeState = try Self.readVariantString(message)
                case "SubState": unit.subState = try Self.readVariantString(message)
                case "UnitFileState": unit.unitFileState = try Self.readVariantString(message)
                case "Job": unit.hasJob = try Self.readJobID(message) != 0
                default: try Self.check(sd_bus_message_skip(message, "v"), "cannot read properties")
                }
            }
            if name.hasSuffix(".service") && unit.loadState == "loaded" {
                try Self.readProperties(bus, path: path, interface: "org.freedesktop.systemd1.Service") { key, message in
                    switch key {
                    case "Result": unit.result = try Self.readVariantString(message)
                    case "NRestarts":
                        try Self.check(sd_bus_message_enter_container(message, CChar(UInt8(ascii: "v")), "u"), "cannot read NRestarts")
                        var count: UInt32 = 0
                        try Self.check(sd_bus_message_read_basic(message, CChar(UInt8(ascii: "u")), &count), "cannot read NRestarts")
                        try Self.check(sd_bus_message_exit_container(message), "cannot read NRestarts")
                        unit.restarts = Int(count)
                    default: try Self.check(sd_bus_message_skip(message, "v"), "cannot read properties")
                    }
                }
            }
            return (path, unit)
        }
    }

    /// Queues a start (stop, restart) job in mode "replace"; its end arrives as `.jobRemoved`.
    public func startUnit(_ name: String) async throws { try await job("StartUnit", name) }
    public func stopUnit(_ name: String) async throws { try await job("StopUnit", name) }
    public func restartUnit(_ name: String) async throws { try await job("RestartUnit", name) }
    /// After a managed file is written: restart only if it runs (a unit stopped or placed elsewhere stays so),
    /// and reload (or restart, for a unit without ExecReload) only if it runs.
    public func tryRestartUnit(_ name: String) async throws { try await job("TryRestartUnit", name) }
    public func reloadOrTryRestartUnit(_ name: String) async throws { try await job("ReloadOrTryRestartUnit", name) }

    public func resetFailedUnit(_ name: String) async throws {
        try await perform { bus in
            _ = try Self.call(bus, manager: "ResetFailedUnit") { try Self.appendString($0, name) }
        }
    }

    /// Enables unit files (not at runtime only; replacing conflicting symlinks), then reloads systemd.
    public func enableUnitFiles(_ names: [String]) async throws {
        try await perform { bus in
            try Self.call(bus, manager: "EnableUnitFiles") {
                try Self.appendStrings($0, names)
                try Self.appendBool($0, false)
                try Self.appendBool($0, true)
            }
            try Self.call(bus, manager: "Reload") { _ in }
        }
    }

    public func disableUnitFiles(_ names: [String]) async throws {
        try await perform { bus in
            try Self.call(bus, manager: "DisableUnitFiles") {
                try Self.appendStrings($0, names)
                try Self.appendBool($0, false)
            }
            try Self.call(bus, manager: "Reload") { _ in }
        }
    }

    private func job(_ method: String, _ name: String) async throws {
        try await perform { bus in
            _ = try Self.call(bus, manager: method) {
                try Self.appendString($0, name)
                try Self.appendString($0, "replace")
            }
        }
    }

    /// Properties.GetAll(interface), handing each key to `read` positioned on its variant.
    static func readProperties(_ bus: OpaquePointer, path: String, interface: String,
                               read: (String, OpaquePointer) throws -> Void) throws {
        try call(bus, manager: "GetAll", path: path, interface: "org.freedesktop.DBus.Properties", read: { message in
            try readChangedProperties(message, read)
        }) { try appendString($0, interface) }
    }

    /// Reads an a{sv} of properties (a GetAll reply, a PropertiesChanged signal), one `read` per key.
    static func readChangedProperties(_ message: OpaquePointer, _ read: (String, OpaquePointer) throws -> Void) throws {
        try check(sd_bus_message_enter_container(message, CChar(UInt8(ascii: "a")), "{sv}"), "cannot read properties")
        while try enter(message) {
            let key = try readString(message)
            try read(key, message)
            try check(sd_bus_message_exit_container(message), "cannot read properties")
        }
        try check(sd_bus_message_exit_container(message), "cannot read properties")
    }

    private static func enter(_ message: OpaquePointer) throws -> Bool {
        let result = sd_bus_message_enter_container(message, CChar(UInt8(ascii: "e")), "sv")
        try check(result, "cannot read properties")
        return result > 0
    }

    /// A unit's Job property, a variant of (uo): the id of its queued or running job, 0 when it has none.
    static func readJobID(_ message: OpaquePointer) throws -> UInt32 {
        try check(sd_bus_message_enter_container(message, CChar(UInt8(ascii: "v")), "(uo)"), "cannot read Job")
        try check(sd_bus_message_enter_container(message, CChar(UInt8(ascii: "r")), "uo"), "cannot read Job")
        var id: UInt32 = 0
        try check(sd_bus_message_read_basic(message, CChar(UInt8(ascii: "u")), &id), "cannot read Job")
        try check(sd_bus_message_skip(message, "o"), "cannot read Job")
        try check(sd_bus_message_exit_container(message), "cannot read Job")
        try check(sd_bus_message_exit_container(message), "cannot read Job")
        return id
    }

    static func readVariantString(_ message: OpaquePointer) throws -> String {
        try check(sd_bus_message_enter_container(message, CChar(UInt8(ascii: "v")), "s"), "cannot read a property")
        let text = try readString(message)
        try check(sd_bus_message_exit_container(message), "cannot read a property")
        return text
    }
}
