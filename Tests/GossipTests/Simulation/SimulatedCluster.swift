// N gossip cores in one process on virtual time: datagrams through a SimulatedNetwork, push-pull delivered
// after a delay, crashes, restarts and leaves, and a record of every membership change for the invariants.
import HomecloudSchema
@testable import GossipCore

struct SimulatedCluster {
    struct Node {
        var name: String
        var address: GossipAddress
        var core: SWIMCore
        var running = true
    }

    struct Change {
        var at: Duration
        var observer: Int
        var member: GossipMember
    }

    enum Delivery {
        case datagram([UInt8], from: GossipAddress, to: GossipAddress, node: Int)
        case pushPull(initiator: Int, responder: Int)
    }

    let seed: UInt64
    let settings: GossipSettings
    /// Virtual time moves in steps of this; a datagram arrives at the first step after its latency.
    let step: Duration
    var now = Duration.zero
    var nodes: [Node] = []
    var network: SimulatedNetwork
    var pushPullDelay: Duration = .milliseconds(5)
    private var stepIndex: Int64 = 0
    private var inFlight: [Int64: [Delivery]] = [:]
    private var nodeAt: [GossipAddress: Int] = [:]
    private var indexByName: [String: Int] = [:]
    private var coreSeeds: SplitMix64

    /// Every membership change any node reported; `recordAliveChanges` false keeps big joins cheap.
    var changes: [Change] = []
    var recordAliveChanges = true
    /// A running member declared dead by anyone (checked on every change, so at every step).
    var falseDeaths: [Change] = []
    /// Datagrams over the limit (checked on every send).
    var oversizedDatagrams = 0
    var datagramsSent = 0
    /// Checked after every step unless turned off (the large simulations): see `checkInvariants`.
    var checkInvariantsEveryStep = true
    var invariantViolations: [String] = []

    init(size: Int, seed: UInt64, settings: GossipSettings = GossipSettings(), step: Duration = .milliseconds(10)) {
        self.seed = seed
        self.settings = settings
        self.step = step
        network = SimulatedNetwork(seed: seed)
        coreSeeds = SplitMix64(seed: seed ^ 0xC0FF_EE00_D15E_A5E5)
        for index in 0..<size { addNode(name: Self.name(index), address: Self.address(index, life: 0)) }
    }

    static func name(_ index: Int) -> String { "node-\(index)" }

    /// 10.L.x.y:7964, L being how many times the node restarted: a restarted node comes back elsewhere.
    static func address(_ index: Int, life: Int) -> GossipAddress {
        GossipAddress(ipv4: 10, UInt8(life), UInt8(index / 250), UInt8(index % 250 + 1), port: 7964)
    }

    @discardableResult
    private mutating func addNode(name: String, address: GossipAddress, incarnation: UInt64 = 0) -> Int {
        let core = SWIMCore(settings: settings, name: name, address: address, incarnation: incarnation,
                            random: SplitMix64(seed: coreSeeds.next()))
        nodes.append(Node(name: name, address: address, core: core))
        nodeAt[address] = nodes.count - 1
        indexByName[name] = nodes.count - 1
        return nodes.count - 1
    }

    var running: [Int] { nodes.indices.filter { nodes[$0].running } }

    // MARK: Scenarios

    /// Every node but the first joins through the first, spread over `spread` so the joins overlap.
    mutating func joinAll(through seedIndex: Int = 0, spread: Duration = .milliseconds(500)) {
        let joiners = nodes.indices.filter { $0 != seedIndex }
        for (order, index) in joiners.enumerated() {
            let at = spread * order / max(1, joiners.count)
            run(until: at)
            apply(nodes[index].core.join(seeds: [nodes[seedIndex].address], now: now), of: index)
        }
    }

    /// Starts from a converged cluster without the join traffic: every core is handed the full member list
    /// directly (for the large simulations, where gossiping N joins would dominate the run).
    mutating func adoptFullMembership() {
        let everyone = nodes.map {
            GossipMember(name: $0.name, address: $0.address, incarnation: 0, state: .alive, since: now)
        }
        for index in nodes.indices { nodes[index].core.adoptMembersSilently(everyone, now: now) }
    }

    /// kill -9: no more packets in or out.
    mutating func crash(_ index: Int) {
        nodes[index].running = false
    }

    /// The node comes back under the same name at a new address (a new life), and joins through `seedIndex`.
    mutating func restart(_ index: Int, life: Int, through seedIndex: Int) {
        let newAddress = Self.address(index, life: life)
        nodeAt[nodes[index].address] = nil
        nodes[index].address = newAddress
        nodes[index].core = SWIMCore(settings: settings, name: nodes[index].name, address: newAddress,
                                     random: SplitMix64(seed: coreSeeds.next()))
        nodes[index].running = true
        nodeAt[newAddress] = index
        apply(nodes[index].core.join(seeds: [nodes[seedIndex].address], now: now), of: index)
    }

    /// A graceful leave: the node gossips its departure for `linger`, then stops.
    mutating func leave(_ index: Int, linger: Duration = .seconds(1)) {
        apply(nodes[index].core.leave(now: now), of: index)
        run(until: now + linger)
        nodes[index].running = false
    }

    /// Splits the nodes into groups; nodes not listed are in group 0.
    mutating func partition(_ groups: [[Int]]) {
        var map: [Int: Int] = [:]
        for (group, members) in groups.enumerated() { for index in members { map[index] = group } }
        network.partition = map
    }

    mutating func heal() { network.partition = nil }

    // MARK: Running

    mutating func run(until end: Duration) {
        while now + step <= end { advance() }
    }

    mutating func run(for duration: Duration) { run(until: now + duration) }

    /// Runs until every running node agrees on membership, checking every `every`; the time it took, or nil.
    mutating func runUntilConverged(within limit: Duration, every: Duration = .milliseconds(100)) -> Duration? {
        let start = now
        while now - start < limit {
            run(for: every)
            if converged() { return now - start }
        }
        return nil
    }

    mutating func advance() {
        now += step
        stepIndex += 1
        if let due = inFlight.removeValue(forKey: stepIndex) {
            for delivery in due { deliver(delivery) }
        }
        for index in nodes.indices where nodes[index].running {
            // The shell sleeps until nextDeadline: a tick before it must have nothing to do.
            let deadline = nodes[index].core.nextDeadline
            let actions = nodes[index].core.onTick(now: now)
            if let deadline, now < deadline, !actions.isEmpty, invariantViolations.count < 10 {
                invariantViolations.append("\(now): \(nodes[index].core.name) acted before its next deadline \(deadline): \(actions)")
            }
            apply(actions, of: index)
        }
        if checkInvariantsEveryStep && invariantViolations.count < 10 { checkInvariants() }
    }

    private mutating func deliver(_ delivery: Delivery) {
        switch delivery {
        case let .datagram(bytes, from, to, index):
            guard nodes[index].running, nodes[index].address == to else { return }
            apply(nodes[index].core.onDatagram(bytes, from: from, now: now), of: index)
        case let .pushPull(initiator, responder):
            guard nodes[initiator].running, nodes[responder].running, network.connected(initiator, responder) else { return }
            // Through the codec both ways, as the shell does over TCP.
            let request = GossipCodec.encodeState(nodes[initiator].core.pushPullState())
            let response = GossipCodec.encodeState(nodes[responder].core.pushPullState())
            guard let requestState = try? GossipCodec.decodeState(request),
                  let responseState = try? GossipCodec.decodeState(response) else {
                preconditionFailure("seed \(seed): a push-pull state did not survive its own codec")
            }
            apply(nodes[responder].core.onPushPull(requestState, now: now), of: responder)
            apply(nodes[initiator].core.onPushPull(responseState, now: now), of: initiator)
        }
    }

    private mutating func schedule(_ delivery: Delivery, after delay: Duration) {
        // At least the next step: nothing is answered within the step that sent it.
        let steps = max(1, Int64((delay + step - .nanoseconds(1)) / step))
        inFlight[stepIndex + steps, default: []].append(delivery)
    }

    mutating func apply(_ actions: [GossipAction], of index: Int) {
        for action in actions {
            switch action {
            case let .send(bytes, to):
                datagramsSent += 1
                if bytes.count > GossipCodec.maxDatagramBytes { oversizedDatagrams += 1 }
                guard let target = nodeAt[to] else { continue }
                for delay in network.delays(from: index, to: target) {
                    schedule(.datagram(bytes, from: nodes[index].address, to: to, node: target), after: delay)
                }
            case let .pushPull(to):
                guard let target = nodeAt[to] else { continue }
                schedule(.pushPull(initiator: index, responder: target), after: pushPullDelay)
            case let .memberChanged(member):
                let change = Change(at: now, observer: index, member: member)
                if recordAliveChanges || member.state != .alive { changes.append(change) }
                if member.state == .dead, let subject = nodeAt[member.address], nodes[subject].running,
                   nodes[subject].name == member.name {
                    falseDeaths.append(change)
                }
            }
        }
    }

    // MARK: Invariants

    /// What must hold at every instant, whatever the network does: a running node thinks itself alive (unless
    /// it is leaving), knows no member that never existed, and never thinks a running member left.
    mutating func checkInvariants() {
        for observer in nodes.indices where nodes[observer].running {
            let core = nodes[observer].core
            if core.myself.state != .alive && !core.isLeaving {
                invariantViolations.append("\(now): \(core.name) thinks itself \(core.myself.state)")
            }
            for member in core.members {
                guard let subject = indexByName[member.name] else {
                    invariantViolations.append("\(now): \(core.name) knows \(member), who never existed")
                    continue
                }
                if member.state == .left, nodes[subject].running, nodes[subject].address == member.address,
                   !nodes[subject].core.isLeaving {
                    invariantViolations.append("\(now): \(core.name) thinks running \(member) left")
                }
            }
        }
    }

    /// Every running node sees every running node alive at its current address, and every stopped node (not
    /// since restarted) as dead, left or forgotten.
    func converged() -> Bool { disagreements(limit: 1).isEmpty }

    /// What keeps the cluster from agreeing, for failure messages.
    func disagreements(limit: Int = 5) -> [String] {
        var found: [String] = []
        for observer in nodes.indices where nodes[observer].running {
            let core = nodes[observer].core
            for subject in nodes.indices {
                let seen = core.member(named: nodes[subject].name)
                if nodes[subject].running {
                    if seen?.state != .alive || seen?.address != nodes[subject].address {
                        found.append("\(nodes[observer].name) sees \(nodes[subject].name) as \(seen.map(String.init(describing:)) ?? "unknown")")
                    }
                } else if let seen, seen.isActive {
                    found.append("\(nodes[observer].name) sees stopped \(nodes[subject].name) as \(seen)")
                }
                if found.count >= limit { return found }
            }
        }
        return found
    }

    /// When each running node first saw `name` in `state` at or after `since`; nil for a node that has not.
    func firstSeen(_ name: String, _ state: GossipMember.State, since: Duration) -> [Int: Duration] {
        var seen: [Int: Duration] = [:]
        for change in changes where change.at >= since && change.member.name == name && change.member.state == state {
            if seen[change.observer] == nil { seen[change.observer] = change.at }
        }
        return seen
    }
}
