// systemd's D-Bus API through sd-bus, on an EventThread of its own that waits on the bus's fd: the reconciler's shell.
import CSystemd
import Reactor
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public struct SystemdBusError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// Owns one connection to the system bus. sd-bus is not thread-safe, so every bus call runs on the bus's own
/// EventThread: `perform` hands work to it; between calls the thread sleeps in epoll on the bus's descriptor
/// (sd_bus_get_fd, with what sd_bus_get_events asks for) and its timer (sd_bus_get_timeout), and dispatches
/// signals as they come. No thread of Swift's cooperative pool ever blocks on the bus.
///
/// A thread of its own, not shared with VRRP's or gossip's: a call (`sd_bus_call`) blocks its thread until
/// systemd answers, and a daemon reload takes systemd half a second or more, longer than an advert interval.
public final class SystemdBus: @unchecked Sendable {
    public enum Event: Sendable, Equatable {
        /// PropertiesChanged on a unit object's Unit interface, with the states it carries (nil: not in it).
        case unitChanged(path: String, activeState: String?, subState: String?)
        case jobRemoved(unit: String, result: String)
        case unitFilesChanged
    }

    /// Signals, in the order they arrived.
    public let events: AsyncStream<Event>
    private let eventSink: AsyncStream<Event>.Continuation
    private let thread: EventThread
    private let stopping = Atomic<Bool>(false)
    // Touched only on the bus thread.
    private var bus: OpaquePointer?
    private var slots: [OpaquePointer?] = []
    /// The descriptor watched and whether for writing too, as last asked of the thread.
    private var watched: (fd: Int32, writable: Bool)?
    private lazy var onReady: () -> Void = { [unowned self] in self.pump() }

    /// Starts the bus thread, which connects to the system bus; then subscribes to systemd's signals.
    public static func connect() async throws -> SystemdBus {
        let thread: EventThread
        do {
            thread = try EventThread(name: "hcagent-bus")
        } catch {
            throw SystemdBusError(description: "cannot start the bus thread: \(error)")
        }
        let bus = SystemdBus(thread: thread)
        do {
            try await thread.submit { bus.open() }?.get()
            try await bus.perform { bus in try SystemdBus.subscribe(bus) }
            try await bus.addMatches()
        } catch {
            bus.close()
            throw error
        }
        return bus
    }

    private init(thread: EventThread) {
        (events, eventSink) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .unbounded)
        self.thread = thread
    }

    /// Stops the bus thread and closes the connection. Work queued after this never runs.
    public func close() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        thread.execute { [self] in
            if let watched { thread.unwatch(watched.fd) }
            watched = nil
            thread.schedule(at: nil)
            for slot in slots { sd_bus_slot_unref(slot) }
            slots = []
            if let bus { sd_bus_flush_close_unref(bus) }
            bus = nil
        }
        thread.stop()
        thread.waitUntilEnded()
        eventSink.finish()
    }

    // MARK: running work on the bus thread

    /// Runs `body` on the bus thread with the connection and returns its result.
    public func perform<T: Sendable>(_ body: @escaping @Sendable (OpaquePointer) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let queued = thread.execute { [self] in
                guard let bus else {
                    continuation.resume(throwing: SystemdBusError(description: "the bus is closed"))
                    return
                }
                continuation.resume(with: Result { try body(bus) })
                // A call reads what arrives before its reply: signals wait in sd-bus's queue until processed.
                pump()
            }
            if !queued { continuation.resume(throwing: SystemdBusError(description: "the bus is closed")) }
        }
    }

    /// On the thread: connects, then waits for the bus's descriptor.
    private func open() -> Result<Void, SystemdBusError> {
        let result = sd_bus_open_system(&bus)
        guard result >= 0 else {
            bus = nil
            return .failure(SystemdBusError(description: "cannot connect to the system bus: \(String(cString: strerror(-result)))"))
        }
        pump()
        return .success(())
    }

    /// On the thread, after every call and whenever the bus is ready or its timer is due: dispatches what
    /// arrived, then tells the thread what to wait for next.
    private func pump() {
        guard let bus else { return }
        while sd_bus_process(bus, nil) > 0 {}
        let fd = sd_bus_get_fd(bus)
        let wanted = sd_bus_get_events(bus)
        guard fd >= 0, wanted >= 0 else {
            // The connection is gone (the bus daemon restarted): calls fail from now on, each with its reason.
            if let watched { thread.unwatch(watched.fd) }
            watched = nil
            thread.schedule(at: nil)
            return
        }
        let writable = wanted & Int32(POLLOUT) != 0
        if watched?.fd != fd || watched?.writable != writable {
            if let watched, watched.fd != fd { thread.unwatch(watched.fd) }
            do {
                try thread.watch(fd, readable: true, writable: writable, onReady)
                watched = (fd, writable)
            } catch {
                watched = nil
            }
        }
        var until: UInt64 = 0
        guard sd_bus_get_timeout(bus, &until) >= 0, until != UInt64.max else {
            thread.schedule(at: nil)
            return
        }
        // sd-bus counts in CLOCK_MONOTONIC microseconds; the thread's timer in ContinuousClock's instants.
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let nowMicroseconds = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
        let left = until > nowMicroseconds ? min(until - nowMicroseconds, 60_000_000) : 0
        thread.schedule(at: .now + .microseconds(Int64(left)), onReady)
    }

    // MARK: signals

    private func addMatches() async throws {
        try await perform { [self] bus in
            let rules = [
                "type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged'",
                "type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'",
                "type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='UnitFilesChanged'",
            ]
            let me = Unmanaged.passUnretained(self).toOpaque()
            for rule in rules {
                var slot: OpaquePointer?
                try Self.check(sd_bus_add_match(bus, &slot, rule, { message, userdata, _ in
                    guard let message, let userdata else { return 0 }
                    Unmanaged<SystemdBus>.fromOpaque(userdata).takeUnretainedValue().dispatch(message)
                    return 0
                }, me), "cannot watch systemd's signals")
                slots.append(slot)
            }
        }
    }

    private func dispatch(_ message: OpaquePointer) {
        let member = sd_bus_message_get_member(message).map { String(cString: $0) } ?? ""
        switch member {
        case "PropertiesChanged":
            // Only the Unit interface: systemd sends the same change again on the Service interface (and sends
            // both when a read of ours loads a unit it had unloaded, which the states let the driver ignore).
            guard let path = sd_bus_message_get_path(message).map({ String(cString: $0) }),
                  path.hasPrefix("/org/freedesktop/systemd1/unit/"),
                  (try? Self.readString(message)) == "org.freedesktop.systemd1.Unit" else { return }
            var activeState: String?, subState: String?
            try? Self.readChangedProperties(message) { key, message in
                switch key {
                case "ActiveState": activeState = try Self.readVariantString(message)
                case "SubState": subState = try Self.readVariantString(message)
                default: try Self.check(sd_bus_message_skip(message, "v"), "cannot read properties")
                }
            }
            eventSink.yield(.unitChanged(path: path, activeState: activeState, subState: subState))
        case "JobRemoved":
            var id: UInt32 = 0
            var job: UnsafePointer<CChar>?
            var unit: UnsafePointer<CChar>?
            var result: UnsafePointer<CChar>?
            guard sd_bus_message_read_basic(message, CChar(UInt8(ascii: "u")), &id) >= 0,
                  sd_bus_message_read_basic(message, CChar(UInt8(ascii: "o")), &job) >= 0,
                  sd_bus_message_read_basic(message, CChar(UInt8(ascii: "s")), &unit) >= 0,
                  sd_bus_message_read_basic(message, CChar(UInt8(ascii: "s")), &result) >= 0,
                  let unit, let result else { return }
            eventSink.yield(.jobRemoved(unit: String(cString: unit), result: String(cString: result)))
        case "UnitFilesChanged":
            eventSink.yield(.unitFilesChanged)
        default:
            break
        }
    }

    // MARK: calls (bus thread only)

    static func check(_ result: Int32, _ what: String) throws {
        if result < 0 { throw SystemdBusError(description: "\(what): \(String(cString: strerror(-result)))") }
    }

    static func subscribe(_ bus: OpaquePointer) throws {
        try call(bus, manager: "Subscribe") { _ in }
    }

    /// Calls a method of org.freedesktop.systemd1.Manager; `append` adds the arguments.
    @discardableResult
    static func call(_ bus: OpaquePointer, manager member: String, path: String = "/org/freedesktop/systemd1",
                     interface: String = "org.freedesktop.systemd1.Manager",
                     read: (OpaquePointer) throws -> Void = { _ in },
                     append: (OpaquePointer) throws -> Void) throws -> Bool {
        var message: OpaquePointer?
        try check(sd_bus_message_new_method_call(bus, &message, "org.freedesktop.systemd1", path, interface, member), "cannot build \(member)")
        defer { sd_bus_message_unref(message) }
        try append(message!)
        var error = sd_bus_error()
        var reply: OpaquePointer?
        let result = sd_bus_call(bus, message, 25_000_000, &error, &reply)
        defer {
            sd_bus_error_free(&error)
            sd_bus_message_unref(reply)
        }
        if result < 0 {
            let text = error.message.map { String(cString: $0) } ?? String(cString: strerror(-result))
            throw SystemdBusError(description: "\(member): \(text)")
        }
        if let reply { try read(reply) }
        return true
    }

    static func appendString(_ message: OpaquePointer, _ text: String) throws {
        try text.withCString { try check(sd_bus_message_append_basic(message, CChar(UInt8(ascii: "s")), $0), "cannot append") }
    }

    static func appendBool(_ message: OpaquePointer, _ value: Bool) throws {
        var int: Int32 = value ? 1 : 0
        try check(sd_bus_message_append_basic(message, CChar(UInt8(ascii: "b")), &int), "cannot append")
    }

    static func appendStrings(_ message: OpaquePointer, _ texts: [String]) throws {
        try check(sd_bus_message_open_container(message, CChar(UInt8(ascii: "a")), "s"), "cannot append")
        for text in texts { try appendString(message, text) }
        try check(sd_bus_message_close_container(message), "cannot append")
    }

    static func readString(_ message: OpaquePointer, type: Character = "s") throws -> String {
        var pointer: UnsafePointer<CChar>?
        try check(sd_bus_message_read_basic(message, CChar(type.asciiValue!), &pointer), "cannot read the reply")
        return pointer.map { String(cString: $0) } ?? ""
    }
}
