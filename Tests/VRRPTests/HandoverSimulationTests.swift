// Targeted handovers on a simulated LAN: boards with a router and the handover rule each, advertisements lost
// and delayed by seed, requests carried by a gossip that is late or never arrives. Time jumps from one event
// (a delivery, a router's timer: the handover rule, like the driver, acts on those) to the next; after every step:
// a board asks only while it is master and within the window, 254 only on a successor, a master holds the
// VIP, and two boards hold it at once no longer than the allowed overlap. Every failure names its seed.
import HomecloudSchema
import Testing
@testable import VRRP

struct HandoverLAN {
    struct Board {
        var name: String
        var router: VRRPInstance
        var rule = TargetedHandover()
        var basePriority: Int
        var alive = true
        var holding = false
        /// The requests this board last heard from each other board (gossip metadata: VIP → node).
        var heard: [Int: [String: String]] = [:]
        /// When the window of its last request ended for want of a successor.
        var missedAt: Duration?
    }

    struct Advert {
        var at: Duration
        var to: Int
        var packet: VRRPAdvertisement
        var from: IPAddress
    }

    struct Gossip {
        var at: Duration
        var to: Int
        var from: Int
        var requests: [String: String]
    }

    static let vip = "web"
    static let advertInterval = Duration.milliseconds(100)
    let seed: UInt64
    var boards: [Board]
    var random: SplitMix64
    var now = Duration.zero
    var advertLoss: Double
    /// One-way delay of an advertisement, in microseconds.
    var advertDelay: ClosedRange<UInt64>
    /// How long gossip takes to carry a board's new requests to another, in milliseconds.
    var gossipDelay: ClosedRange<UInt64> = 20...400
    /// Boards gossip never reaches.
    var deaf: Set<Int> = []
    var adverts: [Advert] = []
    var gossip: [Gossip] = []
    /// Two or more boards holding the VIP for longer than this breaks the invariant.
    var allowedOverlap: Duration
    var overlapStart: Duration?
    var longestOverlap = Duration.zero
    /// No board holding the VIP, from `gapWatchStart` on.
    var gapStart: Duration?
    var gapWatchStart: Duration?
    var longestGap = Duration.zero
    var violations: [String] = []
    /// When each board last became master.
    var becameMaster: [Int: Duration] = [:]
    /// Every takeover in order (board, when): each is a move of the VIP as a client sees it.
    var takeovers: [(board: Int, at: Duration)] = []

    init(priorities: [Int], seed: UInt64, advertLoss: Double, advertDelay: ClosedRange<UInt64>, allowedOverlap: Duration) {
        self.seed = seed
        self.advertLoss = advertLoss
        self.advertDelay = advertDelay
        self.allowedOverlap = allowedOverlap
        random = SplitMix64(seed: seed)
        boards = priorities.enumerated().map { index, priority in
            let settings = VRRPInstance.Settings(vrid: 51, addresses: [IPAddress("192.168.1.100")!], advertInterval: Self.advertInterval,
                                                 priority: priority, primaryAddress: IPAddress(bytes: [10, 0, 0, UInt8(index + 1)])!)
            return Board(name: "n\(index)", router: VRRPInstance(settings: settings), basePriority: priority)
        }
        for index in boards.indices { apply(boards[index].router.start(linkUp: true, now: now), of: index) }
        settle()
    }

    var holders: [Int] { boards.indices.filter { boards[$0].alive && boards[$0].holding } }
    var masters: [Int] { boards.indices.filter { boards[$0].alive && boards[$0].router.state == .master } }

    mutating func chance(_ probability: Double) -> Bool {
        Double(random.next() >> 11) / Double(1 << 53) < probability
    }

    mutating func draw(_ range: ClosedRange<UInt64>) -> UInt64 {
        range.lowerBound + random.next() % (range.upperBound - range.lowerBound + 1)
    }

    // MARK: what the shell does

    mutating func apply(_ actions: [VRRPInstance.Action], of index: Int) {
        for action in actions {
            switch action {
            case .addAddresses: boards[index].holding = true
            case .removeAddresses: boards[index].holding = false
            case .sendAdvertisement(let packet):
                for peer in boards.indices where peer != index {
                    if chance(advertLoss) { continue }
                    let delay = Duration.microseconds(Int64(draw(advertDelay)))
                    adverts.append(Advert(at: now + delay, to: peer, packet: packet, from: boards[index].router.settings.primaryAddress))
                }
            case .transition(_, let to, _):
                if to == .master {
                    becameMaster[index] = now
                    takeovers.append((index, now))
                }
            case .announce: break
            }
        }
    }

    mutating func carryOut(_ actions: [TargetedHandover.Action], of index: Int) {
        for action in actions {
            switch action {
            case .deferToSuccessor: boards[index].router.deferToSuccessor()
            case .handOver: apply(boards[index].router.handOver(now: now), of: index)
            case .successorMissed:
                boards[index].missedAt = now
                boards[index].router.stopDeferring()
            case .becomeSuccessor: boards[index].router.stopDeferring()
            case .resumePreempting: boards[index].router.stopDeferring()
            case .stop(_, let handOver): apply(boards[index].router.stop(now: now, handOver: handOver), of: index)
            case .setPriority(_, let priority): apply(boards[index].router.setPriority(priority, now: now), of: index)
            case .publishRequests(let requests):
                for peer in boards.indices where peer != index && !deaf.contains(peer) {
                    gossip.append(Gossip(at: now + .milliseconds(Int64(draw(gossipDelay))), to: peer, from: index, requests: requests))
                }
            }
        }
    }

    /// Every board's handover rule after the step's events, as the driver's settle().
    mutating func settle() {
        // As the driver: a quiet rule has nothing to do, and building the facts costs a dictionary.
        for index in boards.indices where boards[index].alive && !boards[index].rule.isQuiet {
            let facts = [Self.vip: TargetedHandover.Router(state: boards[index].router.state, basePriority: boards[index].basePriority)]
            carryOut(boards[index].rule.onStep(routers: facts, now: now), of: index)
        }
    }

    /// hcctl vip handover web --to (board `successor`), on board `index`.
    mutating func requestHandover(on index: Int, to successor: Int) -> Result<[TargetedHandover.Action], TargetedHandover.Refusal> {
        let result = boards[index].rule.onRequest(vip: Self.vip, to: boards[successor].name, node: boards[index].name,
                                                  holder: boards[index].router.state, known: [Self.vip], now: now)
        if case .success(let actions) = result { carryOut(actions, of: index) }
        settle()
        return result
    }

    mutating func kill(_ index: Int) {
        boards[index].alive = false
        boards[index].holding = false
    }

    mutating func watchGaps() {
        gapWatchStart = now
        longestGap = .zero
        gapStart = holders.isEmpty ? now : nil
    }

    // MARK: running

    mutating func run(until end: Duration) {
        while now < end { step() }
    }

    /// To the next delivery or timer (a master always has one): a board acts on nothing else, so nothing is missed.
    mutating func step() {
        var next = now + .milliseconds(100)
        for advert in adverts where advert.at < next { next = advert.at }
        for message in gossip where message.at < next { next = message.at }
        for board in boards where board.alive {
            if let deadline = board.router.nextDeadline, deadline < next { next = deadline }
        }
        now = max(next, now + .microseconds(1))
        if adverts.contains(where: { $0.at <= now }) {
            let dueAdverts = adverts.filter { $0.at <= now }
            adverts.removeAll { $0.at <= now }
            for advert in dueAdverts where boards[advert.to].alive {
                apply(boards[advert.to].router.onAdvertisement(advert.packet, from: advert.from, now: now), of: advert.to)
            }
        }
        let dueGossip = gossip.isEmpty ? [] : gossip.filter { $0.at <= now }
        if !dueGossip.isEmpty { gossip.removeAll { $0.at <= now } }
        for message in dueGossip where boards[message.to].alive {
            boards[message.to].heard[message.from] = message.requests
            // Gossip's rule, simplified: requests of live boards other than itself (HandoverRequests in Gossip).
            let name = boards[message.to].name
            let asked = Set(boards[message.to].heard.filter { boards[$0.key].alive }.flatMap { $0.value.filter { $0.value == name }.map(\.key) })
            boards[message.to].rule.onRequestsOfMe(asked)
        }
        for index in boards.indices where boards[index].alive {
            if let deadline = boards[index].router.nextDeadline, deadline <= now {
                apply(boards[index].router.onTimer(now: now), of: index)
            }
        }
        settle()
        checkInvariants()
    }

    mutating func checkInvariants() {
        guard violations.count < 5 else { return }
        for board in boards where board.alive {
            let router = board.router
            if board.holding != (router.state == .master) {
                violations.append("\(now): \(board.name) is \(router.state) and \(board.holding ? "holds" : "does not hold") the VIP")
            }
            if !board.rule.asked.isEmpty && router.state != .master {
                violations.append("\(now): \(board.name) asks for a handover as \(router.state)")
            }
            for (vip, request) in board.rule.asked where now > request.until {
                violations.append("\(now): \(board.name)'s request for \(vip) outlived its window (\(request.until))")
            }
            if router.priority == TargetedHandover.successorPriority
                && !board.rule.requestedOfMe.contains(Self.vip) && router.state != .master {
                violations.append("\(now): \(board.name) advertises 254 as \(router.state) and no one asks it to")
            }
        }
        var holding = 0
        for board in boards where board.alive && board.holding { holding += 1 }
        if holding >= 2 {
            let start = overlapStart ?? now
            overlapStart = start
            longestOverlap = max(longestOverlap, now - start)
            if now - start > allowedOverlap {
                violations.append("\(now): boards \(holders) have held the VIP together since \(start)")
            }
        } else {
            overlapStart = nil
        }
        if let watchStart = gapWatchStart {
            if holding == 0 {
                let start = gapStart ?? now
                gapStart = start
                longestGap = max(longestGap, now - max(start, watchStart) + .microseconds(1))
            } else {
                gapStart = nil
            }
        }
    }
}

@Suite struct HandoverSimulationTests {
    static let seeds: [UInt64] = (1...20).map { $0 &* 0x9E37_79B9_7F4A_7C15 }

    /// Three boards; the master (150) hands over to the lowest (100), past the middle one (120).
    static func settled(seed: UInt64, loss: Double, delay: ClosedRange<UInt64>, overlap: Duration) -> HandoverLAN {
        var lan = HandoverLAN(priorities: [100, 150, 120], seed: seed, advertLoss: loss, advertDelay: delay, allowedOverlap: overlap)
        lan.checkInvariants()
        lan.run(until: .seconds(5))
        // A lossy LAN may be between a false takeover and its step-down right now: wait for one master.
        while lan.masters != [1] && lan.now < .seconds(15) { lan.step() }
        return lan
    }

    @Test(arguments: seeds)
    func aHandoverToAChosenBackupEndsOnItWithinTheWindowWithoutAGap(seed: UInt64) {
        // (loss, delay µs, allowed overlap): clean, and adverts lost and delayed up to a fifth of an interval.
        let networks: [(Double, ClosedRange<UInt64>, Duration)] = [
            (0, 100...900, .milliseconds(2)), (0.05, 100...20_000, .seconds(1)), (0.2, 100...20_000, .seconds(1)),
        ]
        for (loss, delay, overlap) in networks {
            var lan = Self.settled(seed: seed, loss: loss, delay: delay, overlap: overlap)
            let context = "seed \(seed), loss \(loss)"
            guard lan.masters == [1] else {
                Issue.record("\(context): no single master before the handover: \(lan.masters)")
                continue
            }
            lan.watchGaps()
            let askedAt = lan.now
            let result = lan.requestHandover(on: 1, to: 0)
            #expect(result == .success([.deferToSuccessor(vip: HandoverLAN.vip)]), "\(context)")
            lan.run(until: askedAt + TargetedHandover.window + .seconds(2))
            #expect(lan.violations.isEmpty, "\(context): \(lan.violations)")
            #expect(lan.boards[0].router.state == .master && lan.boards[0].holding, "\(context): n0 is \(lan.boards[0].router.state)")
            if let took = lan.becameMaster[0] {
                #expect(took > askedAt && took - askedAt <= TargetedHandover.window, "\(context): n0 took it \(took - askedAt) after the request")
            }
            #expect(lan.longestGap == .zero, "\(context): make before break, yet no one held the VIP for \(lan.longestGap)")
            #expect(lan.boards[1].rule.outgoing.isEmpty && lan.boards[1].missedAt == nil, "\(context): the request ended by the step-down")
            #expect(lan.boards[0].rule.requestedOfMe.isEmpty && lan.boards[0].router.priority == TargetedHandover.successorPriority,
                    "\(context): the successor keeps 254 while it holds the VIP, asked or not")
            // The old master does not preempt back; on a clean LAN no other board ever takes it.
            lan.run(until: lan.now + .seconds(5))
            #expect(lan.violations.isEmpty, "\(context): \(lan.violations)")
            #expect(lan.boards[0].holding, "\(context): \(lan.masters)")
            if loss == 0 {
                #expect(lan.masters == [0] && lan.becameMaster[2] == nil, "\(context): \(lan.masters)")
            }
        }
    }

    @Test(arguments: seeds)
    func aSuccessorThatNeverHearsTheRequestLeavesTheVIPWhereItWas(seed: UInt64) {
        for loss in [0, 0.05] {
            var lan = Self.settled(seed: seed, loss: loss, delay: 100...5_000, overlap: .seconds(1))
            let context = "seed \(seed), loss \(loss)"
            guard lan.masters == [1] else {
                Issue.record("\(context): no single master before the handover: \(lan.masters)")
                continue
            }
            lan.deaf = [0]
            lan.watchGaps()
            let askedAt = lan.now
            _ = lan.requestHandover(on: 1, to: 0)
            lan.run(until: askedAt + TargetedHandover.window + .seconds(1))
            #expect(lan.violations.isEmpty, "\(context): \(lan.violations)")
            // Noticed at the master's first event past the window (its advert timer), as in the driver.
            #expect(lan.boards[1].missedAt.map { $0 - askedAt > TargetedHandover.window && $0 - askedAt <= TargetedHandover.window + HandoverLAN.advertInterval } == true,
                    "\(context): the request ended at \(String(describing: lan.boards[1].missedAt)), asked at \(askedAt)")
            #expect(lan.boards[1].rule.outgoing.isEmpty && lan.boards[1].holding, "\(context)")
            #expect(lan.masters == [1] && lan.longestGap == .zero, "\(context): the VIP moved or went (\(lan.longestGap))")
            if loss == 0 {
                // With loss, a run of lost adverts may make a backup master for an advert's time (not a handover).
                #expect(lan.becameMaster[0] == nil, "\(context): the deaf board took the VIP")
            }
        }
    }

    @Test(arguments: seeds)
    func aSuccessorThatDiesMidwayLeavesTheVIPHeldByOneBoard(seed: UInt64) {
        var lan = Self.settled(seed: seed, loss: 0.05, delay: 100...5_000, overlap: .seconds(1))
        guard lan.masters == [1] else {
            Issue.record("seed \(seed): no single master before the handover: \(lan.masters)")
            return
        }
        lan.watchGaps()
        let askedAt = lan.now
        _ = lan.requestHandover(on: 1, to: 0)
        // Before it heard the request, while it takes over, or just after.
        lan.run(until: askedAt + .milliseconds(Int64(lan.random.next() % 700)))
        let diedAt = lan.now
        let heldWhenKilled = lan.boards[0].holding
        lan.kill(0)
        lan.run(until: askedAt + TargetedHandover.window + .seconds(2))
        let context = "seed \(seed), n0 died \(diedAt - askedAt) after the request\(heldWhenKilled ? ", holding the VIP" : "")"
        #expect(lan.violations.isEmpty, "\(context): \(lan.violations)")
        // The old master, or (when it had let go and missed the successor's last adverts) the middle board.
        #expect(lan.masters.count == 1 && lan.holders == lan.masters, "\(context): \(lan.masters)")
        #expect(lan.boards[1].rule.outgoing.isEmpty, "\(context): the request outlived its window")
        // Dying with the VIP costs a master down interval at 150 (3 × 100 ms + 41 ms skew) and a lost advert or two;
        // otherwise the old master never let go.
        #expect(lan.longestGap <= (heldWhenKilled ? .milliseconds(600) : .zero), "\(context): unheld for \(lan.longestGap)")
    }
}
