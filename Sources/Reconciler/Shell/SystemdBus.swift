// systemd's D-Bus API through sd-bus, on one thread of its own that polls the bus's fd: the shell of the reconciler.
import CSystemd
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public struct SystemdBusError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// Owns one connection to the system bus. sd-bus is not thread-safe, so every bus call runs on the bus's own
/// thread: `perform` queues work there and wakes it through an eventfd; between calls the thread sleeps in
/// poll() on sd_bus_get_fd/get_events/get_timeout and dispatches signals as they come. No thread of Swift's
/// cooperative pool ever blocks on the bus.
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
    private let queue = Mutex<[@Sendable (OpaquePointer) -> Void]>([])
    /// A pipe: writing a byte to [1] wakes the bus thread's poll on [0].
    private let wakePipe: (read: Int32, write: Int32)
    private let stopping = Atomic<Bool>(false)
    private var thread = pthread_t()
    /// Touched only on the bus thread.
    private var bus: OpaquePointer?
    private var slots: [OpaquePointer?] = []

    /// Starts the bus thread, which connects to the system bus; then subscribes to systemd's signals.
    public static func connect() async throws -> SystemdBus {
        let bus = SystemdBus()
        try await withCheckedThrowingContinuation { (opened: CheckedContinuation<Void, Error>) in
            bus.start(opened)
        }
        do {
            try await bus.perform { bus in try SystemdBus.subscribe(bus) }
            try await bus.addMatches()
        } catch {
            bus.close()
            throw error
        }
        return bus
    }

    private init() {
        (events, eventSink) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .unbounded)
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        }
        wakePipe = (fds[0], fds[1])
    }

    deinit {
        Glibc.close(wakePipe.read)
        Glibc.close(wakePipe.write)
    }

    /// Stops the bus thread and closes the connection. Work queued after this never runs.
    public func close() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake()
        pthread_join(thread, nil)
        eventSink.finish()
    }

    // MARK: running work on the bus thread

    /// Runs `body` on the bus thread with the connection and returns its result.
    public func perform<T: Sendable>(_ body: @escaping @Sendable (OpaquePointer) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            queue.withLock {
                $0.append { bus in continuation.resume(with: Result { try body(bus) }) }
            }
            wake()
        }
    }

    private final class Start {
        let bus: SystemdBus
        let opened: CheckedContinuation<Void, Error>
        init(bus: SystemdBus, opened: CheckedContinuation<Void, Error>) {
            self.bus = bus
            self.opened = opened
        }
    }

    private func start(_ opened: CheckedContinuation<Void, Error>) {
        let box = Unmanaged.passRetained(Start(bus: self, opened: opened)).toOpaque()
        let created = pthread_create(&thread, nil, { raw in
            let start = Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue()
            let bus = start.bus
            let result = sd_bus_open_system(&bus.bus)
            if result < 0 {
                bus.bus = nil
                start.opened.resume(throwing: SystemdBusError(description: "cannot connect to the system bus: \(String(cString: strerror(-result)))"))
                return nil
            }
            start.opened.resume()
            bus.loop(bus.bus!)
            return nil
        }, box)
        if created != 0 {
            Unmanaged<Start>.fromOpaque(box).release()
            opened.resume(throwing: SystemdBusError(description: "cannot start the bus thread"))
        }
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakePipe.write, &byte, 1)
    }

    private func loop(_ bus: OpaquePointer) {
        while !stopping.load(ordering: .acquiring) {
            let work = queue.withLock { pending -> [@Sendable (OpaquePointer) -> Void] in
                defer { pending.removeAll() }
                return pending
            }
            for item in work { item(bus) }
            while sd_bus_process(bus, nil) > 0 {}
            var timeout: UInt64 = 0
            var timeoutMs: Int32 = -1
            if sd_bus_get_timeout(bus, &timeout) >= 0 && timeout != UInt64.max {
                var now = timespec()
                clock_gettime(CLOCK_MONOTONIC, &now)
                let nowUs = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
                timeoutMs = timeout > nowUs ? Int32(min((timeout - nowUs + 999) / 1000, 60_000)) : 0
            }
            waitForWake(busFD: sd_bus_get_fd(bus), events: Int16(truncatingIfNeeded: sd_bus_get_events(bus)), timeoutMs: timeoutMs)
        }
        for slot in slots { sd_bus_slot_unref(slot) }
        sd_bus_flush_close_unref(bus)
        self.bus = nil
    }

    private func waitForWake(busFD: Int32, events: Int16, timeoutMs: Int32) {
        var fds = [pollfd(fd: wakePipe.read, events: Int16(POLLIN), revents: 0), pollfd(fd: busFD, events: events, revents: 0)]
        _ = poll(&fds, nfds_t(fds.count), timeoutMs)
        if fds[0].revents & Int16(POLLIN) != 0 {
            var drain = [UInt8](repeating: 0, count: 64)
            _ = read(wakePipe.read, &drain, drain.count)
        }
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
