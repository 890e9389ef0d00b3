// A unit's `wait_for:` conditions: what must hold before the reconciler starts it (bring-up order).

/// One condition of `wait_for:`. Waiting is for starting only: a unit already running stays when a condition
/// stops holding later.
public enum WaitCondition: Sendable, Equatable, Hashable {
    /// The probe passes on at least one live board of the role (any board of the document when role is nil),
    /// as that board's gossip metadata says.
    case probe(String, role: String?)
    /// The shared secret is available on this board.
    case secret(String)
    /// The file exists on this board (an absolute path).
    case file(String)

    /// "probe k3s-api on role k3s-init", "secret k3s-token", "file /etc/x": what hcctl units shows.
    public var text: String {
        switch self {
        case .probe(let name, let role?): return "probe \(name) on role \(role)"
        case .probe(let name, nil): return "probe \(name) on any board"
        case .secret(let name): return "secret \(name)"
        case .file(let path): return "file \(path)"
        }
    }
}
