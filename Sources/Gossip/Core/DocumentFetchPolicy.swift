// When to fetch a peer's desired-state document: the one place that decides, from the generation and content
// hash a member's metadata announces against the ones this board runs.

/// A member announcing a newer document (a higher generation, or the same generation with a higher content
/// hash: the winner of a conflict) is fetched from at once; a fetch under way or just failed is not repeated
/// before `retryAfter`, so a flapping or slow peer is not hammered. Pure: the shell asks and carries it out.
public struct DocumentFetchPolicy: Sendable {
    /// The document this board runs.
    public private(set) var generation: UInt64 = 0
    public private(set) var hash: UInt64 = 0
    /// Short: a fetch that failed (a peer restarting, a lost connection) is tried again soon, and the periodic
    /// check (`checkInterval`) catches what no metadata change announces again.
    public static let retryAfter = Duration.milliseconds(500)
    public static let checkInterval = Duration.seconds(1)
    /// The next periodic check of every member: metadata changes trigger a fetch at once, and this catches a
    /// fetch that failed or was held back.
    public private(set) var nextCheck: Duration = .zero
    private var asked: [String: Duration] = [:]
    /// Content hashes of documents the agent refused (signature, policy): never fetched again. The last few only.
    private var refusedHashes: [UInt64] = []
    static let refusedKept = 64

    public init() {}

    /// The document in force changed (applied, read from the file, or fetched).
    public mutating func runs(generation: UInt64, hash: UInt64) {
        self.generation = generation
        self.hash = hash
    }

    /// Whether (generation, hash) is newer than what this board runs.
    public func isNewer(generation theirGeneration: UInt64, hash theirHash: UInt64) -> Bool {
        theirGeneration > generation || (theirGeneration == generation && theirHash != hash && theirHash > hash)
    }

    /// Whether to fetch now from `member`, which announces (generation, hash); if so the ask is noted.
    public mutating func shouldFetch(from member: String, generation theirGeneration: UInt64, hash theirHash: UInt64,
                                     now: Duration) -> Bool {
        guard isNewer(generation: theirGeneration, hash: theirHash), !refusedHashes.contains(theirHash) else { return false }
        if let last = asked[member], now - last < Self.retryAfter { return false }
        asked[member] = now
        return true
    }

    /// Whether to fetch now from `member`: alive, not this board (`myself`), and announcing (in the metadata
    /// `announced` reads, asked only then) a newer document; if so the ask is noted.
    public mutating func shouldFetch(from member: GossipMember, myself: String, now: Duration,
                                     announced: () -> (generation: UInt64, hash: UInt64)?) -> Bool {
        guard member.state == .alive, member.name != myself, let theirs = announced() else { return false }
        return shouldFetch(from: member.name, generation: theirs.generation, hash: theirs.hash, now: now)
    }

    /// At a timer (any of the shell's): whether the periodic check of every member is due now (then the next
    /// one is `checkInterval` later).
    public mutating func onCheckTimer(now: Duration) -> Bool {
        guard now >= nextCheck else { return false }
        nextCheck = now + Self.checkInterval
        return true
    }

    /// The fetch from `member` ended (its answer absorbed, or failed): a newer announcement may ask again at once.
    public mutating func fetchEnded(from member: String, succeeded: Bool, now: Duration) {
        if succeeded { asked[member] = nil } else { asked[member] = now }
    }

    /// Whether a document text a peer sent in a push-pull is worth handing on to be parsed: not the one this board
    /// runs, and not one its sender's own metadata (`announced`, with the text's hash) says is older. Parsing a
    /// large document costs far more than hashing it, and every push-pull carries one.
    public func shouldOffer(textHash: UInt64, announced: (generation: UInt64, hash: UInt64)?) -> Bool {
        guard textHash != hash, !refusedHashes.contains(textHash) else { return false }
        if let announced, announced.hash == textHash { return isNewer(generation: announced.generation, hash: announced.hash) }
        return true
    }

    /// The agent refused the document with this content hash: announcing it again fetches nothing.
    public mutating func refused(hash: UInt64) {
        guard !refusedHashes.contains(hash) else { return }
        refusedHashes.append(hash)
        if refusedHashes.count > Self.refusedKept { refusedHashes.removeFirst() }
    }

    /// A member that left the cluster is forgotten.
    public mutating func forget(_ member: String) { asked[member] = nil }
}
