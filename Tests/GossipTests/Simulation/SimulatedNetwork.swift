// A seeded UDP network for the gossip simulation: loss per node and per link, random latency, duplicates and
// partitions, all drawn from one SplitMix64 so that a seed replays exactly.
import HomecloudSchema

struct SimulatedNetwork {
    struct Link: Hashable {
        var from: Int
        var to: Int
    }

    var random: SplitMix64
    /// One-way latency, uniform in this range.
    var latency: ClosedRange<Duration> = .microseconds(200)...(.milliseconds(8))
    /// Loss on every datagram.
    var baseLoss = 0.0
    /// Loss on everything a node sends and everything it receives (a bad NIC, a busy Wi-Fi bridge).
    var nodeLoss: [Int: Double] = [:]
    /// Loss on one direction of one link.
    var linkLoss: [Link: Double] = [:]
    var duplicateRate = 0.0
    /// Partition group of each node; nodes in different groups cannot reach each other (nor over TCP).
    var partition: [Int: Int]?

    init(seed: UInt64) {
        random = SplitMix64(seed: seed)
    }

    func connected(_ a: Int, _ b: Int) -> Bool {
        guard let partition else { return true }
        return partition[a, default: 0] == partition[b, default: 0]
    }

    mutating func chance(_ probability: Double) -> Bool {
        return Double(random.next() >> 11) / Double(1 << 53) < probability
    }

    mutating func randomLatency() -> Duration {
        let low = latency.lowerBound / .microseconds(1)
        let high = latency.upperBound / .microseconds(1)
        let span = UInt64(max(1, Int64(high - low) + 1))
        return .microseconds(Int64(low) + Int64(random.next() % span))
    }

    /// The delays after which a datagram from `from` to `to` arrives: none when lost, two when duplicated.
    mutating func delays(from: Int, to: Int) -> [Duration] {
        guard connected(from, to) else { return [] }
        // Every draw happens whatever the rates, so adding loss on one node does not reshuffle the latencies.
        let lostBase = chance(baseLoss)
        let lostSending = chance(nodeLoss[from, default: 0])
        let lostReceiving = chance(nodeLoss[to, default: 0])
        let lostLink = chance(linkLoss[Link(from: from, to: to), default: 0])
        if lostBase || lostSending || lostReceiving || lostLink { return [] }
        var delays = [randomLatency()]
        if chance(duplicateRate) { delays.append(randomLatency()) }
        return delays
    }
}
