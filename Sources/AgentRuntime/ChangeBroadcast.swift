// The latest value of one fact of the agent's state and everyone following it: a new follower gets the
// current value at once, then every change.

struct ChangeBroadcast<Value: Sendable & Equatable>: Sendable {
    private(set) var value: Value?
    private var followers: [AsyncStream<Value>.Continuation] = []

    init(_ initial: Value? = nil) { value = initial }

    mutating func follow() -> AsyncStream<Value> {
        // Only the latest matters to a follower that falls behind.
        let (stream, continuation) = AsyncStream.makeStream(of: Value.self, bufferingPolicy: .bufferingNewest(1))
        if let value { continuation.yield(value) }
        followers.append(continuation)
        return stream
    }

    /// Tells the followers, if the value changed; says whether it did.
    @discardableResult
    mutating func publish(_ new: Value) -> Bool {
        guard new != value else { return false }
        value = new
        for follower in followers { follower.yield(new) }
        return true
    }
}
