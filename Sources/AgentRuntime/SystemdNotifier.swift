// Talks to the service manager for a Type=notify unit: READY=1, STATUS=, WATCHDOG=1, STOPPING=1, RELOADING=1.
import CSystemd
#if canImport(Glibc)
import Glibc
#endif

/// Without NOTIFY_SOCKET (run by hand) every call does nothing, as sd_notify does.
public struct SystemdNotifier: Sendable {
    public init() {}

    public func ready(status: String) { send("READY=1\nSTATUS=\(status)") }
    public func status(_ text: String) { send("STATUS=\(text)") }
    public func stopping() { send("STOPPING=1\nSTATUS=stopping") }
    public func watchdog() { send("WATCHDOG=1") }
    /// An in-place restart began (`systemctl reload`); READY=1 ends it, from this process or the one it executes.
    public func reloading() {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        let microseconds = Int64(time.tv_sec) * 1_000_000 + Int64(time.tv_nsec) / 1000
        send("RELOADING=1\nSTATUS=restarting in place\nMONOTONIC_USEC=\(microseconds)")
    }

    /// How often to ping when the unit sets WatchdogSec=: half the timeout, as sd_watchdog_enabled advises.
    public var watchdogInterval: Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(microseconds / 2))
    }

    private func send(_ state: String) {
        _ = sd_notify(0, state)
    }
}
