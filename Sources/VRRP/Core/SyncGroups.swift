// VIP groups (`group:` on a VIP, keepalived's vrrp_sync_group): the rule that keeps a group's VIPs on one board.
// Pure: the shell tells it of each router's transition and hands over what it says.
import HomecloudSchema

/// Two rules. First, every VIP of a group advertises the group's priority on this board: the lowest of its VIPs'
/// (each the document's, moved by its failing tracked probes), so the elections of the group's VIPs agree on which
/// board is best, and a probe failing for one VIP lowers the whole group (keepalived moves a sync group when one
/// of its instances drops). Without it, a board that wants VIP a most and another that wants b most would split
/// the group and neither would ever let go. Ties between boards go to the higher primary address (RFC 5798), the
/// same board for every VIP of the group on one interface; a group across interfaces should not tie.
///
/// Second, keepalived's semantics: when a VIP of a group stops being master on this board (it heard a
/// better master, its interface went down, it was handed over), every other VIP of the group still master here
/// hands over too, make before break (priority 0, addresses kept until a successor announces them), and then does
/// not preempt back (VRRPInstance's handover). The board that took the first VIP takes the others: it is the one
/// whose routers win, and the others' priority 0 makes its backups take over within their skew time.
///
/// Becoming master needs no rule: a group moves to a board only when its old holder lets go, and that holder runs
/// this same rule (an hcagent board, or keepalived with the same vrrp_sync_group). Preemption follows from it: a
/// board that preempts one VIP of the group gets the rest handed over, and the old holder's handed-over VIPs do
/// not preempt back, so a group whose VIPs disagree on priorities settles on one board instead of flapping.
public struct SyncGroups: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        /// Hand this VIP over (VRRPInstance.handOver): its group left this board.
        case handOver(vip: String, because: String)
    }

    /// Group name → its VIPs' names, sorted; groups of one VIP are left out (nothing to keep together).
    public private(set) var members: [String: [String]] = [:]
    /// VIP name → its group's name.
    private var groupOf: [String: String] = [:]

    public init() {}

    /// The groups as the document gives them: VIP name and its `group:` (nil: on its own).
    public init(_ vips: [(name: String, group: String?)]) {
        var byGroup: [String: [String]] = [:]
        for vip in vips {
            guard let group = vip.group else { continue }
            byGroup[group, default: []].append(vip.name)
        }
        for (group, names) in byGroup where names.count > 1 {
            members[group] = names.sorted()
            for name in names { groupOf[name] = group }
        }
    }

    public init(document vips: [VirtualIP]) {
        self.init(vips.map { (name: $0.name, group: $0.group) })
    }

    /// The group a VIP belongs to, if it shares it with another VIP.
    public func group(of vip: String) -> String? { groupOf[vip] }

    /// The other VIPs of `vip`'s group (empty when it has none).
    public func companions(of vip: String) -> [String] {
        guard let group = groupOf[vip] else { return [] }
        return members[group, default: []].filter { $0 != vip }
    }

    /// The priority each VIP advertises, from each one's own (`own`: VIP name → its priority on this board, for
    /// the VIPs that run here): a grouped VIP the lowest of its group's here, any other its own.
    public func priorities(_ own: [String: Int]) -> [String: Int] {
        var result = own
        for (vip, priority) in own {
            guard groupOf[vip] != nil else { continue }
            result[vip] = companions(of: vip).compactMap { own[$0] }.reduce(priority, min)
        }
        return result
    }

    /// One router of this board changed state. `states` are this board's routers' states now (after the change).
    /// Leaving master for backup or fault moves the group; a stop does not (the agent stopping hands every VIP
    /// over anyway, and a VIP removed from the document takes no one with it).
    public func onTransition(vip: String, from: VRRPInstance.State, to: VRRPInstance.State,
                             states: [String: VRRPInstance.State]) -> [Action] {
        guard from == .master, to == .backup || to == .fault, let group = groupOf[vip] else { return [] }
        return companions(of: vip).filter { states[$0] == .master }.map {
            .handOver(vip: $0, because: "group \(group): \(vip) went \(to.rawValue) here")
        }
    }
}
