// What systemd says about one unit: the properties the planner reads (ActiveState, UnitFileState, Result...).

public struct ObservedUnit: Sendable, Equatable {
    public var name: String
    /// loaded, not-found, masked, error, bad-setting.
    public var loadState: String
    /// active, reloading, inactive, failed, activating, deactivating.
    public var activeState: String
    public var subState: String
    /// enabled, disabled, static, masked, indirect, generated, ... or "" when there is no unit file.
    public var unitFileState: String
    /// success, exit-code, signal, core-dump, watchdog, start-limit-hit, timeout, ...
    public var result: String
    public var restarts: Int
    /// systemd has a job queued or running for it (its Job property): a start, stop or restart someone asked for,
    /// this agent's own or another caller's (a managed file's try-restart, hcctl restart, systemctl).
    public var hasJob: Bool

    public init(name: String, loadState: String = "loaded", activeState: String, subState: String = "",
                unitFileState: String = "disabled", result: String = "success", restarts: Int = 0, hasJob: Bool = false) {
        self.name = name
        self.loadState = loadState
        self.activeState = activeState
        self.subState = subState
        self.unitFileState = unitFileState
        self.result = result
        self.restarts = restarts
        self.hasJob = hasJob
    }

    /// Running, or on its way there by itself.
    var isUp: Bool { activeState == "active" || activeState == "reloading" }
    var isDown: Bool { activeState == "inactive" || activeState == "failed" }
    var isEnabled: Bool {
        ["enabled", "enabled-runtime", "static", "alias", "indirect", "generated", "linked", "linked-runtime"].contains(unitFileState)
    }
}
