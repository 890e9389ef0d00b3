// What a board says in gossip of its `placement: one` units (metadata "oc"): which of them it runs, is starting,
// stopping, or waits to take over, under the document generation it plans with. Read by the fast start of
// Sources/Reconciler/Core/SingletonFastStart.swift; a board that says nothing (an older agent, a trimmed
// metadata, units not read yet) counts as one that may run any of them.
public struct SingletonClaims: Sendable, Equatable, Hashable {
    /// The generation of the document this board plans with.
    public var generation: UInt64
    /// The `one` units of its roles that are not quiet here: up or not known down, a job under way, or this
    /// board the one to run them (waiting out its takeover delay or running them). Sorted.
    public var units: [String]

    public init(generation: UInt64, units: [String]) {
        self.generation = generation
        self.units = units.sorted()
    }
}
