// A part of the agent that runs until the agent stops: what ServiceGroup runs and stops in order.

/// A long-running part (gossip, VRRP, the control server...). `run()` returns when the part has stopped: after
/// its graceful shutdown was asked for (see `withGracefulShutdownHandler`), or when its task is cancelled.
public protocol Service: Sendable {
    func run() async throws
}
