// A typed channel between two parts of the agent: the latest value of one fact, and everyone following it.
import Synchronization

/// The part that owns the fact publishes; the parts that act on it follow. A new follower gets the current value
/// at once, then every change; one that falls behind gets only the latest (a state, not a list of events).
public final class LatestValue<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var followers: [AsyncStream<Value>.Continuation] = []
    }

    private let state: Mutex<State>

    public init(_ initial: Value? = nil) {
        state = Mutex(State(value: initial))
    }

    /// The value now; nil until the owner first publishes (and no initial value was given).
    public var value: Value? { state.withLock { $0.value } }

    public func follow() -> AsyncStream<Value> {
        let (stream, continuation) = AsyncStream.makeStream(of: Value.self, bufferingPolicy: .bufferingNewest(1))
        state.withLock { state in
            if let value = state.value { continuation.yield(value) }
            state.followers.append(continuation)
        }
        return stream
    }

    /// Tells every follower, whether or not the value changed (a document accepted again is news).
    public func publish(_ new: Value) {
        state.withLock { state in
            state.value = new
            for follower in state.followers { follower.yield(new) }
        }
    }
}

extension LatestValue where Value: Equatable {
    /// Tells the followers only if the value changed; says whether it did.
    @discardableResult
    public func publishIfChanged(_ new: Value) -> Bool {
        state.withLock { state in
            guard new != state.value else { return false }
            state.value = new
            for follower in state.followers { follower.yield(new) }
            return true
        }
    }
}
