// One state change of this board's router for a VIP, as VRRP made it: what the transition hooks act on.

public struct VIPTransition: Sendable, Equatable {
    public var vip: String
    /// VRRP states by name: init, backup, master, fault, stopped.
    public var from: String
    public var to: String
    public var reason: String

    public init(vip: String, from: String, to: String, reason: String) {
        self.vip = vip
        self.from = from
        self.to = to
        self.reason = reason
    }
}
