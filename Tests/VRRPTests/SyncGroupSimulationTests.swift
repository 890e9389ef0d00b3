// VIP groups (SyncGroups) on a simulated LAN of boards, each running one router per VIP: the group's VIPs end on
// one board whatever the priorities say, follow each other on a death or a link fault, and do not flap.
import HomecloudSchema
import Testing
@testable import VRRPCore

/// Boards × VIPs: router [board][vip] speaks only to the same VIP's routers on the other boards (its VRID).
struct SimulatedGroupLAN {
    var boards: [[VRRPInstance]]
    var rules: SyncGroups
    var names: [String]
    var alive: [Bool]
    /// Whether board b has VIP v's addresses on its interface.
    var holding: [[Bool]]
    var random: SplitMix64
    var loss: Double
    var now = Duration.zero
    var inFlight: [(at: Duration, board: Int, vip: Int, packet: VRRPAdvertisement, from: IPAddress)] = []
    /// Times any board took a VIP (addAddresses), per VIP.
    var takeovers: [Int]
    /// Boards whose VIPs all step down to the best board (TargetedHandover's steppingDown): as VRRPDriver, the group
    /// rule hands none of them over at priority 0, each goes by itself.
    var steppingDown: Set<Int> = []

    /// priorities[board][vip]; `grouped`: every VIP in one group (else each on its own).
    init(priorities: [[Int]], grouped: Bool, seed: UInt64, loss: Double = 0) {
        let names = priorities[0].indices.map { "v\($0)" }
        self.names = names
        rules = SyncGroups(names.map { (name: $0, group: grouped ? "g" : nil) })
        // What VRRPDriver advertises: each board's group priority (the lowest of its VIPs' there).
        let rules = self.rules
        let advertised = priorities.map { row in
            let own = Dictionary(uniqueKeysWithValues: row.enumerated().map { (names[$0.offset], $0.element) })
            let grouped = rules.priorities(own)
            return names.map { grouped[$0]! }
        }
        let vipAddresses = names.indices.map { [IPAddress(bytes: [10, 0, 0, UInt8(200 + $0)])!, IPAddress(bytes: [10, 0, 0, UInt8(220 + $0)])!] }
        boards = advertised.enumerated().map { board, row in
            row.enumerated().map { vip, priority in
                VRRPInstance(settings: .init(vrid: UInt8(10 + vip), addresses: vipAddresses[vip], advertInterval: .milliseconds(100),
                                             priority: priority, primaryAddress: IPAddress(bytes: [10, 0, 0, UInt8(board + 1)])!))
            }
        }
        alive = Array(repeating: true, count: priorities.count)
        holding = Array(repeating: Array(repeating: false, count: names.count), count: priorities.count)
        takeovers = Array(repeating: 0, count: names.count)
        random = SplitMix64(seed: seed)
        self.loss = loss
        for board in boards.indices {
            for vip in names.indices { apply(boards[board][vip].start(linkUp: true, now: now), board: board, vip: vip) }
        }
    }

    /// As VRRPDriver.perform: the actions, then the group rule on a transition, its handovers carried out.
    mutating func apply(_ actions: [VRRPInstance.Action], board: Int, vip: Int) {
        var follow: [SyncGroups.Action] = []
        for action in actions {
            switch action {
            case .addAddresses:
                if !holding[board][vip] { takeovers[vip] += 1 }
                holding[board][vip] = true
            case .removeAddresses: holding[board][vip] = false
            case .sendAdvertisement(let packet):
                for peer in boards.indices where peer != board {
                    if Double(random.next() % 10_000) / 10_000 < loss { continue }
                    let delay = Duration.microseconds(Int64(100 + random.next() % 900))
                    inFlight.append((now + delay, peer, vip, packet, boards[board][vip].settings.primaryAddress))
                }
            case .transition(let from, let to, _):
                let states = Dictionary(uniqueKeysWithValues: names.indices.map { (names[$0], boards[board][$0].state) })
                follow += rules.onTransition(vip: names[vip], from: from, to: to, states: states)
            case .announce: break
            }
        }
        for case .handOver(let companion, _) in follow where !steppingDown.contains(board) {
            guard let other = names.firstIndex(of: companion) else { continue }
            apply(boards[board][other].handOver(now: now), board: board, vip: other)
        }
    }

    mutating func run(until end: Duration, check: (SimulatedGroupLAN) -> Void = { _ in }) {
        while now < end {
            now += .milliseconds(1)
            let due = inFlight.filter { $0.at <= now }
            inFlight.removeAll { $0.at <= now }
            for packet in due where alive[packet.board] {
                apply(boards[packet.board][packet.vip].onAdvertisement(packet.packet, from: packet.from, now: now), board: packet.board, vip: packet.vip)
            }
            for board in boards.indices where alive[board] {
                for vip in names.indices {
                    if let deadline = boards[board][vip].nextDeadline, deadline <= now {
                        apply(boards[board][vip].onTimer(now: now), board: board, vip: vip)
                    }
                }
            }
            check(self)
        }
    }

    /// The live board holding each VIP (nil: none, or more than one).
    var holders: [Int?] {
        names.indices.map { vip in
            let holding = boards.indices.filter { alive[$0] && self.holding[$0][vip] }
            return holding.count == 1 ? holding[0] : nil
        }
    }

    mutating func kill(_ board: Int) {
        alive[board] = false
        holding[board] = holding[board].map { _ in false }
    }
}

@Suite struct SyncGroupSimulationTests {
    static let seeds: [UInt64] = (1...12).map { $0 &* 0x9E37_79B9 }

    /// Board 0 wants v0 most, board 1 wants v1 most: alone each VIP goes its own way; in a group one board holds both.
    static let disagreeing = [[150, 50], [100, 160], [120, 120]]

    @Test(arguments: seeds)
    func withoutAGroupDisagreeingPrioritiesSplitTheVIPs(seed: UInt64) {
        var lan = SimulatedGroupLAN(priorities: Self.disagreeing, grouped: false, seed: seed)
        lan.run(until: .seconds(5))
        #expect(lan.holders == [0, 1], "seed \(seed)")
    }

    @Test(arguments: seeds)
    func aGroupEndsOnOneBoardAndStaysThere(seed: UInt64) {
        var lan = SimulatedGroupLAN(priorities: Self.disagreeing, grouped: true, seed: seed, loss: 0.05)
        lan.run(until: .seconds(5))
        let holders = lan.holders
        // The group's priority on each board is its lowest (50, 100, 120): board 2 holds both.
        #expect(holders == [2, 2], "seed \(seed): \(holders)")
        // Settled: no VIP moves in the next 10 s (the handed-over VIPs do not preempt back).
        let before = lan.takeovers
        lan.run(until: .seconds(15))
        #expect(lan.takeovers == before && lan.holders == holders, "seed \(seed): \(before) then \(lan.takeovers)")
    }

    @Test(arguments: seeds)
    func theGroupFollowsItsHolderDeathTogether(seed: UInt64) {
        var lan = SimulatedGroupLAN(priorities: [[150, 150], [100, 100], [120, 120]], grouped: true, seed: seed)
        lan.run(until: .seconds(3))
        #expect(lan.holders == [0, 0], "seed \(seed)")
        lan.kill(0)
        lan.run(until: .seconds(6))
        #expect(lan.holders == [2, 2], "seed \(seed): \(lan.holders)")
    }

    /// v1's interface goes down on its holder: v1 goes to fault there, and v0 (on another interface, still fine)
    /// follows it to the board that took v1; when the interface comes back, v1 preempts, and v0 comes along.
    @Test(arguments: seeds)
    func aFaultOfOneMovesTheGroupAndItsRepairBringsItBack(seed: UInt64) {
        var lan = SimulatedGroupLAN(priorities: [[150, 150], [100, 100], [120, 120]], grouped: true, seed: seed)
        lan.run(until: .seconds(3))
        lan.apply(lan.boards[0][1].onLink(up: false, now: lan.now), board: 0, vip: 1)
        lan.run(until: .seconds(5))
        #expect(lan.holders == [2, 2], "seed \(seed): \(lan.holders)")
        #expect(lan.boards[0][1].state == .fault && lan.boards[0][0].state == .backup, "seed \(seed)")
        let moves = lan.takeovers
        lan.apply(lan.boards[0][1].onLink(up: true, now: lan.now), board: 0, vip: 1)
        lan.run(until: .seconds(10))
        #expect(lan.holders == [0, 0], "seed \(seed): \(lan.holders)")
        // One move back each, no more.
        #expect(lan.takeovers == moves.map { $0 + 1 }, "seed \(seed): \(moves) then \(lan.takeovers)")
    }

    /// A handover of one VIP (priority 0, as `hcctl vip handover` without a target does) takes its group along,
    /// and at every millisecond after it settles each VIP is held by exactly one board (make before break).
    @Test(arguments: seeds)
    func aHandoverOfOneMovesTheGroupWithoutAGap(seed: UInt64) {
        var lan = SimulatedGroupLAN(priorities: [[150, 150], [100, 100], [120, 120]], grouped: true, seed: seed)
        lan.run(until: .seconds(3))
        lan.apply(lan.boards[0][0].handOver(now: lan.now), board: 0, vip: 0)
        var unheld = 0
        lan.run(until: .seconds(6)) { lan in
            if lan.names.indices.contains(where: { vip in !lan.boards.indices.contains { lan.alive[$0] && lan.holding[$0][vip] } }) { unheld += 1 }
        }
        #expect(unheld == 0, "seed \(seed)")
        #expect(lan.holders == [2, 2], "seed \(seed): \(lan.holders)")
    }

    /// As in vrrp-failover.sh on CI: board 1 (100) holds the group for a moment at start, until board 0 (150)
    /// comes and preempts one VIP; the group rule hands the other over, which then defers to board 0. Board 0
    /// dies, board 2 (120) holds the group, and steps down to board 1 (99, as `hcctl vip handover` does): both
    /// VIPs go to board 1 within a second, the deferral to the dead board 0 no longer holding one back.
    @Test(arguments: seeds)
    func anOldDeferralDoesNotHoldAVIPBackFromAStepDown(seed: UInt64) {
        var lan = SimulatedGroupLAN(priorities: [[150, 150], [100, 100], [120, 120]], grouped: true, seed: seed)
        lan.alive[0] = false
        lan.alive[2] = false
        lan.run(until: .seconds(1))
        #expect(lan.holders == [1, 1], "seed \(seed): \(lan.holders)")
        for board in [0, 2] {
            lan.alive[board] = true
            for vip in lan.names.indices { lan.apply(lan.boards[board][vip].start(linkUp: true, now: lan.now), board: board, vip: vip) }
        }
        lan.run(until: .seconds(3))
        #expect(lan.holders == [0, 0], "seed \(seed): \(lan.holders)")
        lan.kill(0)
        lan.run(until: .seconds(5))
        #expect(lan.holders == [2, 2], "seed \(seed): \(lan.holders)")
        lan.steppingDown = [2]
        for vip in lan.names.indices { lan.apply(lan.boards[2][vip].setPriority(99, now: lan.now), board: 2, vip: vip) }
        lan.run(until: .seconds(6))
        #expect(lan.holders == [1, 1], "seed \(seed): \(lan.holders)")
    }
}
