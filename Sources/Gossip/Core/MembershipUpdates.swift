// The incarnation rules: which alive, suspect, dead and left updates a node believes, and how it refutes.

extension SWIMCore {
    /// A member is alive at `incarnation`. Believed when newer than what we know, or when it comes back at a
    /// new address after being dead or gone (a board restarted elsewhere under the same name).
    mutating func applyAlive(incarnation: UInt64, name memberName: String, address memberAddress: GossipAddress,
                             metadata memberMetadata: [UInt8], now: Duration, _ actions: inout [GossipAction]) {
        if memberName == name {
            guard !isLeaving else { return }
            // News about this node that it did not make: an older life of it, under the same name.
            if incarnation > self.incarnation
                || (incarnation == self.incarnation && (memberAddress != address || memberMetadata != metadata)) {
                refute(accusedIncarnation: incarnation, now: now)
            }
            return
        }
        let old = records[memberName]?.member
        if let old {
            let reclaimed = memberAddress != old.address && !old.isActive
            guard incarnation > old.incarnation || reclaimed else { return }
        }
        let moved = old.map { $0.state != .alive || $0.address != memberAddress } ?? true
        let member = GossipMember(name: memberName, address: memberAddress, incarnation: incarnation, state: .alive,
                                  metadata: memberMetadata, since: moved ? now : old!.since)
        store(member, suspicion: nil)
        broadcasts.enqueue(.alive(incarnation: incarnation, name: memberName, address: memberAddress, metadata: memberMetadata))
        if moved || old?.metadata != memberMetadata { actions.append(.memberChanged(member)) }
    }

    /// `accuser` suspects a member at `incarnation`. A new suspicion starts Lifeguard's timer; a further
    /// accuser of the same suspicion shortens it, and is passed on so that others' timers shorten too.
    mutating func applySuspect(incarnation: UInt64, name memberName: String, from accuser: String, now: Duration,
                               _ actions: inout [GossipAction]) {
        if memberName == name {
            refuteAccusation(incarnation: incarnation, now: now)
            return
        }
        guard var record = records[memberName], incarnation >= record.member.incarnation, record.member.isActive else { return }
        if record.member.state == .suspect && incarnation == record.member.incarnation {
            guard record.suspicion?.confirm(by: accuser) == true else { return }
            records[memberName] = record
            broadcasts.enqueue(.suspect(incarnation: incarnation, name: memberName, from: accuser))
            return
        }
        let wasAlive = record.member.state == .alive
        let memberCount = activeMemberCount
        let timeouts = Suspicion.timeouts(memberCount: memberCount, gossipInterval: settings.gossipInterval,
                                          suspicionMult: settings.suspicionMult,
                                          suspicionMaxTimeoutMult: settings.suspicionMaxTimeoutMult)
        // Besides the suspect and the first accuser, only N − 2 members could ever confirm.
        let expected = min(settings.suspicionConfirmations, memberCount - 2)
        // A node that doubts its own network may be missing the refutation too: it waits longer. Healthy
        // nodes still time real deaths out on schedule, and their verdict reaches this one.
        let minTimeout = localHealth.scale(timeouts.min)
        let maxTimeout = localHealth.scale(timeouts.max)
        record.member.state = .suspect
        record.member.incarnation = incarnation
        if wasAlive { record.member.since = now }
        store(record.member, suspicion: Suspicion(accuser: accuser, start: now, minTimeout: minTimeout,
                                                  maxTimeout: maxTimeout, expectedConfirmations: expected))
        broadcasts.enqueue(.suspect(incarnation: incarnation, name: memberName, from: accuser))
        if accuser != name { confirmSuspicion(of: memberName, now: now) }
        if wasAlive { actions.append(.memberChanged(record.member)) }
    }

    /// A member is dead: believed at once from anyone (its accuser's suspicion ran out), unless it refuted
    /// at a higher incarnation meanwhile.
    mutating func applyDead(incarnation: UInt64, name memberName: String, from accuser: String, now: Duration,
                            _ actions: inout [GossipAction]) {
        if memberName == name {
            refuteAccusation(incarnation: incarnation, now: now)
            return
        }
        guard var member = records[memberName]?.member, incarnation >= member.incarnation, member.isActive else { return }
        member.state = .dead
        member.incarnation = incarnation
        member.since = now
        store(member, suspicion: nil)
        broadcasts.enqueue(.dead(incarnation: incarnation, name: memberName, from: accuser))
        actions.append(.memberChanged(member))
    }

    /// A member left on purpose. It overrides a death at the same incarnation: whoever missed the leave and
    /// timed the member out ends up agreeing it left.
    mutating func applyLeft(incarnation: UInt64, name memberName: String, now: Duration, _ actions: inout [GossipAction]) {
        if memberName == name {
            // Only an older life of this node could have left under its name.
            guard !isLeaving, incarnation >= self.incarnation else { return }
            refute(accusedIncarnation: incarnation, now: now)
            return
        }
        guard var member = records[memberName]?.member, incarnation >= member.incarnation, member.state != .left else { return }
        member.state = .left
        member.incarnation = incarnation
        member.since = now
        store(member, suspicion: nil)
        broadcasts.enqueue(.left(incarnation: incarnation, name: memberName))
        actions.append(.memberChanged(member))
    }

    /// Someone suspects this node or declared it dead. A current accusation is refuted; a stale one (older
    /// than our last refutation) means the refutation has not reached everyone yet: it is gossiped afresh.
    mutating func refuteAccusation(incarnation accused: UInt64, now: Duration) {
        guard !isLeaving else { return }
        if accused < incarnation {
            broadcasts.enqueue(aliveMessage)
            return
        }
        localHealth.record(.refutedSuspicion)
        refute(accusedIncarnation: accused, now: now)
    }

    /// Says "alive" at an incarnation above the accusation, which overrides it everywhere. An accusation at
    /// the largest incarnation cannot be outbid; it comes only from a broken or hostile peer and is ignored.
    mutating func refute(accusedIncarnation: UInt64, now: Duration) {
        let (next, overflow) = max(incarnation, accusedIncarnation).addingReportingOverflow(1)
        guard !overflow else { return }
        incarnation = next
        refutedAt = now
        broadcasts.enqueue(aliveMessage)
    }

    /// Within a suspicion's longest life after a refutation (the longest a node in the worst health waits),
    /// acks carry this node's alive message: every member that still suspects it and probes it, directly or
    /// through a helper, learns the refutation even if the gossip of it passed that member by.
    func refutationStillFresh(now: Duration) -> Bool {
        guard let refutedAt else { return false }
        let window = Suspicion.timeouts(memberCount: activeMemberCount, gossipInterval: settings.gossipInterval,
                                        suspicionMult: settings.suspicionMult,
                                        suspicionMaxTimeoutMult: settings.suspicionMaxTimeoutMult).max
        return now - refutedAt <= window * localHealth.maxMultiplier
    }

    // MARK: The table

    /// Puts `member` in the table, keeping the roster, the count of active members, the suspect and
    /// departed lists and the probe round in step with it.
    mutating func store(_ member: GossipMember, suspicion: Suspicion?) {
        let old = records[member.name]?.member
        if old == nil {
            rosterIndex[member.name] = roster.count
            roster.append(member.name)
        }
        if old?.isActive == true { activeOthers -= 1 }
        if member.isActive { activeOthers += 1 }
        if old?.state == .suspect && member.state != .suspect { suspects.removeAll { $0 == member.name } }
        if member.state == .suspect && old?.state != .suspect { suspects.append(member.name) }
        let wasDeparted = old.map { !$0.isActive } ?? false
        if wasDeparted && member.isActive { departed.removeAll { $0 == member.name } }
        if !member.isActive && !wasDeparted { departed.append(member.name) }
        // A member new or back from the dead is probed in the current round, at a random place in what is left.
        if member.isActive && old?.isActive != true {
            probeOrder.append(member.name)
            probeOrder.swapAt(probeOrder.count - 1, Int.random(in: probeCursor..<probeOrder.count, using: &random))
        }
        records[member.name] = Record(member: member, suspicion: suspicion)
    }

    /// Takes `members` as known, alive, without gossiping about them: for simulations that start from a
    /// cluster that has already converged. A real node learns members only from the network.
    mutating func adoptMembersSilently(_ members: [GossipMember], now: Duration) {
        for member in members where member.name != name && records[member.name] == nil { store(member, suspicion: nil) }
    }

    /// Forgets a member entirely (a departed one, after `departedRetention`).
    mutating func remove(_ memberName: String) {
        guard let old = records.removeValue(forKey: memberName)?.member, let index = rosterIndex.removeValue(forKey: memberName) else {
            return
        }
        let last = roster.removeLast()
        if index < roster.count {
            roster[index] = last
            rosterIndex[last] = index
        }
        if old.isActive { activeOthers -= 1 }
        suspects.removeAll { $0 == memberName }
        departed.removeAll { $0 == memberName }
        lastProbedAt[memberName] = nil
        lastHeard[memberName] = nil
    }
}
