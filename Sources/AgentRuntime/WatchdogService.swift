// Pings systemd's watchdog (WatchdogSec=) only while the agent's event loop still answers.
import PartLifecycle

/// A stopped or wedged agent stops pinging, and systemd restarts it.
public struct WatchdogService: Service {
    let notifier: SystemdNotifier
    let interval: Duration
    let isResponsive: @Sendable () async -> Bool

    public init(notifier: SystemdNotifier, interval: Duration, isResponsive: @escaping @Sendable () async -> Bool) {
        self.notifier = notifier
        self.interval = interval
        self.isResponsive = isResponsive
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            repeat {
                if await isResponsive() { notifier.watchdog() }
            } while (try? await Task.sleep(for: interval)) != nil
        }
    }
}
