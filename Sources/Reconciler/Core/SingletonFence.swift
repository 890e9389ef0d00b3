// The fence of a `placement: one` unit: a dead man's switch kept by the board's own systemd, so that a copy
// whose agent died or froze stops before another board starts the unit.
//
// Why a timer in systemd (checked on systemd 252): the agent cannot stop its copy once it is killed or frozen,
// and `BindsTo=hcagent.service` binds the unit to the agent only where the agent is a unit of that systemd (not
// in the chaos lab, where agents reach the boards' systemd over its bus from outside). So while this board runs
// a `one` unit, the agent keeps a transient timer armed over the same bus (OnActiveSec = `lease`) whose
// transient oneshot service has `Conflicts=` the unit: if the timer elapses, systemd itself stops the unit.
// RestartUnit on the timer re-arms it (OnActiveSec counts from the restart); once it has elapsed systemd
// unloads both units (RemainAfterElapse=no) and the next arm creates them again.
//
// The rule, as the planner applies it (ReconcileCore):
// - Armed before the unit starts, re-armed while it runs here and this board holds the placement, removed once
//   it no longer runs here. A `one` unit is never started while its fence is not armed.
// - The fence is (re-)armed only when this board's majority would still hold `lease + margin` from now if no
//   news came (SingletonPlacement.majorityLapse). So wherever the agent stops (killed, frozen, starved), the
//   copy stops no later than the live agent would have stopped it for a lapsed majority, which the placement
//   rule already keeps before any other board's takeover (lease < takeoverDelay); and a board killed or frozen
//   with its majority intact loses its copy within `lease`, while the others first need to declare it dead and
//   then wait the takeover delay (lease = half the placement lease, so the takeover delay is longer by more
//   than half the placement lease plus 2 s).
// - A fence that lapsed (the agent was frozen or starved past it) means this board lost the unit: it stops it
//   (systemd has already) and, if it is still the runner, waits the takeover delay again like a newcomer, so a
//   frozen agent that resumes does not start its copy again beside the one that took over meanwhile.
// - A fence that cannot be armed (a bus error) is a degraded reason, and the unit is not run here (fail safe).
import HomecloudSchema

public struct FenceTiming: Sendable, Equatable {
    /// The timer's OnActiveSec.
    public var lease: Duration
    /// Re-armed once less than this remains.
    public var rearmWithin: Duration
    /// The majority must hold at least `lease + margin` ahead (covers the call's latency and the timer's accuracy).
    public var margin: Duration
    /// The timer's AccuracySec: systemd's default (1 min) would let the fence fire far too late.
    public var accuracy: Duration

    public init(lease: Duration, rearmWithin: Duration, margin: Duration, accuracy: Duration) {
        self.lease = lease
        self.rearmWithin = rearmWithin
        self.margin = margin
        self.accuracy = accuracy
    }

    /// Half the placement lease (5 s at 5 boards, 3 s at 3), re-armed every half of that.
    public static func forSingleton(_ timing: SingletonTiming) -> FenceTiming {
        let lease = timing.lease / 2
        return FenceTiming(lease: lease, rearmWithin: lease / 2, margin: .milliseconds(500), accuracy: .milliseconds(100))
    }
}

public enum SingletonFence {
    /// Whether the fence may be (re-)armed at `now`: it would elapse before this board's majority could lapse.
    public static func mayArm(majorityLapse: Duration?, now: Duration, timing: FenceTiming) -> Bool {
        guard let majorityLapse else { return true }
        return majorityLapse >= now + timing.lease + timing.margin
    }

    /// Whether a re-arm is due: never armed (as far as this agent knows), or less than `rearmWithin` left.
    public static func rearmDue(armedUntil: Duration?, now: Duration, timing: FenceTiming) -> Bool {
        guard let armedUntil else { return true }
        return armedUntil - now <= timing.rearmWithin
    }

    /// The timer's name for a unit (the service it triggers has the same stem): a hash, so any unit name fits
    /// and the name says nothing systemd would read as a template instance.
    public static func timerName(for unit: String) -> String { "\(stem(unit)).timer" }
    public static func serviceName(for unit: String) -> String { "\(stem(unit)).service" }

    private static func stem(_ unit: String) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in unit.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        let hex = String(hash, radix: 16)
        return "hcagent-fence-" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}

extension SingletonPlacement {
    /// When this board's majority of the role lapses if no news comes: the time the last of the fewest others it
    /// needs stops counting. nil for a role this board holds alone (it never lapses); `now` when it has none.
    public static func majorityLapse(roleNodes: [String], node: String, view: MemberView, lease: Duration,
                                     now: Duration) -> Duration? {
        let needed = roleNodes.count / 2  // others besides this board: count * 2 > nodes
        guard needed > 0 else { return nil }
        let expiries = roleNodes.filter { $0 != node && counts($0, node: node, view: view, lease: lease, now: now) }
            .compactMap { view.lastHeard[$0].map { $0 + lease } }.sorted(by: >)
        return expiries.count >= needed ? expiries[needed - 1] : now
    }
}
