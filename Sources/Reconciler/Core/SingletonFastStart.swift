// The fast start of a `placement: one` unit: the board that the placement rule picks among all of the role's nodes
// starts it at once, without the takeover delay, when it has fresh, positive evidence that no other board runs it
// or is about to.
//
// Why the takeover delay exists (SingletonPlacement.swift): a board that has just become the runner cannot tell
// whether the board that ran the unit until now (frozen, cut off, stale news) has stopped it yet, so it waits
// longer than that board can take to stop. After a power cut nobody runs it, yet every board waited the full
// delay (14.6 s median at 5 boards, issue 16). The evidence that replaces the wait:
//
// 1. Claims. Every board says in its gossip metadata ("oc", SingletonClaims) which of its `one` units are not
//    quiet there: up or not known down, a job under way, or the board the runner in its own view (waiting out
//    its takeover delay, or running it). It says so in the same step in which it becomes the runner, before any
//    step is carried out; a board that has not read its units yet, an older agent, or a metadata cut to fit
//    says nothing, which counts as "may run it".
// 2. Freshness. A board's copy of another's metadata is proven current when that board's ack to its probe
//    carries the incarnation it holds, or that board's own push-pull does (gossip's SWIMCore.confirmed; every
//    metadata change takes a new incarnation). The proof must be younger than `freshness` (half the lease).
// 3. Who. Only the home node may start fast: the node the rendezvous hash picks among *all* the role's nodes.
//    It may do so only while it sees every other node of the role alive (not suspect), heard from within the
//    lease, not drained, itself not drained, each with a fresh proof that its claims, under this board's
//    document generation, leave the unit out. Any other runner (the home node dead, drained, or cut off) takes
//    the slow path, as before.
//
// Why that is safe: a board B other than the home node H starts the unit only after being the runner, without a
// break, for the takeover delay, and it claims the unit from the start of that. If H's proof of B's quiet claims
// is at most `freshness` old when H starts, B was neither running nor waiting when it sent it, so B cannot start
// the unit before H's start + (takeoverDelay - freshness) (7 s at 5 boards, less the time B's claim takes to reach
// its metadata, milliseconds). Within that time B must see H alive again, or it runs the unit beside H; but that
// is the slow path's own hazard (H, seeing itself the runner, would start after its delay all the same), not a
// new one. Two boards can never both start fast: only H does, and H's choice is the same in every view.
// The cases, and why each holds:
// - Power cut (every board's systemd rebooted): no board runs it. Boards that started earlier may wait for the
//   takeover (their view lacks H) and claim it; once they see H alive they are no longer the runner, drop the
//   claim, and H, with fresh proof from each, starts (issue 16's case, made fast).
// - A frozen agent (SIGSTOP) whose last metadata said quiet: it cannot ack, so its proof ages out within
//   `freshness`; H starts only while it is fresh, and a frozen board that was waiting to take over had claimed
//   the unit before it froze (claims go out before any step). A frozen runner claims the unit (it runs it).
// - A partition heal where each side chose a holder: at most one side held the majority and ran it; that
//   holder claims it until it has stopped it. Stale pre-split metadata is not current: the holder's ack says a
//   newer incarnation than the copy H holds, which proves nothing until H has the new metadata (and its claim).
// - An agent killed while its systemd runs the unit: it claimed the unit while running, and acks nothing while
//   down; its next agent says nothing until it has read its units, then claims the unit while it is up (until
//   the fence stops it).
// - Views that differ: a board that does not see H alive is the runner in its own view and claims the unit, so H
//   does not start fast; H starts fast only from proof sent after each board had dropped its claim.
// - Documents that differ: claims name the generation; a board on another one blocks the fast start.
// Not covered (the slow path's hazards too): a board that keeps seeing H dead for a whole takeover delay while H
// hears it (a one-way partition).
import HomecloudSchema

public enum SingletonFastStart {
    /// How old the proof that a board's claims are current may be: half the placement lease (5 s at 5 boards; a
    /// board is probed once per round of N - 1 probe intervals, 4 s there), so B's earliest start is a takeover
    /// delay less this after the proof.
    public static func freshness(_ timing: SingletonTiming) -> Duration { timing.lease / 2 }

    /// Whether `node` may start `unit` now without waiting out the takeover delay (see the file's comment).
    public static func mayStartAtOnce(unit: String, roleNodes: [String], node: String, generation: UInt64, view: MemberView,
                                      timing: SingletonTiming, now: Duration) -> Bool {
        guard roleNodes.count > 1, roleNodes.contains(node), !view.drained.contains(node),
              UnitPlacement.chosenNode(for: unit, among: roleNodes) == node else { return false }
        let freshness = freshness(timing)
        return roleNodes.allSatisfy { other in
            if other == node { return true }
            guard view.states[other] == .alive,
                  SingletonPlacement.counts(other, node: node, view: view, lease: timing.lease, now: now),
                  !view.drained.contains(other),
                  let confirmed = view.confirmed[other], confirmed <= now, now - confirmed <= freshness,
                  let claims = view.singletonClaims[other], claims.generation == generation else { return false }
            return !claims.units.contains(unit)
        }
    }
}
