// A part of the agent that runs degraded or not at all (VRRP without CAP_NET_ADMIN, a read-only state_dir), and why.

public struct PartProblem: Sendable, Equatable {
    /// The part: vrrp, vip:NAME, reconciler, state_dir, ...
    public var part: String
    /// What is missing and what that turns off, in one line.
    public var reason: String

    public init(part: String, reason: String) {
        self.part = part
        self.reason = reason
    }
}
