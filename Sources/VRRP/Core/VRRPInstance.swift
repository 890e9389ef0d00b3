// One virtual router's state machine: RFC 5798 §6.4, plus make-before-break handover, quick preemption of a
// lower master and split-brain repair. Pure: the shell passes time in and carries the actions out.
import HomecloudSchema

public struct VRRPInstance: Sendable {
    public struct Settings: Sendable, Equatable {
        public var vrid: UInt8
        /// The virtual addresses this router holds as master.
        public var addresses: [IPAddress]
        public var advertInterval: Duration
        /// 1-254: hcagent never owns a VIP as a real address, so never 255.
        public var priority: Int
        public var preempt: Bool
        /// After start, a higher-priority board waits this long before taking the VIP from a lower master.
        public var preemptDelay: Duration
        /// This router's own address on the link (IPv6: its link-local one): the tie-breaker (§6.4.3).
        public var primaryAddress: IPAddress

        public init(vrid: UInt8, addresses: [IPAddress], advertInterval: Duration, priority: Int, preempt: Bool = true,
                    preemptDelay: Duration = .zero, primaryAddress: IPAddress) {
            self.vrid = vrid
            self.addresses = addresses
            self.advertInterval = advertInterval
            self.priority = priority
            self.preempt = preempt
            self.preemptDelay = preemptDelay
            self.primaryAddress = primaryAddress
        }

        var intervalCentiseconds: UInt16 {
            UInt16(clamping: max(1, min(4095, Int(advertInterval / .milliseconds(10)))))
        }
    }

    public enum State: String, Sendable, Equatable {
        case initialize = "init", backup, master, fault, stopped
    }

    public enum Action: Sendable, Equatable {
        /// Put the VIPs on the interface (before announcing them).
        case addAddresses
        case removeAddresses
        case sendAdvertisement(VRRPAdvertisement)
        /// Gratuitous ARP (IPv4) or unsolicited neighbour advertisement (IPv6) for every VIP.
        case announce
        case transition(from: State, to: State, reason: String)
    }

    public struct Transition: Sendable, Equatable {
        public var at: Duration
        public var from: State
        public var to: State
        public var reason: String
    }

    /// After taking over, announce again this many times, this far apart: a switch or client that missed the
    /// first gratuitous ARP still learns the new MAC within a couple of seconds.
    static let repeatAnnouncements = 2
    static let announcementSpacing = Duration.seconds(1)

    public private(set) var settings: Settings
    public private(set) var state: State = .initialize { didSet { if state != oldValue { shownRevision &+= 1 } } }
    /// The priority advertised now: the base priority adjusted by tracked probes.
    public private(set) var priority: Int { didSet { if priority != oldValue { shownRevision &+= 1 } } }
    /// The current master as this router knows it (itself when master); nil when unknown.
    public private(set) var masterAddress: IPAddress? { didSet { if masterAddress != oldValue { shownRevision &+= 1 } } }
    public private(set) var masterPriority: Int?
    public private(set) var lastTransition: Transition? { didSet { shownRevision &+= 1 } }
    /// Moves whenever what a status shows of this router (state, priority, master, last transition) changes, and
    /// only then: the shell compares this number after every advertisement instead of the values.
    public private(set) var shownRevision = 0

    private var masterAdverInterval: Duration
    private var adverTimer: Duration?
    private var masterDownTimer: Duration?
    /// Why the master-down timer, when it fires, makes this router master.
    private var takeoverReason = "no advertisement within the master down interval"
    private var announceTimer: Duration?
    private var announcementsLeft = 0
    private var startedAt: Duration = .zero
    /// Handing over: still master and still holding the VIPs, advertising priority 0 until another router
    /// advertises as master (make before break); given up at `yieldDeadline` if no one does.
    private var yielding = false
    private var yieldDeadline: Duration?
    /// A graceful stop: the handover ends in `stopped` instead of `backup`.
    private var stopping = false
    /// After a handover: do not preempt back until this router next becomes master by election, or a master
    /// advertises less than `deferredAt`.
    private var deferring = false
    /// The priority the VIP was taken from this router with. A master advertising less (the successor's probe
    /// fails, it steps down itself, a weaker board holds the VIP now) ends the deferral: this router preempts as
    /// usual again. Otherwise a deferral left from an old move (a group's VIP handed over to a board since gone)
    /// would keep this board from ever taking the VIP from a weaker one. A stronger master keeps it (the race
    /// after a priority 0 handover may settle on any board above).
    private var deferredAt: Int?
    /// The sender of the last advertisement heard while deferring, if it was below `deferredAt`: two in a row from
    /// one router end the deferral. One is not enough: in the race after a priority 0 handover a weaker board
    /// may be master for a moment and send one before it hears the stronger and steps down.
    private var weakerSender: IPAddress?

    public init(settings: Settings) {
        self.settings = settings
        priority = max(1, min(254, settings.priority))
        masterAdverInterval = settings.advertInterval
    }

    // MARK: timing (RFC 5798 §6.1)

    var skewTime: Duration { masterAdverInterval * (256 - priority) / 256 }
    var masterDownInterval: Duration { masterAdverInterval * 3 + skewTime }

    /// When the shell must call `onTimer` next; nil when nothing is pending.
    public var nextDeadline: Duration? {
        // Without an array: this runs after every advertisement.
        func earlier(_ a: Duration?, _ b: Duration?) -> Duration? {
            guard let a else { return b }
            guard let b else { return a }
            return min(a, b)
        }
        return earlier(earlier(adverTimer, masterDownTimer), earlier(announceTimer, yieldDeadline))
    }

    // MARK: events

    /// Startup (§6.4.1): a router that does not own the address starts as backup and waits a master down
    /// interval for a master to show itself.
    public mutating func start(linkUp: Bool, now: Duration) -> [Action] {
        startedAt = now
        guard linkUp else { return [move(to: .fault, "interface is down", now)] }
        return becomeBackup(reason: "started", now: now, removeAddresses: false)
    }

    /// Startup after an in-place restart (an upgrade re-executing the agent) whose previous process was this
    /// VIP's master a moment ago and left its address on the interface: master at once, advertising now, so no
    /// backup's master down timer fires. One announcement (the address never moved), no repeats.
    public mutating func resume(linkUp: Bool, now: Duration) -> [Action] {
        startedAt = now
        guard linkUp else { return [move(to: .fault, "interface is down", now)] }
        let actions = becomeMaster(reason: "resumed as master after an in-place restart", now: now)
        announcementsLeft = 0
        announceTimer = nil
        return actions
    }

    /// Just before the agent re-executes itself in place: a master advertises now, so its backups' master down
    /// timers start afresh while the new process starts. Nothing else changes; anything else sends nothing.
    public mutating func advertiseBeforeRestart(now: Duration) -> [Action] {
        guard state == .master, !yielding else { return [] }
        adverTimer = now + settings.advertInterval
        return [.sendAdvertisement(ownAdvertisement(priority: priority))]
    }

    public mutating func onTimer(now: Duration) -> [Action] {
        var actions: [Action] = []
        if let deadline = yieldDeadline, deadline <= now {
            // No one took over: keep the VIP (a stop gives it up: there is no one else to hold it anyway).
            yieldDeadline = nil
            yielding = false
            if stopping {
                actions += finishStop(now: now)
            } else {
                actions.append(.sendAdvertisement(ownAdvertisement(priority: priority)))
                adverTimer = now + settings.advertInterval
            }
        }
        if state == .backup, let deadline = masterDownTimer, deadline <= now {
            actions += becomeMaster(reason: takeoverReason, now: now)
        }
        if state == .master, let deadline = adverTimer, deadline <= now {
            actions.append(.sendAdvertisement(ownAdvertisement(priority: yielding ? 0 : priority)))
            adverTimer = now + settings.advertInterval
        }
        if state == .master, let deadline = announceTimer, deadline <= now {
            actions.append(.announce)
            announcementsLeft -= 1
            announceTimer = announcementsLeft > 0 ? now + Self.announcementSpacing : nil
        }
        return actions
    }

    /// An advertisement for this VRID that passed the receiver's checks (TTL 255, checksum).
    public mutating func onAdvertisement(_ advertisement: VRRPAdvertisement, from source: IPAddress, now: Duration) -> [Action] {
        guard advertisement.vrid == settings.vrid, source != settings.primaryAddress else { return [] }
        let theirs = Int(advertisement.priority)
        switch state {
        case .initialize, .fault, .stopped:
            return []
        case .backup:
            if deferring, theirs > 0 {
                if let promised = deferredAt {
                    if theirs >= promised {
                        weakerSender = nil
                    } else if weakerSender == source {
                        deferring = false
                        deferredAt = nil
                        weakerSender = nil
                    } else {
                        weakerSender = source
                    }
                } else {
                    deferredAt = theirs
                }
            }
            if theirs == 0 {
                // §6.4.2: the master is leaving; the router with the highest priority (shortest skew) goes first.
                masterAddress = nil
                masterPriority = nil
                masterDownTimer = now + skewTime
                takeoverReason = "master \(source) left (priority 0)"
            } else if !mayPreempt(now: now) || theirs >= priority {
                masterAddress = source
                masterPriority = theirs
                masterAdverInterval = advertisement.interval
                masterDownTimer = now + masterDownInterval
                takeoverReason = "no advertisement from \(source) within the master down interval"
            } else {
                // A lower-priority master: RFC 5798 lets its adverts time out (a master down interval); taking
                // over after the skew time is as safe (the highest backup still goes first) and 3 intervals faster.
                masterAddress = source
                masterPriority = theirs
                let preemptAt = now + skewTime
                if masterDownTimer.map({ preemptAt < $0 }) ?? true { masterDownTimer = preemptAt }
                takeoverReason = "preempting \(source), whose priority \(theirs) is lower than \(priority)"
            }
            return []
        case .master:
            if yielding {
                guard theirs > 0 else { return [] }
                // Another router has taken over and announced the VIP: only now let it go.
                yielding = false
                yieldDeadline = nil
                masterAdverInterval = advertisement.interval
                if stopping { return finishStop(now: now, from: source) }
                deferring = true
                deferredAt = theirs
                masterAddress = source
                masterPriority = theirs
                return becomeBackup(reason: "handed over to \(source)", now: now, removeAddresses: true)
            }
            if theirs == 0 {
                adverTimer = now + settings.advertInterval
                return [.sendAdvertisement(ownAdvertisement(priority: priority))]
            }
            if theirs > priority || (theirs == priority && Self.isHigher(source, than: settings.primaryAddress)) {
                // Stopping while stepping down to the best other board: it has taken over, the stop is done.
                if stopping {
                    masterAdverInterval = advertisement.interval
                    return finishStop(now: now, from: source)
                }
                masterAddress = source
                masterPriority = theirs
                masterAdverInterval = advertisement.interval
                if deferring { deferredAt = theirs }
                return becomeBackup(reason: "\(source) has priority \(theirs) against \(priority)", now: now, removeAddresses: true)
            }
            // Two masters (a healed partition, a lost advert): the rightful one re-announces at once so switches
            // and clients learn its MAC now, and the other steps down on this advert.
            adverTimer = now + settings.advertInterval
            return [.sendAdvertisement(ownAdvertisement(priority: priority)), .announce]
        }
    }

    /// Interface down: a router that cannot send cannot hold the VIP (FAULT). Up again: back to BACKUP.
    public mutating func onLink(up: Bool, now: Duration) -> [Action] {
        if !up {
            guard state != .fault, state != .stopped else { return [] }
            let wasMaster = state == .master
            clearTimers()
            yielding = false
            masterAddress = nil
            masterPriority = nil
            return (wasMaster ? [.removeAddresses] : []) + [move(to: .fault, "interface went down", now)]
        }
        guard state == .fault else { return [] }
        return becomeBackup(reason: "interface came up", now: now, removeAddresses: false)
    }

    /// Another tool removed a VIP from the interface (`ip addr del`, a network manager restarting). A master
    /// puts it back at once and announces it again: clients that lost it re-learn where it is. Handing over,
    /// it still holds the VIP until a successor announces it, so it puts it back too. Any other state holds no VIP.
    public mutating func onAddressesLost(now: Duration) -> [Action] {
        guard state == .master else { return [] }
        return [.addAddresses, .announce]
    }

    /// A new effective priority (tracked probes). The master advertises it at once: a backup with a higher
    /// priority then takes over after its skew time (hcagent) or master down interval (RFC 5798 routers),
    /// while this router keeps the VIP until it hears the new master.
    public mutating func setPriority(_ newPriority: Int, now: Duration) -> [Action] {
        let clamped = max(1, min(254, newPriority))
        guard clamped != priority else { return [] }
        priority = clamped
        switch state {
        case .master where !yielding:
            adverTimer = now + settings.advertInterval
            return [.sendAdvertisement(ownAdvertisement(priority: priority))]
        case .backup:
            if let theirs = masterPriority, theirs < priority, mayPreempt(now: now) {
                let preemptAt = now + skewTime
                if masterDownTimer.map({ preemptAt < $0 }) ?? true { masterDownTimer = preemptAt }
                takeoverReason = "priority rose to \(priority), above the master's \(theirs)"
            }
            return []
        default:
            return []
        }
    }

    /// A new document's `preempt` and `preempt_delay` for this VIP, taken in place (RFC 5798 §6.1 lets both
    /// change while the router runs): restarting the router would hand a master's VIP to a backup and take it back.
    /// A backup that may preempt now and outranks the master it hears takes over after its skew time; one that
    /// may no longer waits for the master's adverts to stop, as RFC 5798 says. A master changes nothing.
    public mutating func setPreempt(_ preempt: Bool, delay: Duration, now: Duration) -> [Action] {
        guard preempt != settings.preempt || delay != settings.preemptDelay else { return [] }
        settings.preempt = preempt
        settings.preemptDelay = delay
        guard state == .backup, let master = masterAddress, let theirs = masterPriority, theirs < priority else { return [] }
        if mayPreempt(now: now) {
            let preemptAt = now + skewTime
            if masterDownTimer.map({ preemptAt < $0 }) ?? true { masterDownTimer = preemptAt }
            takeoverReason = "preempt turned on: priority \(priority) is above the master's \(theirs)"
        } else {
            masterDownTimer = now + masterDownInterval
            takeoverReason = "no advertisement from \(master) within the master down interval"
        }
        return []
    }

    /// Planned handover: advertise priority 0 but keep the VIP until another router advertises as master,
    /// then step down and stay backup (no preempting back). Nothing happens unless this router is master.
    public mutating func handOver(now: Duration) -> [Action] {
        guard state == .master, !yielding else { return [] }
        yielding = true
        // Every RFC router takes over within its skew time after priority 0; wait a full interval more.
        yieldDeadline = now + masterDownInterval
        adverTimer = now + settings.advertInterval
        return [.sendAdvertisement(ownAdvertisement(priority: 0))]
    }

    /// Handover to one chosen board: that board raises its priority above this one's and takes over; this
    /// router keeps the VIP until it hears it (the usual higher-priority step-down) and then does not preempt
    /// back. Nothing happens unless this router is master.
    public mutating func deferToSuccessor() {
        guard state == .master else { return }
        deferring = true
    }

    /// The chosen successor never came: preempt again as usual.
    public mutating func stopDeferring() {
        deferring = false
        deferredAt = nil
        weakerSender = nil
    }

    /// Graceful stop: as a handover, ending in `stopped`. The shell waits for `state == .stopped` (within its
    /// budget), then calls `finishStop` in any case. `handOver` false (a master stepping down to the best other
    /// board, TargetedHandover.onStop): the master keeps advertising, at the priority the handover rule sets
    /// next, and stops when a higher router announces the VIP, or hands over at priority 0 when the rule says.
    public mutating func stop(now: Duration, handOver: Bool = true) -> [Action] {
        stopping = true
        guard state == .master else {
            clearTimers()
            return state == .stopped ? [] : [move(to: .stopped, "agent stopping", now)]
        }
        return handOver ? self.handOver(now: now) : []
    }

    /// Ends a stop at once: priority 0 if still master (backups take over after their skew time), VIPs removed.
    public mutating func finishStop(now: Duration, from successor: IPAddress? = nil) -> [Action] {
        guard state != .stopped else { return [] }
        var actions: [Action] = []
        if state == .master {
            if successor == nil { actions.append(.sendAdvertisement(ownAdvertisement(priority: 0))) }
            actions.append(.removeAddresses)
        }
        clearTimers()
        yielding = false
        stopping = true
        let reason = successor.map { "agent stopping; handed over to \($0)" } ?? "agent stopping"
        actions.append(move(to: .stopped, reason, now))
        return actions
    }

    // MARK: transitions

    private func mayPreempt(now: Duration) -> Bool {
        settings.preempt && !deferring && now >= startedAt + settings.preemptDelay
    }

    private mutating func becomeMaster(reason: String, now: Duration) -> [Action] {
        clearTimers()
        deferring = false
        deferredAt = nil
        weakerSender = nil
        masterAddress = settings.primaryAddress
        masterPriority = priority
        adverTimer = now + settings.advertInterval
        announcementsLeft = Self.repeatAnnouncements
        announceTimer = now + Self.announcementSpacing
        // Clients first: the old master lets go when it hears the advertisement, and by then they should know.
        return [.addAddresses, .announce, .sendAdvertisement(ownAdvertisement(priority: priority)), move(to: .master, reason, now)]
    }

    private mutating func becomeBackup(reason: String, now: Duration, removeAddresses: Bool) -> [Action] {
        clearTimers()
        if masterAddress == settings.primaryAddress {
            masterAddress = nil
            masterPriority = nil
        }
        masterDownTimer = now + masterDownInterval
        takeoverReason = masterAddress.map { "no advertisement from \($0) within the master down interval" }
            ?? "no advertisement within the master down interval"
        return (removeAddresses ? [.removeAddresses] : []) + [move(to: .backup, reason, now)]
    }

    private mutating func move(to next: State, _ reason: String, _ now: Duration) -> Action {
        let action = Action.transition(from: state, to: next, reason: reason)
        lastTransition = Transition(at: now, from: state, to: next, reason: reason)
        state = next
        return action
    }

    private mutating func clearTimers() {
        adverTimer = nil
        masterDownTimer = nil
        announceTimer = nil
        yieldDeadline = nil
        announcementsLeft = 0
    }

    /// §6.4.3: between equal priorities, the higher primary address wins (compared as unsigned numbers).
    static func isHigher(_ address: IPAddress, than other: IPAddress) -> Bool {
        other.bytes.lexicographicallyPrecedes(address.bytes)
    }

    private func ownAdvertisement(priority: Int) -> VRRPAdvertisement {
        VRRPAdvertisement(vrid: settings.vrid, priority: UInt8(priority), intervalCentiseconds: settings.intervalCentiseconds,
                          addresses: settings.addresses)
    }
}
