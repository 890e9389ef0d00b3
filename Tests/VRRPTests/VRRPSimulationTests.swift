// Several routers on a simulated LAN (seeded loss and delay, virtual time): one master, the rightful one, and
// how long the VIP is held by no one when the master dies, stops, or hands over.
import HomecloudSchema
import Testing
@testable import VRRPCore

/// A LAN of routers that deliver each other's advertisements after a seeded delay, some lost.
struct SimulatedLAN {
    var routers: [VRRPInstance]
    var alive: [Bool]
    /// Who holds the VIP on its interface (the shell's addAddresses / removeAddresses).
    var holding: [Bool]
    var random: SplitMix64
    var loss: Double
    var now = Duration.zero
    var inFlight: [(at: Duration, to: Int, packet: VRRPAdvertisement, from: IPAddress)] = []
    /// Time during which no router held the VIP, since `gapWatchStart`.
    var longestGap = Duration.zero
    var gapStart: Duration?
    var gapWatchStart = Duration.zero

    init(priorities: [Int], advert: Duration, seed: UInt64, loss: Double = 0) {
        routers = priorities.enumerated().map { index, priority in
            VRRPInstance(settings: .init(vrid: 51, addresses: [vip], advertInterval: advert, priority: priority,
                                         primaryAddress: IPAddress(bytes: [10, 0, 0, UInt8(index + 1)])!))
        }
        alive = Array(repeating: true, count: priorities.count)
        holding = Array(repeating: false, count: priorities.count)
        random = SplitMix64(seed: seed)
        self.loss = loss
        for index in routers.indices { apply(routers[index].start(linkUp: true, now: now), of: index) }
    }

    var masters: [Int] { routers.indices.filter { alive[$0] && routers[$0].state == .master } }

    mutating func apply(_ actions: [VRRPInstance.Action], of index: Int) {
        for action in actions {
            switch action {
            case .addAddresses: holding[index] = true
            case .removeAddresses: holding[index] = false
            case .sendAdvertisement(let packet):
                for peer in routers.indices where peer != index {
                    if Double(random.next() % 10_000) / 10_000 < loss { continue }
                    let delay = Duration.microseconds(Int64(100 + random.next() % 900))
                    inFlight.append((now + delay, peer, packet, routers[index].settings.primaryAddress))
                }
            case .announce, .transition: break
            }
        }
    }

    /// Advances to `end` in 1 ms steps, delivering packets and firing timers.
    mutating func run(until end: Duration) {
        while now < end {
            now += .milliseconds(1)
            let due = inFlight.filter { $0.at <= now }
            inFlight.removeAll { $0.at <= now }
            for packet in due where alive[packet.to] {
                apply(routers[packet.to].onAdvertisement(packet.packet, from: packet.from, now: now), of: packet.to)
            }
            for index in routers.indices where alive[index] {
                if let deadline = routers[index].nextDeadline, deadline <= now { apply(routers[index].onTimer(now: now), of: index) }
            }
            let held = routers.indices.contains { alive[$0] && holding[$0] }
            if held, let start = gapStart {
                if start >= gapWatchStart { longestGap = max(longestGap, now - start) }
                gapStart = nil
            } else if !held, gapStart == nil {
                gapStart = now
            }
        }
    }

    mutating func watchGaps() {
        longestGap = .zero
        gapWatchStart = now
    }

    /// kill -9 with the link cut: no more packets, and its VIP goes with it.
    mutating func kill(_ index: Int) {
        alive[index] = false
        holding[index] = false
    }
}

@Suite struct VRRPSimulationTests {
    static let seeds: [UInt64] = (1...20).map { $0 &* 0x9E37_79B9 }

    @Test(arguments: seeds)
    func theHighestPriorityEndsUpTheOnlyMaster(seed: UInt64) {
        var lan = SimulatedLAN(priorities: [100, 150, 120], advert: .milliseconds(100), seed: seed, loss: 0.05)
        lan.run(until: .seconds(10))
        #expect(lan.masters == [1], "seed \(seed)")
        #expect(lan.holding == [false, true, false], "seed \(seed)")
    }

    @Test(arguments: seeds)
    func deathOfTheMasterLeavesTheVIPUnheldForAtMostTheMasterDownInterval(seed: UInt64) {
        var lan = SimulatedLAN(priorities: [100, 150, 120], advert: .milliseconds(100), seed: seed)
        lan.run(until: .seconds(3))
        lan.watchGaps()
        lan.kill(1)
        lan.run(until: .seconds(6))
        #expect(lan.masters == [2], "seed \(seed)")
        // 3 × 100 ms + (256 − 120) × 100 ms / 256 ≈ 353 ms, plus the last advert's age and delivery.
        #expect(lan.longestGap <= .milliseconds(360), "seed \(seed): gap \(lan.longestGap)")
    }

    @Test(arguments: seeds)
    func gracefulStopAndHandoverLeaveNoGap(seed: UInt64) {
        for advert in [Duration.seconds(1), .milliseconds(100)] {
            var lan = SimulatedLAN(priorities: [100, 150, 120], advert: advert, seed: seed)
            lan.run(until: .seconds(6))
            lan.watchGaps()
            lan.apply(lan.routers[1].handOver(now: lan.now), of: 1)
            lan.run(until: lan.now + .seconds(5))
            #expect(lan.masters == [2] && lan.longestGap == .zero, "seed \(seed), advert \(advert): handover gap \(lan.longestGap)")
            lan.apply(lan.routers[2].stop(now: lan.now), of: 2)
            lan.run(until: lan.now + .seconds(5))
            #expect(lan.routers[2].state == .stopped, "seed \(seed)")
            #expect(lan.masters == [1] && lan.longestGap == .zero, "seed \(seed), advert \(advert): stop gap \(lan.longestGap)")
        }
    }

    @Test(arguments: seeds)
    func aHealedPartitionEndsWithOneMaster(seed: UInt64) {
        var lan = SimulatedLAN(priorities: [100, 150, 120], advert: .milliseconds(100), seed: seed, loss: 1)
        lan.run(until: .seconds(2))
        #expect(lan.masters.count == 3, "seed \(seed): every isolated router holds the VIP")
        lan.loss = 0.05
        lan.run(until: .seconds(4))
        #expect(lan.masters == [1] && lan.holding == [false, true, false], "seed \(seed)")
    }
}
