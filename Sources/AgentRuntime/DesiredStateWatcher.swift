// Notices a new desired.yaml (polling its inode, size and mtime once a second) or SIGHUP, and reloads it.
import HomecloudSchema
import ServiceLifecycle
import UnixSignals

/// Polling, not inotify: one stat() a second costs nothing, and it sees editors that replace the file,
/// directories created later, and bind mounts alike.
public struct DesiredStateWatcher: Service {
    let state: AgentState
    let path: String
    let interval: Duration

    public init(state: AgentState, path: String, interval: Duration = .seconds(1)) {
        self.state = state
        self.path = path
        self.interval = interval
    }

    public func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await _ in hangups {
                        await state.reloadDesired()
                    }
                }
                group.addTask {
                    var last = TextFile.stamp(path)
                    while (try? await Task.sleep(for: interval)) != nil {
                        let now = TextFile.stamp(path)
                        if now != last {
                            last = now
                            await state.reloadDesired()
                        }
                    }
                }
            }
        }
    }
}
