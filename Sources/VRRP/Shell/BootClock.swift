// The clock and boot id an in-place restart's handoff record is dated with: both outlive an execve, and the
// boot id tells a record left before a reboot from a fresh one.
import HomecloudYAML
#if canImport(Glibc)
import Glibc
#endif

enum BootClock {
    /// CLOCK_BOOTTIME: one clock for the old process and the new one (each process's ContinuousClock origin differs).
    static var now: Duration {
        var time = timespec()
        clock_gettime(CLOCK_BOOTTIME, &time)
        return .seconds(Int64(time.tv_sec)) + .nanoseconds(Int64(time.tv_nsec))
    }

    /// Empty when unreadable: then no record is ever fresh.
    static let bootID: String = {
        let text = (try? TextFile.read("/proc/sys/kernel/random/boot_id")) ?? ""
        return String(text.filter { !$0.isWhitespace })
    }()
}
