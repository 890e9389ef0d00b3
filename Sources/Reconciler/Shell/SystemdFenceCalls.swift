// The fence's bus calls (SingletonFence.swift says why): a transient timer re-armed by RestartUnit, created with
// its oneshot service by StartTransientUnit when it does not exist, removed by StopUnit.
import CSystemd

extension SystemdBus {
    /// Arms the fence of `unit` for `timing.lease`: restarts its timer (OnActiveSec counts from the restart), or,
    /// when there is none (never armed, or it elapsed and systemd unloaded it), creates it. `recreate`: the timer
    /// may exist with another lease (the document's size changed), so it is stopped and made anew.
    public func armFence(of unit: String, timing: FenceTiming, recreate: Bool) async throws {
        let timer = SingletonFence.timerName(for: unit)
        let service = SingletonFence.serviceName(for: unit)
        try await perform { bus in
            if recreate {
                _ = try? Self.call(bus, manager: "StopUnit") { try Self.appendString($0, timer); try Self.appendString($0, "replace") }
            } else if (try? Self.call(bus, manager: "RestartUnit", append: {
                try Self.appendString($0, timer)
                try Self.appendString($0, "replace")
            })) != nil {
                return
            }
            try Self.call(bus, manager: "StartTransientUnit") { message in
                try Self.appendString(message, timer)
                try Self.appendString(message, "replace")
                try Self.container(message, "a", "(sv)") {
                    try Self.property(message, "Description", "s") { try Self.appendString(message, "hcagent fence of \(unit): stops it unless hcagent re-arms this timer") }
                    try Self.property(message, "AccuracyUSec", "t") { try Self.appendMicroseconds(message, timing.accuracy) }
                    try Self.property(message, "RemainAfterElapse", "b") { try Self.appendBool(message, false) }
                    // Every re-arm is a start: systemd's default start limit (5 in 10 s) would fail the 6th
                    // re-arm within 10 s ("start-limit-hit") and leave the timer failed, so not armed, while the
                    // RestartUnit call itself succeeds (it only queues the job). 0 turns the limit off.
                    try Self.property(message, "StartLimitIntervalUSec", "t") { try Self.appendMicroseconds(message, .zero) }
                    try Self.property(message, "TimersMonotonic", "a(st)") {
                        try Self.container(message, "a", "(st)") {
                            try Self.container(message, "r", "st") {
                                try Self.appendString(message, "OnActiveSec")
                                try Self.appendMicroseconds(message, timing.lease)
                            }
                        }
                    }
                }
                // The service the timer starts: a oneshot whose start stops the unit (Conflicts=). systemd wants
                // a command; `-` (ignore failure): the stop is part of the start's transaction whatever it does.
                try Self.container(message, "a", "(sa(sv))") {
                    try Self.container(message, "r", "sa(sv)") {
                        try Self.appendString(message, service)
                        try Self.container(message, "a", "(sv)") {
                            try Self.property(message, "Description", "s") { try Self.appendString(message, "hcagent fence of \(unit): stops it") }
                            try Self.property(message, "Type", "s") { try Self.appendString(message, "oneshot") }
                            try Self.property(message, "Conflicts", "as") { try Self.appendStrings(message, [unit]) }
                            try Self.property(message, "ExecStart", "a(sasb)") {
                                try Self.container(message, "a", "(sasb)") {
                                    try Self.container(message, "r", "sasb") {
                                        try Self.appendString(message, "/bin/true")
                                        try Self.appendStrings(message, ["/bin/true"])
                                        try Self.appendBool(message, true)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Removes the fence of `unit`; a fence that is not there (elapsed, never armed) is no error.
    public func removeFence(of unit: String) async {
        let timer = SingletonFence.timerName(for: unit)
        _ = try? await perform { bus in
            try Self.call(bus, manager: "StopUnit") { try Self.appendString($0, timer); try Self.appendString($0, "replace") }
        }
    }

    private static func container(_ message: OpaquePointer, _ type: Character, _ contents: String, _ body: () throws -> Void) throws {
        try check(sd_bus_message_open_container(message, CChar(type.asciiValue!), contents), "cannot append")
        try body()
        try check(sd_bus_message_close_container(message), "cannot append")
    }

    /// One (sv) of a property array: the name, then a variant of `signature` that `value` appends.
    private static func property(_ message: OpaquePointer, _ name: String, _ signature: String, _ value: () throws -> Void) throws {
        try container(message, "r", "sv") {
            try appendString(message, name)
            try container(message, "v", signature, value)
        }
    }

    private static func appendMicroseconds(_ message: OpaquePointer, _ duration: Duration) throws {
        let (seconds, attoseconds) = duration.components
        var microseconds = UInt64(max(0, seconds)) * 1_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000_000)
        try check(sd_bus_message_append_basic(message, CChar(UInt8(ascii: "t")), &microseconds), "cannot append")
    }
}
