// A VIP's transition hooks (`notify:` under a VIP in desired.yaml): the command run when this board's router for
// the VIP becomes master, backup or fault.

public struct VIPNotify: Sendable, Equatable {
    /// argv (no shell); the agent appends the VIP's name and the new state as two more arguments.
    public var master: [String]?
    public var backup: [String]?
    public var fault: [String]?
    /// A hook still running after this is killed (its whole process group) and counted as failed.
    public var timeout: Duration

    public static let defaultTimeout = Duration.seconds(10)

    public init(master: [String]? = nil, backup: [String]? = nil, fault: [String]? = nil, timeout: Duration = defaultTimeout) {
        self.master = master
        self.backup = backup
        self.fault = fault
        self.timeout = timeout
    }

    /// The command for a state hooks exist for (master, backup, fault); nil for any other.
    public func command(for state: String) -> [String]? {
        switch state {
        case "master": master
        case "backup": backup
        case "fault": fault
        default: nil
        }
    }

    /// The argv a hook runs with: the command, then the VIP's name and the new state.
    public static func argv(_ command: [String], vip: String, state: String) -> [String] { command + [vip, state] }
}
