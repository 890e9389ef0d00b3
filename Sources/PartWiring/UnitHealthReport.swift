// What a `restart: true` probe says of its unit: the probes send it, the reconciler acts on it (each report counts).

public enum UnitHealthReport: Sendable, Equatable {
    case failing(unit: String, reason: String)
    case healthy(unit: String)
}
