// What the drain simulations' LANs (DrainSingleMoveTests, DrainHandoverTests) share: each router's own
// TargetedHandover, stepped and carried out on that router as VRRPDriver does.
@testable import VRRPCore

protocol HandoverRulesLAN {
    var routers: [VRRPInstance] { get set }
    var rules: [TargetedHandover] { get set }
    /// Each router's priority when no handover concerns it.
    var base: [Int] { get }
    var now: Duration { get }
    mutating func deliver(_ actions: [VRRPInstance.Action], from i: Int)
}

extension HandoverRulesLAN {
    mutating func step(_ i: Int) {
        let facts = ["front": TargetedHandover.Router(state: routers[i].state, basePriority: base[i])]
        for action in rules[i].onStep(routers: facts, now: now) { carryOut(action, on: i) }
    }

    mutating func carryOut(_ action: TargetedHandover.Action, on i: Int) {
        switch action {
        case .handOver: deliver(routers[i].handOver(now: now), from: i)
        case .setPriority(_, let priority): deliver(routers[i].setPriority(priority, now: now), from: i)
        case .resumePreempting: routers[i].stopDeferring()
        default: break
        }
    }
}
