// Keeps `systemctl status` (STATUS=) saying what `hcctl status` opens with: the status headline, sent again each
// time it changes. Woken by every channel the headline reads, and every few seconds for what has no channel
// (the problems list, this board's probes).
import HomecloudSchema
import PartWiring
import PartLifecycle

struct StatusLineService: Service {
    /// How often the headline is remade when no channel has said anything.
    static let tick = Duration.seconds(5)

    let status: AgentStatus
    let channels: AgentChannels
    let notifier: SystemdNotifier

    func run() async throws {
        let (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let channels = self.channels, status = self.status, notifier = self.notifier
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { for await _ in channels.documents.follow() { wake.yield() } }
                group.addTask { for await _ in channels.members.follow() { wake.yield() } }
                group.addTask { for await _ in channels.vips.follow() { wake.yield() } }
                group.addTask { for await _ in channels.units.follow() { wake.yield() } }
                group.addTask { for await _ in channels.convergence.follow() { wake.yield() } }
                group.addTask { for await _ in channels.probeSummary.follow() { wake.yield() } }
                group.addTask {
                    while (try? await AlignedTick.sleep(every: Self.tick)) != nil { wake.yield() }
                }
                var sent: String?
                wake.yield()
                for await _ in wakes {
                    let headline = StatusHeadline.line(for: await status.report())
                    if headline != sent {
                        notifier.status(headline)
                        sent = headline
                    }
                    if Task.isCancelled { break }
                }
                group.cancelAll()
            }
        }
    }
}
