// `hcctl status`'s restart section: a restart under way as this board sees it, coordinating (hcctl restart
// was typed here) or restarting (asked by a coordinator); its JSON form and its line for people.

public struct RestartStatus: Sendable, Equatable {
    /// "coordinating" (the roll runs from this board) or "restarting" (this board restarts its units now).
    public var role: String
    public var id: String
    /// What was typed: a role or a unit (coordinating only).
    public var target: String?
    public var units: [String]
    /// One board at a time (coordinating only).
    public var rolling: Bool?
    /// The boards asked now (coordinating only).
    public var boards: [String]?
    /// How many boards are done, of how many (coordinating only).
    public var done: Int?
    public var total: Int?
    /// The coordinating board (restarting only).
    public var by: String?
    /// "handing VIPs over" or "restarting units" (restarting only).
    public var step: String?

    public init(role: String, id: String, units: [String]) {
        self.role = role
        self.id = id
        self.units = units
    }

    public static func coordinating(id: String, target: String, units: [String], rolling: Bool, boards: [String], done: Int, total: Int) -> RestartStatus {
        var status = RestartStatus(role: "coordinating", id: id, units: units)
        status.target = target
        status.rolling = rolling
        status.boards = boards
        status.done = done
        status.total = total
        return status
    }

    public static func restarting(id: String, by: String, units: [String], handingOver: Bool) -> RestartStatus {
        var status = RestartStatus(role: "restarting", id: id, units: units)
        status.by = by
        status.step = handingOver ? "handing VIPs over" : "restarting units"
        return status
    }

    /// One line for `hcctl status`, after "RESTART  ".
    public var line: String {
        let units = units.joined(separator: ", ")
        if role == "coordinating" {
            let what = target.map { $0 == units ? units : "\($0) (\(units))" } ?? units
            let now = (boards ?? []).isEmpty ? "no board asked now" : "now on \((boards ?? []).joined(separator: ", "))"
            return "\(rolling == true ? "rolling restart" : "restart") of \(what) coordinated here: \(now), \(done ?? 0) of \(total ?? 0) done (restart \(id))"
        }
        return "\(units) asked by \(by ?? "?"): \(step ?? "restarting") (restart \(id))"
    }
}

extension RestartStatus: JSONRecord {
    public init() { self.init(role: "", id: "", units: []) }
    public mutating func fields<Visitor: JSONFieldVisitor>(_ visitor: inout Visitor) throws(Visitor.Failure) {
        try visitor.required("role", &role)
        try visitor.required("id", &id)
        try visitor.optional("target", &target)
        try visitor.required("units", &units)
        try visitor.optional("rolling", &rolling)
        try visitor.optional("boards", &boards)
        try visitor.optional("done", &done)
        try visitor.optional("total", &total)
        try visitor.optional("by", &by)
        try visitor.optional("step", &step)
    }
}
