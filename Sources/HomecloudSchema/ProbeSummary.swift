// How many probes run on a board and which fail: what its gossip metadata says of its health.

public struct ProbeSummary: Sendable, Equatable {
    public var count: Int
    public var failing: [String]

    public init(count: Int, failing: [String]) {
        self.count = count
        self.failing = failing
    }
}
