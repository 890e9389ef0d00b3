// The SWIM membership protocol with Lifeguard's refinements, as a pure state machine: time and datagrams go
// in, datagrams to send and membership changes come out. The shell owns sockets, clocks and sealing.
import HomecloudSchema

/// What the shell should do after feeding the core an event.
public enum GossipAction: Sendable, Equatable {
    /// Send one datagram (at most `GossipSettings.maxDatagramBytes`, before sealing).
    case send([UInt8], to: GossipAddress)
    /// Exchange states with that address over TCP: send `pushPullState()`, hand the answer to `onPushPull`.
    /// (A peer that starts an exchange gets `pushPullState()` back, and its own state goes to `onPushPull`.)
    case pushPull(to: GossipAddress)
    /// A member appeared, changed state, address or metadata (the local node included, when it leaves).
    case memberChanged(GossipMember)
}

public struct GossipMetadataTooLarge: Error, Sendable, Equatable {
    public var bytes: Int
}

/// One node's view of the cluster. Probing is round-robin over a shuffled list of members, reshuffled every
/// pass, so each member is probed within two passes at worst; a member whose ping goes unanswered is pinged
/// indirectly through `indirectProbes` others, then suspected; a suspicion becomes a death after Lifeguard's
/// timeout unless the member refutes it with a higher incarnation. Updates spread by piggybacking on every
/// datagram and by a small gossip fan-out; push-pull repairs the rest.
///
/// Beyond memberlist, for detection within about 2 s at memberlist's probe rate: whoever hears of a new
/// suspicion probes the suspect at once (its own failed probe is an independent confirmation, which
/// shortens everyone's suspicion timer to the minimum within a few hundred milliseconds); a probe ends when
/// its helpers' time is up, not at the end of the interval; and news (a suspicion, a death, a refutation)
/// is gossiped the moment it is learned rather than at the next gossip round.
///
/// Also beyond memberlist, added when the simulation showed boards at 20 % loss declared dead: a refutation
/// also rides on the refuter's acks for a while (helpers forward it with the ack), so whoever still suspects
/// it learns of it by probing it; a stale accusation makes the accused gossip its alive message again; and a
/// node's suspicion timeouts stretch with its own local health. And, when joins were missed and partitions
/// did not heal: a ping from an unknown member starts a push-pull with it, and dead members get occasional
/// push-pulls, so both converge without waiting for the periodic exchange.
public struct SWIMCore: Sendable {
    struct Record: Sendable {
        var member: GossipMember
        var suspicion: Suspicion?
    }

    /// The probe in progress: a direct ping, then, past `directDeadline`, indirect requests, until `end`
    /// (probeTimeout + indirectProbeTimeout after the start, or the interval if that is shorter).
    struct Probe: Sendable {
        var seq: UInt32
        var target: String
        var directDeadline: Duration
        var end: Duration
        var indirectSent = false
        var expectedNacks = 0
        var nacks = 0
    }

    /// An indirect ping this node makes for someone else: the target's ack is forwarded under their seq.
    struct Relay: Sendable {
        var seq: UInt32
        var requesterSeq: UInt32
        var requester: GossipAddress
        var target: String
        var nackAt: Duration
        var expiresAt: Duration
        var nackSent = false
    }

    static let maxRelays = 128

    public let settings: GossipSettings
    public let name: String
    public let address: GossipAddress
    public internal(set) var incarnation: UInt64
    public internal(set) var metadata: [UInt8]
    /// Datagrams refused as malformed (truncated, garbage, another version).
    public internal(set) var droppedPackets = 0
    public internal(set) var localHealth: LocalHealth
    public internal(set) var isLeaving = false

    var records: [String: Record] = [:]
    /// The names of `records` in a stable order: dictionaries iterate in a per-process order, and a seed must
    /// replay identically.
    var roster: [String] = []
    var rosterIndex: [String: Int] = [:]
    var activeOthers = 0
    var suspects: [String] = []
    var departed: [String] = []
    var broadcasts: BroadcastQueue
    var random: SplitMix64
    var selfSince: Duration = .zero
    var refutedAt: Duration?

    var probeOrder: [String] = []
    var probeCursor = 0
    var probe: Probe?
    /// Members others suspect that this node has not probed since: probed next, at once, out of turn.
    var suspectsToConfirm: [String] = []
    /// When this node last probed each member: a suspect not probed for an interval takes every other slot.
    var lastProbedAt: [String: Duration] = [:]
    var lastProbeWasRecheck = false
    static let maxSuspectsToConfirm = 8
    /// `broadcasts.enqueuedTotal` when news was last sent off: more means news to gossip at once.
    var newsSent: UInt64 = 0
    var relays: [Relay] = []
    var nextSeq: UInt32 = 0
    /// When this node last heard from each member itself: its ping, its ack to our probe (direct or forwarded
    /// by a helper), its indirect-ping request, its push-pull state. Relayed news does not count. `placement:
    /// one` takes it as a lease (Reconciler's SingletonPlacement): across a partition a member is still
    /// "alive" here for as long as SWIM takes to suspect it, which Lifeguard stretches on the cut-off side.
    public internal(set) var lastHeard: [String: Duration] = [:]
    /// When this node last had proof that its copy of a member's metadata was the member's latest: the member's
    /// ack to our probe said the incarnation we hold (AckPayload), or the member's own push-pull state did. So the
    /// member's metadata here says what the member said no earlier than this. The fast start of `placement: one`
    /// (Reconciler's SingletonFastStart) takes a member's "I do not run it" only when this is recent.
    public internal(set) var confirmed: [String: Duration] = [:]
    /// nil until the first tick, which staggers them so that boards started together do not probe in step.
    var nextProbeAt: Duration?
    var nextGossipAt: Duration?
    var nextPushPullAt: Duration?
    var nextReconnectAt: Duration?
    var lastStrangerPushPull: Duration?

    /// `name` is 1 to 255 bytes of UTF-8 (agent.yaml allows no more). `incarnation` should not go backwards
    /// across restarts; if it does, the node learns its old incarnation from its peers and refutes past it.
    public init(settings: GossipSettings = GossipSettings(), name: String, address: GossipAddress, incarnation: UInt64 = 0,
                metadata: [UInt8] = [], random: SplitMix64) {
        precondition(!name.isEmpty && name.utf8.count <= GossipMember.maxNameBytes, "a node name is 1 to 255 bytes")
        self.settings = settings
        self.name = name
        self.address = address
        self.incarnation = incarnation
        self.metadata = Array(metadata.prefix(GossipMember.maxMetadataBytes))
        self.random = random
        localHealth = LocalHealth(maxMultiplier: settings.maxLocalHealthMultiplier)
        broadcasts = BroadcastQueue(retransmitMult: settings.retransmitMult)
        broadcasts.enqueue(aliveMessage)
    }

    // MARK: Views

    /// This node as it describes itself.
    public var myself: GossipMember {
        GossipMember(name: name, address: address, incarnation: incarnation, state: isLeaving ? .left : .alive,
                     metadata: metadata, since: selfSince)
    }

    /// Every known member, this node included, by name.
    public var members: [GossipMember] {
        ([myself] + roster.compactMap { records[$0]?.member }).sorted { $0.name < $1.name }
    }

    public func member(named memberName: String) -> GossipMember? {
        memberName == name ? myself : records[memberName]?.member
    }

    /// Alive and suspect members, this node included: N in every formula.
    public var activeMemberCount: Int { activeOthers + 1 }

    /// Updates still waiting to be gossiped; after `leave`, keep ticking until this is 0 (or about a second).
    public var pendingBroadcasts: Int { broadcasts.count }

    /// The state to send in a push-pull exchange (and to answer one with).
    public func pushPullState() -> GossipPushPullState {
        let own = GossipPushPullState.Entry(name: name, address: address, incarnation: incarnation,
                                            state: isLeaving ? .left : .alive, metadata: metadata)
        let others = roster.compactMap { records[$0] }.map {
            GossipPushPullState.Entry(name: $0.member.name, address: $0.member.address, incarnation: $0.member.incarnation,
                                      state: $0.member.state, metadata: $0.member.metadata)
        }
        return GossipPushPullState(from: name, members: [own] + others)
    }

    // MARK: Events

    /// Starts joining: one push-pull with each seed. The seeds learn of this node from its state, this node
    /// of the cluster from theirs; gossip does the rest.
    public mutating func join(seeds: [GossipAddress], now: Duration) -> [GossipAction] {
        seeds.filter { $0 != address }.map { .pushPull(to: $0) }
    }

    /// Leaves gracefully: a `left` update at a new incarnation, sent at once to a few members and then
    /// gossiped. Probing stops; pings are still answered so nobody suspects the node while the news spreads.
    public mutating func leave(now: Duration) -> [GossipAction] {
        guard !isLeaving else { return [] }
        isLeaving = true
        incarnation = nextIncarnation
        selfSince = now
        probe = nil
        broadcasts.enqueue(.left(incarnation: incarnation, name: name))
        var actions: [GossipAction] = [.memberChanged(myself)]
        gossip(to: randomMembers(settings.gossipFanout, excluding: nil) { $0.isActive }, &actions)
        newsSent = broadcasts.enqueuedTotal
        return actions
    }

    /// Replaces this node's metadata (at most 512 bytes) and gossips it under a new incarnation.
    public mutating func setMetadata(_ newMetadata: [UInt8], now: Duration) throws(GossipMetadataTooLarge) -> [GossipAction] {
        guard newMetadata.count <= GossipMember.maxMetadataBytes else { throw GossipMetadataTooLarge(bytes: newMetadata.count) }
        guard newMetadata != metadata, !isLeaving else { return [] }
        metadata = newMetadata
        incarnation = nextIncarnation
        selfSince = now
        broadcasts.enqueue(aliveMessage)
        gossipNewsAtOnce(now: now)
        return [.memberChanged(myself)]
    }

    /// When `onTick` next has something to do: the shell sleeps until then (or until a datagram comes).
    /// nil only before the first tick, which is due at once.
    public var nextDeadline: Duration? {
        guard let nextProbeAt, let nextGossipAt, let nextPushPullAt, let nextReconnectAt else { return nil }
        var deadlines = [nextPushPullAt, nextReconnectAt]
        // A gossip round with nothing queued, or no one to send it to (a board alone), does nothing: no need to
        // wake for it. A lone board's news waits in the queue for the first member.
        if !broadcasts.isEmpty, hasGossipTargets { deadlines.append(nextGossipAt) }
        if let probe {
            deadlines.append(probe.indirectSent ? probe.end : probe.directDeadline)
        } else {
            deadlines.append(nextProbeAt)
        }
        for suspectName in suspects {
            if let deadline = records[suspectName]?.suspicion?.deadline { deadlines.append(deadline) }
        }
        for relay in relays { deadlines.append(relay.nackSent ? relay.expiresAt : min(relay.nackAt, relay.expiresAt)) }
        for departedName in departed {
            if let since = records[departedName]?.member.since { deadlines.append(since + settings.departedRetention) }
        }
        return deadlines.min()
    }

    /// Advances timers: probes, suspicions, nacks owed, gossip, push-pull, forgetting the departed. Call it at
    /// `nextDeadline` (calling it sooner is harmless: between deadlines it does nothing).
    public mutating func onTick(now: Duration) -> [GossipAction] {
        var actions: [GossipAction] = []
        if nextProbeAt == nil {
            nextProbeAt = now + jitter(settings.probeInterval)
            nextGossipAt = now + jitter(settings.gossipInterval)
            nextPushPullAt = now + settings.pushPullInterval / 2 + jitter(settings.pushPullInterval / 2)
            nextReconnectAt = now + jitter(settings.reconnectInterval)
        }
        expireSuspicions(now: now, &actions)
        advanceProbe(now: now, &actions)
        if !isLeaving, let due = nextProbeAt, due <= now, probe == nil { startProbe(now: now, &actions) }
        sendOwedNacks(now: now, &actions)
        gossipNewsAtOnce(now: now)
        if let due = nextGossipAt, due <= now {
            nextGossipAt = now + settings.gossipInterval
            if !broadcasts.isEmpty {
                gossip(to: randomMembers(settings.gossipFanout, excluding: nil, where: Self.isGossipTarget), &actions)
            }
        }
        if let due = nextPushPullAt, due <= now {
            nextPushPullAt = now + settings.pushPullInterval
            if !isLeaving, let peer = randomMembers(1, excluding: nil, where: { $0.state == .alive }).first {
                actions.append(.pushPull(to: peer.address))
            }
        }
        if let due = nextReconnectAt, due <= now {
            nextReconnectAt = now + settings.reconnectInterval
            reconnect(&actions)
        }
        forgetDeparted(now: now)
        return actions
    }

    /// Handles one datagram. A malformed one is counted in `droppedPackets` and changes nothing.
    public mutating func onDatagram(_ bytes: [UInt8], from sender: GossipAddress, now: Duration) -> [GossipAction] {
        let messages: [GossipMessage]
        do {
            messages = try GossipCodec.decodePacket(bytes)
        } catch {
            droppedPackets += 1
            return []
        }
        var actions: [GossipAction] = []
        for message in messages {
            switch message {
            case let .ping(seq, target, source, sourceAddress):
                // A ping for another name reached a board that took over the address: stay silent so the
                // prober learns the member it wanted is gone.
                guard target == name else { continue }
                if records[source] != nil { lastHeard[source] = now }
                meetStranger(source, at: sourceAddress, now: now, &actions)
                let refutation: [GossipMessage] = refutationStillFresh(now: now) ? [aliveMessage] : []
                send([.ack(seq: seq, payload: AckPayload.encode(incarnation: incarnation))] + refutation, to: sender, &actions)
            case let .indirectPingRequest(seq, target, targetAddress, requester, _):
                if records[requester] != nil { lastHeard[requester] = now }
                // Each lives one probe interval; more than this at once is a storm, not probing.
                guard relays.count < Self.maxRelays else { continue }
                let relaySeq = takeSeq()
                relays.append(Relay(seq: relaySeq, requesterSeq: seq, requester: sender, target: target, nackAt: now + settings.nackTimeout,
                                    expiresAt: now + settings.indirectProbeTimeout))
                send([.ping(seq: relaySeq, target: target, source: name, sourceAddress: address)], to: targetAddress, &actions)
            case let .ack(seq, payload):
                onAck(seq: seq, payload: payload, in: messages, now: now, &actions)
            case let .nack(seq):
                if probe?.seq == seq { probe?.nacks += 1 }
            case let .alive(incarnation, memberName, memberAddress, memberMetadata):
                applyAlive(incarnation: incarnation, name: memberName, address: memberAddress, metadata: memberMetadata,
                           now: now, &actions)
            case let .suspect(incarnation, memberName, from):
                applySuspect(incarnation: incarnation, name: memberName, from: from, now: now, &actions)
            case let .dead(incarnation, memberName, from):
                applyDead(incarnation: incarnation, name: memberName, from: from, now: now, &actions)
            case let .left(incarnation, memberName):
                applyLeft(incarnation: incarnation, name: memberName, now: now, &actions)
            }
        }
        gossipNewsAtOnce(now: now)
        return actions
    }

    /// Merges a peer's state from a push-pull exchange. A peer's "dead" only makes a member suspect here:
    /// the member gets its chance to refute, as with any single accuser.
    public mutating func onPushPull(_ state: GossipPushPullState, now: Duration) -> [GossipAction] {
        var actions: [GossipAction] = []
        defer {
            if records[state.from] != nil { lastHeard[state.from] = now }
            // The sender's own entry is its state now: our copy is current if we hold that incarnation alive.
            if let own = state.members.first(where: { $0.name == state.from }) { confirm(state.from, incarnation: own.incarnation, now: now) }
        }
        for entry in state.members {
            switch entry.state {
            case .alive:
                applyAlive(incarnation: entry.incarnation, name: entry.name, address: entry.address,
                           metadata: Array(entry.metadata.prefix(GossipMember.maxMetadataBytes)), now: now, &actions)
            case .suspect, .dead:
                // A suspect or dead member we never knew alive is of no use to us.
                if entry.name != name && records[entry.name] == nil { continue }
                applySuspect(incarnation: entry.incarnation, name: entry.name, from: state.from, now: now, &actions)
            case .left:
                applyLeft(incarnation: entry.incarnation, name: entry.name, now: now, &actions)
            }
        }
        gossipNewsAtOnce(now: now)
        return actions
    }

    // MARK: Probing

    private mutating func startProbe(now: Duration, _ actions: inout [GossipAction]) {
        nextProbeAt = now + localHealth.scale(settings.probeInterval)
        guard let targetName = nextSuspectToConfirm() ?? nextSuspectToRecheck(now: now) ?? nextProbeTarget(),
              let target = records[targetName]?.member else { return }
        lastProbedAt[targetName] = now
        let seq = takeSeq()
        let length = min(settings.probeInterval, settings.probeTimeout + settings.indirectProbeTimeout)
        probe = Probe(seq: seq, target: targetName, directDeadline: now + localHealth.scale(settings.probeTimeout),
                      end: now + localHealth.scale(length))
        var messages: [GossipMessage] = []
        // Lifeguard's buddy system: a suspect hears of its suspicion from whoever probes it, at once.
        if target.state == .suspect {
            messages.append(.suspect(incarnation: target.incarnation, name: targetName, from: name))
        }
        messages.append(.ping(seq: seq, target: targetName, source: name, sourceAddress: address))
        send(messages, to: target.address, &actions)
    }

    /// A member someone else suspects, if this node has not probed it since hearing so and it is still suspect.
    private mutating func nextSuspectToConfirm() -> String? {
        while !suspectsToConfirm.isEmpty {
            let candidate = suspectsToConfirm.removeFirst()
            if records[candidate]?.member.state == .suspect { return candidate }
        }
        return nil
    }

    /// A suspect this node has not probed for an interval, every other probe. A suspicion nobody confirms
    /// can be the accuser's mistake (its own bad link) and the suspect's refutation may have passed this node
    /// by; probing the suspect brings the refutation back on the ack (or tells it, with the ping, that it is
    /// suspected). Found with the simulator: at 1 s probes a lossy board missed a refutation for 14 s and
    /// declared a healthy one dead. Every other: a partition makes many suspects, and the round-robin must
    /// still go on.
    private mutating func nextSuspectToRecheck(now: Duration) -> String? {
        if lastProbeWasRecheck {
            lastProbeWasRecheck = false
            return nil
        }
        let due = suspects.filter { lastProbedAt[$0].map { now - $0 >= settings.probeInterval } ?? true }
        guard let oldest = due.min(by: { (lastProbedAt[$0] ?? .zero) < (lastProbedAt[$1] ?? .zero) }) else { return nil }
        lastProbeWasRecheck = true
        return oldest
    }

    /// Someone else suspects `memberName`: probe it now (or as soon as the current probe ends). If it is down,
    /// this node's failed probe confirms the suspicion independently, which Lifeguard counts to shorten the
    /// timeout; if it is up, the ping tells it of the suspicion (the buddy system) and it refutes. Without
    /// this, confirmations wait for the round-robin: at 1 s probes and 5 boards, 4 s for each prober.
    mutating func confirmSuspicion(of memberName: String, now: Duration) {
        guard !isLeaving, probe?.target != memberName, !suspectsToConfirm.contains(memberName),
              suspectsToConfirm.count < Self.maxSuspectsToConfirm else { return }
        // Lifeguard needs k confirmations: in a large cluster about 3k members (chosen by chance) probe, not
        // all N, which keeps a suspicion's cost the same at 10 members or 1000. Up to 11 members, all do.
        let others = max(1, activeMemberCount - 2)
        let probers = 3 * settings.suspicionConfirmations
        if probers < others, random.next() % UInt64(others) >= UInt64(probers) { return }
        suspectsToConfirm.append(memberName)
        if let due = nextProbeAt, due > now { nextProbeAt = now }
    }

    /// News queued since the last look goes out now rather than at the next gossip round: a suspicion
    /// reaches those who can confirm it, and a refutation or a death reaches everyone, a round sooner at
    /// every hop. Each update is still sent only its limited number of times.
    mutating func gossipNewsAtOnce(now: Duration) {
        guard broadcasts.enqueuedTotal != newsSent else { return }
        newsSent = broadcasts.enqueuedTotal
        if let due = nextGossipAt, due > now { nextGossipAt = now }
    }

    /// The next member of the shuffled round, reshuffling when a pass ends. Departed members are skipped.
    private mutating func nextProbeTarget() -> String? {
        var rebuilt = false
        while true {
            if probeCursor >= probeOrder.count {
                if rebuilt { return nil }
                probeOrder = roster.filter { records[$0]?.member.isActive == true }
                probeOrder.shuffle(using: &random)
                probeCursor = 0
                rebuilt = true
                if probeOrder.isEmpty { return nil }
            }
            let candidate = probeOrder[probeCursor]
            probeCursor += 1
            if records[candidate]?.member.isActive == true { return candidate }
        }
    }

    /// Past the direct deadline, asks helpers; past the end, the probe has failed.
    private mutating func advanceProbe(now: Duration, _ actions: inout [GossipAction]) {
        guard var current = probe else { return }
        guard let target = records[current.target]?.member, target.isActive else {
            probe = nil
            return
        }
        if !current.indirectSent, now >= current.directDeadline, now < current.end {
            current.indirectSent = true
            let helpers = randomMembers(settings.indirectProbes, excluding: current.target) { $0.state == .alive }
            current.expectedNacks = helpers.count
            for helper in helpers {
                send([.indirectPingRequest(seq: current.seq, target: current.target, targetAddress: target.address,
                                           requester: name, requesterAddress: address)], to: helper.address, &actions)
            }
            probe = current
        }
        guard now >= current.end else { return }
        probe = nil
        if current.expectedNacks > 0 {
            let missing = current.expectedNacks - current.nacks
            if missing > 0 { localHealth.record(.nacksMissing(missing)) }
        } else {
            localHealth.record(.probeFailed)
        }
        applySuspect(incarnation: target.incarnation, name: current.target, from: name, now: now, &actions)
    }

    /// An ack ends our probe, or is forwarded to whoever asked us to probe, with the target's alive message
    /// if it came along (a fresh refutation the requester may be waiting for).
    private mutating func onAck(seq: UInt32, payload: [UInt8], in messages: [GossipMessage], now: Duration, _ actions: inout [GossipAction]) {
        if let current = probe, current.seq == seq {
            lastHeard[current.target] = now
            if let said = AckPayload.incarnation(payload) { confirm(current.target, incarnation: said, now: now) }
            // Only a direct ack says our own network is fine; an indirect one says only the target is.
            if !current.indirectSent { localHealth.record(.probeSucceeded) }
            probe = nil
            return
        }
        if let index = relays.firstIndex(where: { $0.seq == seq }) {
            let relay = relays.remove(at: index)
            if records[relay.target] != nil { lastHeard[relay.target] = now }
            let refutation = messages.first { message in
                if case .alive(_, let aliveName, _, _) = message { return aliveName == relay.target }
                return false
            }
            send([.ack(seq: relay.requesterSeq, payload: payload)] + (refutation.map { [$0] } ?? []), to: relay.requester, &actions)
        }
    }

    /// `member` says it is at `incarnation`: when we hold it alive at exactly that one, our copy of its metadata
    /// is its latest (every change of metadata takes a new incarnation, and an alive at a new incarnation brings
    /// its metadata along). Any other answer proves nothing.
    private mutating func confirm(_ member: String, incarnation said: UInt64, now: Duration) {
        guard let record = records[member], record.member.state == .alive, record.member.incarnation == said else { return }
        confirmed[member] = now
    }

    private mutating func sendOwedNacks(now: Duration, _ actions: inout [GossipAction]) {
        guard !relays.isEmpty else { return }
        var kept: [Relay] = []
        for var relay in relays {
            if !relay.nackSent && relay.nackAt <= now {
                send([.nack(seq: relay.requesterSeq)], to: relay.requester, &actions)
                relay.nackSent = true
            }
            // A late ack is still forwarded until the relay expires.
            if relay.expiresAt > now { kept.append(relay) }
        }
        relays = kept
    }

    /// A member we do not know (or think gone) pings us: the gossip of its join passed us by. One push-pull
    /// with it, at most one a probe interval, tells each of us the other's whole view.
    private mutating func meetStranger(_ stranger: String, at strangerAddress: GossipAddress, now: Duration,
                                       _ actions: inout [GossipAction]) {
        guard !isLeaving, stranger != name, records[stranger]?.member.isActive != true else { return }
        if let last = lastStrangerPushPull, now - last < settings.probeInterval { return }
        lastStrangerPushPull = now
        actions.append(.pushPull(to: strangerAddress))
    }

    /// A push-pull with a random dead member, in case it was only cut off: its state tells it that it was
    /// declared dead (it refutes), ours tells us whom its side declared dead. As Serf does, each node tries
    /// with probability dead / alive, so the cluster as a whole makes about one attempt per interval.
    private mutating func reconnect(_ actions: inout [GossipAction]) {
        guard !isLeaving else { return }
        let dead = departed.compactMap { records[$0]?.member }.filter { $0.state == .dead }
        guard !dead.isEmpty else { return }
        let probability = min(1, Double(dead.count) / Double(max(1, activeOthers)))
        guard Double(random.next() >> 11) / Double(1 << 53) < probability else { return }
        actions.append(.pushPull(to: dead[Int.random(in: 0..<dead.count, using: &random)].address))
    }

    private mutating func expireSuspicions(now: Duration, _ actions: inout [GossipAction]) {
        for suspectName in suspects {
            guard let record = records[suspectName], let suspicion = record.suspicion, suspicion.deadline <= now else { continue }
            applyDead(incarnation: record.member.incarnation, name: suspectName, from: name, now: now, &actions)
        }
    }

    private mutating func forgetDeparted(now: Duration) {
        guard !departed.isEmpty else { return }
        for departedName in departed {
            guard let record = records[departedName], now - record.member.since >= settings.departedRetention else { continue }
            remove(departedName)
        }
    }

    // MARK: Sending

    /// One datagram: `messages` first, then as many queued updates as still fit.
    mutating func packet(_ messages: [GossipMessage]) -> [UInt8] {
        var bytes = GossipCodec.encodePacket(messages)
        for framed in broadcasts.take(budget: settings.maxDatagramBytes - bytes.count, memberCount: activeMemberCount) {
            bytes += framed
        }
        return bytes
    }

    mutating func send(_ messages: [GossipMessage], to destination: GossipAddress, _ actions: inout [GossipAction]) {
        actions.append(.send(packet(messages), to: destination))
    }

    /// Queued updates only, to each of `targets` (nothing is sent when nothing is queued).
    mutating func gossip(to targets: [GossipMember], _ actions: inout [GossipAction]) {
        for target in targets {
            let bytes = packet([])
            guard bytes.count > GossipCodec.headerBytes else { return }
            actions.append(.send(bytes, to: target.address))
        }
    }

    mutating func takeSeq() -> UInt32 {
        nextSeq &+= 1
        return nextSeq
    }

    /// A random delay in [0, interval): spreads timers of boards that started together.
    mutating func jitter(_ interval: Duration) -> Duration {
        let nanoseconds = max(1, interval / .nanoseconds(1))
        return .nanoseconds(Int64(random.next() % UInt64(nanoseconds)))
    }

    /// Up to `count` distinct members satisfying `accept`, other than `excluded`, picked at random.
    /// Who a gossip round sends to: active members, and the dead (so a wrongly declared one hears and refutes).
    static func isGossipTarget(_ member: GossipMember) -> Bool { member.isActive || member.state == .dead }

    var hasGossipTargets: Bool { roster.contains { records[$0].map { Self.isGossipTarget($0.member) } ?? false } }

    mutating func randomMembers(_ count: Int, excluding excluded: String?,
                                where accept: (GossipMember) -> Bool) -> [GossipMember] {
        guard count > 0, !roster.isEmpty else { return [] }
        var picked: [GossipMember] = []
        // Large clusters: draw at random and skip misses, which stays O(count) while most members qualify.
        if roster.count > 32 {
            var tried = Set<String>()
            for _ in 0..<(count * 8) where picked.count < count {
                let candidate = roster[Int.random(in: 0..<roster.count, using: &random)]
                guard candidate != excluded, tried.insert(candidate).inserted, let member = records[candidate]?.member,
                      accept(member) else { continue }
                picked.append(member)
            }
            if picked.count == count { return picked }
            picked = []
        }
        var eligible = roster.filter { $0 != excluded }.compactMap { records[$0]?.member }.filter(accept)
        eligible.shuffle(using: &random)
        picked = Array(eligible.prefix(count))
        return picked
    }

    /// One more than now, except at the very top, where a hostile accusation may have pushed it: there it
    /// stays rather than trap or wrap to 0.
    var nextIncarnation: UInt64 { incarnation == .max ? .max : incarnation + 1 }

    var aliveMessage: GossipMessage {
        .alive(incarnation: incarnation, name: name, address: address, metadata: metadata)
    }
}
