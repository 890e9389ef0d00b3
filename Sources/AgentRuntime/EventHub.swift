// The cluster's events as this board sees them (hcctl events): follows the typed channels, asks ClusterEventDiff
// what changed, and hands each event to its followers, each through a small bounded buffer: a follower that
// falls behind loses its oldest events (it sees a gap in seq), never the agent's memory.
#if canImport(Glibc)
import Glibc
#endif
import HomecloudSchema
import PartWiring
import PartLifecycle
import Synchronization

public final class EventHub: Service, Sendable {
    /// Events a follower may have waiting (its ring: the oldest go first when it falls behind).
    public static let capacity = 64

    private struct State {
        var followers: [Int: AsyncStream<ClusterEvent>.Continuation] = [:]
        var nextFollower = 0
    }

    private let state = Mutex(State())
    private let node: String
    private let channels: AgentChannels
    private let refusals: LatestValue<DocumentRefusal>

    public init(node: String, channels: AgentChannels, refusals: LatestValue<DocumentRefusal>) {
        self.node = node
        self.channels = channels
        self.refusals = refusals
    }

    /// Every event from now on, until the stream is dropped or the agent stops.
    public func follow() -> AsyncStream<ClusterEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: ClusterEvent.self, bufferingPolicy: .bufferingNewest(Self.capacity))
        let id = state.withLock { state in
            defer { state.nextFollower += 1 }
            state.followers[state.nextFollower] = continuation
            return state.nextFollower
        }
        continuation.onTermination = { [weak self] _ in self?.state.withLock { _ = $0.followers.removeValue(forKey: id) } }
        return stream
    }

    public var followerCount: Int { state.withLock { $0.followers.count } }

    /// Hands events on (also used by tests, without the channels).
    func emit(_ events: [ClusterEvent]) {
        guard !events.isEmpty else { return }
        state.withLock { state in
            for follower in state.followers.values { for event in events { follower.yield(event) } }
        }
    }

    private enum Input: Sendable {
        case members([MemberStatus]), vips([VIPStatus]), units([UnitStatus]), probes(ProbeSummary)
        case accepted(UInt64), refused(DocumentRefusal)
    }

    public func run() async throws {
        let channels = self.channels
        let (inputs, sink) = AsyncStream.makeStream(of: Input.self)
        let members = channels.members.follow(), vips = channels.vips.follow(), units = channels.units.follow()
        let probes = channels.probeSummary.follow(), documents = channels.documents.follow(), refusals = self.refusals.follow()
        var diff = ClusterEventDiff(node: node)
        await withDiscardingTaskGroup { group in
            group.addTask { for await value in members { sink.yield(.members(value)) } }
            group.addTask { for await value in vips { sink.yield(.vips(value)) } }
            group.addTask { for await value in units { sink.yield(.units(value.units)) } }
            group.addTask { for await value in probes { sink.yield(.probes(value)) } }
            group.addTask { for await value in documents { sink.yield(.accepted(value.document.generation)) } }
            group.addTask { for await value in refusals { sink.yield(.refused(value)) } }
            await withGracefulShutdownHandler {
                for await input in inputs {
                    let time = Self.wallMilliseconds()
                    switch input {
                    case .members(let list): emit(diff.onMembers(list, time: time))
                    case .vips(let list): emit(diff.onVIPs(list, time: time))
                    case .units(let list): emit(diff.onUnits(list, time: time))
                    case .probes(let summary): emit(diff.onProbes(summary, time: time))
                    case .accepted(let generation): emit([diff.onDocumentAccepted(generation: generation, time: time)])
                    case .refused(let refusal): emit([diff.onDocumentRefused(refusal, time: time)])
                    }
                }
            } onGracefulShutdown: {
                sink.finish()
            }
            // Finished outside the lock: a finished stream's onTermination takes it.
            for follower in state.withLock({ Array($0.followers.values) }) { follower.finish() }
            group.cancelAll()
        }
    }

    static func wallMilliseconds() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int(now.tv_sec) * 1000 + Int(now.tv_nsec) / 1_000_000
    }
}
