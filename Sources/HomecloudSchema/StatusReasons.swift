// Every `unknown` and every empty WHY in a status gets its reason before the report leaves the agent: a unit
// systemd was not asked about, a VIP VRRP has not started. (A probe not run yet: hcctl says so, its `last` stays null.)

extension StatusReport {
    /// Fills the reasons the parts left empty, from the agent's problems list where a part is off.
    public mutating func explainUnknowns() {
        let problems = self.problems
        let problem = { (part: String) in problems.first(where: { $0.part == part })?.reason }
        for index in units.indices where units[index].reason?.isEmpty ?? true {
            let unit = units[index]
            if unit.active == "unknown" {
                units[index].reason = problem("reconciler") != nil
                    ? "reconciler off (see DEGRADED): systemd is not asked" : "not read from systemd yet"
            } else if unit.state == nil {
                units[index].reason = problem("reconciler") != nil ? "reconciler off (see DEGRADED)" : "reconciler not started yet"
            }
        }
        for index in vips.indices where vips[index].reason?.isEmpty ?? true {
            let vip = vips[index]
            if let why = problem("vip:\(vip.name)") ?? problem("vrrp") {
                vips[index].reason = why
            } else if vip.state == "init" {
                vips[index].reason = "VRRP has not started it yet"
            } else if vip.state == "backup" && vip.holder == nil {
                vips[index].reason = "no master heard yet"
            }
        }
    }
}
