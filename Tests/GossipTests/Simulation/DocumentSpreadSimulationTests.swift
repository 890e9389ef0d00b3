// Desired-state documents spreading through a seeded SimulatedCluster as the gossip driver spreads them:
// metadata announces (generation, hash), DocumentFetchPolicy says whom to fetch from and when, a fetch is a
// push-pull answered after a delay (failed across a partition), and the agent's store takes a newer document
// and refuses a bad one (say, badly signed). Checked after every step; failures name the seed.
import HomecloudSchema
import Testing
@testable import Gossip

struct DocumentSpread {
    struct Document: Equatable {
        var generation: UInt64
        var hash: UInt64
        /// The store refuses it (a signature no trusted key made).
        var bad = false
    }

    struct Fetch {
        var at: Duration
        var asker: Int
        var peer: Int
    }

    var cluster: SimulatedCluster
    var policies: [DocumentFetchPolicy]
    var running: [Document]
    var inFlight: [Fetch] = []
    /// A push-pull's round trip, or how long a failed one takes to fail.
    var fetchDelay = Duration.milliseconds(30)
    /// Fetches started, by (asker, the hash it was after).
    var fetchesOf: [String: Int] = [:]
    /// Hashes each board has refused.
    var refused: [Int: Set<UInt64>] = [:]
    /// Boards made to serve a bad document (an old agent, a tampered store): the others must not take it.
    var liars: Set<Int> = []
    var violations: [String] = []
    private var changesSeen = 0

    init(size: Int, seed: UInt64, first: Document) {
        cluster = SimulatedCluster(size: size, seed: seed)
        cluster.network.baseLoss = 0.01
        policies = Array(repeating: DocumentFetchPolicy(), count: size)
        running = Array(repeating: first, count: size)
        for index in 0..<size { announce(first, on: index) }
        cluster.joinAll()
    }

    static func metadata(_ document: Document) -> [UInt8] {
        NodeMetadata(version: "1", generation: document.generation, hash: document.hash, roles: []).bytes
    }

    /// The document `index` runs changed: its policy and its metadata follow (GossipDriver.onDocument).
    mutating func announce(_ document: Document, on index: Int) {
        running[index] = document
        policies[index].runs(generation: document.generation, hash: document.hash)
        if let actions = try? cluster.nodes[index].core.setMetadata(Self.metadata(document), now: cluster.now) {
            cluster.apply(actions, of: index)
        }
    }

    /// hcctl apply on board `index`.
    mutating func apply(_ document: Document, on index: Int) { announce(document, on: index) }

    /// GossipDriver.fetchNewerDocument: DocumentFetchPolicy decides.
    mutating func consider(_ member: GossipMember, by asker: Int) {
        guard cluster.nodes[asker].running, let peer = cluster.nodes.firstIndex(where: { $0.name == member.name }) else { return }
        var policy = policies[asker]
        let announced = NodeMetadata(member.metadata).map { ($0.generation, $0.hash) }
        let fetch = policy.shouldFetch(from: member, myself: cluster.nodes[asker].name, now: cluster.now, announced: { announced })
        policies[asker] = policy
        guard fetch, let announced else { return }
        guard violations.count < 10 else { return }
        if member.state != .alive || member.name == cluster.nodes[asker].name {
            violations.append("\(cluster.now): node-\(asker) fetches from \(member)")
        }
        if refused[asker, default: []].contains(announced.1) {
            violations.append("\(cluster.now): node-\(asker) fetches \(announced.1), which it refused")
        }
        if inFlight.contains(where: { $0.asker == asker && $0.peer == peer }) {
            violations.append("\(cluster.now): node-\(asker) fetches from node-\(peer) twice at once")
        }
        fetchesOf["\(asker) \(announced.1)", default: 0] += 1
        inFlight.append(Fetch(at: cluster.now + fetchDelay, asker: asker, peer: peer))
    }

    mutating func step() {
        cluster.advance()
        let now = cluster.now
        // A membership change (a new incarnation carries new metadata) triggers a look at once.
        let changes = cluster.changes[changesSeen...]
        changesSeen = cluster.changes.count
        for change in changes { consider(change.member, by: change.observer) }
        for index in cluster.nodes.indices where cluster.nodes[index].running && policies[index].onCheckTimer(now: now) {
            for member in cluster.nodes[index].core.members { consider(member, by: index) }
        }
        let due = inFlight.filter { $0.at <= now }
        inFlight.removeAll { $0.at <= now }
        for fetch in due { answer(fetch) }
        for index in running.indices where running[index].bad && !liars.contains(index) && violations.count < 10 {
            violations.append("\(now): node-\(index) runs a bad document")
        }
    }

    /// The push-pull's answer: the peer's document, offered to the store when the policy says it may be newer.
    mutating func answer(_ fetch: Fetch) {
        let (asker, peer) = (fetch.asker, fetch.peer)
        let peerName = cluster.nodes[peer].name
        guard cluster.nodes[asker].running, cluster.nodes[peer].running, cluster.network.connected(asker, peer) else {
            policies[asker].fetchEnded(from: peerName, succeeded: false, now: cluster.now)
            return
        }
        let document = running[peer]
        let announced = NodeMetadata(cluster.nodes[peer].core.myself.metadata).map { ($0.generation, $0.hash) }
        if policies[asker].shouldOffer(textHash: document.hash, announced: announced) {
            // The store: a bad document is refused (and not fetched again), a newer one runs.
            if document.bad {
                refused[asker, default: []].insert(document.hash)
                policies[asker].refused(hash: document.hash)
            } else if policies[asker].isNewer(generation: document.generation, hash: document.hash) {
                announce(document, on: asker)
            }
        }
        policies[asker].fetchEnded(from: peerName, succeeded: true, now: cluster.now)
    }

    mutating func run(until end: Duration) {
        while cluster.now + cluster.step <= end { step() }
    }

    /// Runs until every running board runs `document`; the time that took, or nil.
    mutating func runUntilEveryoneRuns(_ document: Document, within limit: Duration) -> Duration? {
        let start = cluster.now
        while cluster.now - start < limit {
            step()
            if cluster.running.allSatisfy({ running[$0] == document }) { return cluster.now - start }
        }
        return nil
    }
}

@Suite struct DocumentSpreadSimulationTests {
    static let seeds: [UInt64] = (1...20).map { $0 &* 0x9E37_79B9_7F4A_7C15 }

    @Test(arguments: seeds)
    func aNewerDocumentReachesEveryBoardABadOneNoneAndAPartitionCatchesUpWhenItHeals(seed: UInt64) {
        let first = DocumentSpread.Document(generation: 1, hash: 0x11)
        var spread = DocumentSpread(size: 5, seed: seed, first: first)
        #expect(spread.cluster.runUntilConverged(within: .seconds(10)) != nil, "seed \(seed): \(spread.cluster.disagreements())")
        spread.run(until: spread.cluster.now + .seconds(2))

        // An apply on one board reaches every board within a second or two (metadata gossip, then a fetch).
        let second = DocumentSpread.Document(generation: 2, hash: 0x22)
        spread.apply(second, on: Int(seed % 5))
        let took = spread.runUntilEveryoneRuns(second, within: .seconds(5))
        #expect(took.map { $0 <= .seconds(2) } == true, "seed \(seed): generation 2 everywhere after \(String(describing: took))")

        // A bad document announced by one board: each other board fetches it once, refuses it, and keeps the last good.
        let bad = DocumentSpread.Document(generation: 3, hash: 0x33, bad: true)
        let liar = Int((seed >> 8) % 5)
        spread.liars = [liar]
        spread.announce(bad, on: liar)
        spread.run(until: spread.cluster.now + .seconds(10))
        for index in 0..<5 where index != liar {
            #expect(spread.running[index] == second, "seed \(seed): node-\(index) runs \(spread.running[index])")
            #expect(spread.fetchesOf["\(index) \(bad.hash)"] == 1, "seed \(seed): node-\(index) fetched the bad one \(spread.fetchesOf["\(index) \(bad.hash)"] ?? 0) times")
        }
        spread.announce(second, on: liar)
        spread.liars = []

        // Both sides of a partition apply generation 4 (a conflict): after the heal the higher hash wins everywhere.
        // (Within a side, news may wait for the heal: a cut-off member eats most of gossip's few retransmissions.)
        spread.cluster.partition([[0, 1], [2, 3, 4]])
        let left = DocumentSpread.Document(generation: 4, hash: 0x44)
        let right = DocumentSpread.Document(generation: 4, hash: 0x45)
        spread.apply(left, on: 0)
        spread.apply(right, on: 2)
        spread.run(until: spread.cluster.now + .seconds(5))
        #expect(spread.running[0] == left && !spread.running.contains { $0.generation == 4 && $0 != left && $0 != right },
                "seed \(seed): \(spread.running.map(\.hash))")
        #expect(spread.running[1] != right && spread.running[3] != left && spread.running[4] != left, "seed \(seed): across the partition")
        spread.cluster.heal()
        let healed = spread.runUntilEveryoneRuns(right, within: .seconds(30))
        #expect(healed != nil, "seed \(seed): \(spread.running.map(\.hash)), \(spread.cluster.disagreements())")
        #expect(spread.violations.isEmpty, "seed \(seed): \(spread.violations.prefix(3))")
        #expect(spread.cluster.invariantViolations.isEmpty, "seed \(seed): \(spread.cluster.invariantViolations.prefix(3))")
    }
}
