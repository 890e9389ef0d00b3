// What `hcctl status` shows of the per-board facts: one row per fact and board of its role, with the value known
// (facts are public), since when this board knows it, and this board's own file's problem. Pure.
import HomecloudSchema

extension NodeFactBook {
    /// `learnedAt`: node → fact → when this board learned the value it holds (unix seconds; absent: kept from the
    /// last run). `ownProblems`: fact → why this board cannot read its own file now. `wallSeconds`: now, for the
    /// ages (nil: none, the reader adds them).
    public func statuses(learnedAt: [String: [String: Int]], ownProblems: [String: String], wallSeconds: Int?) -> [FactStatus] {
        var rows: [FactStatus] = []
        for spec in specs {
            let boards = (documentRoles ?? [:]).filter { $0.value.contains(spec.role) }.keys.sorted()
            for board in boards {
                var row = FactStatus(name: spec.name, node: board, state: "waiting")
                if let value = known[board]?[spec.name] {
                    row.state = "known"
                    row.value = value
                    if let since = learnedAt[board]?[spec.name] {
                        row.since = since
                        row.age = wallSeconds.map { max(0, $0 - since) }
                    } else {
                        row.reason = "kept from the last run"
                    }
                } else {
                    row.reason = board == node ? "not read yet" : "not published by \(board) yet"
                }
                if board == node, let problem = ownProblems[spec.name] {
                    row.reason = row.value == nil ? problem : "\(problem); publishing its last value"
                }
                rows.append(row)
            }
        }
        return rows
    }
}
