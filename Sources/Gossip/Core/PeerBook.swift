// The peers a board keeps in state_dir for its next start: the boards it knows, each at its last address, and
// the document's boards that are gone for now (dead, left, or already forgotten by SWIM) at theirs. Pure.
//
// Why the gone ones too: after a power cut a board rejoins through the peers its last run kept. A board that
// was down when the others last wrote their files (cut off, crashed, its SD card being replaced) was missing
// from every file when only live members were kept; if it also knows nobody itself (an empty `join`, an empty
// state_dir) nobody ever joined it again (seen in Tests/integration/power-cut-boards.sh). The document says
// which boards belong to the house, so their addresses are kept while it names them; a member the document
// does not name is kept only while it is a member (alive or suspect), as before.

/// Name → last known address; `fileText` is the state_dir file ("NAME ADDRESS:PORT" lines, sorted by name).
public struct PeerBook: Sendable, Equatable {
    public private(set) var addresses: [String: GossipAddress]
    private let own: String

    /// `kept`: what the last run wrote (this board's own name is never kept).
    public init(own: String, kept: [(name: String, address: GossipAddress)]) {
        self.own = own
        var addresses: [String: GossipAddress] = [:]
        for (name, address) in kept where name != own { addresses[name] = address }
        self.addresses = addresses
    }

    /// Takes gossip's members and the document's node names (nil before any document: then nothing is dropped,
    /// since nothing says which boards belong). Returns whether the book changed (the file is to be written).
    @discardableResult
    public mutating func update(members: [GossipMember], documentNodes: Set<String>?) -> Bool {
        let before = addresses
        var active: Set<String> = []
        for member in members where member.name != own && member.isActive {
            active.insert(member.name)
            addresses[member.name] = member.address
        }
        if let documentNodes {
            addresses = addresses.filter { active.contains($0.key) || documentNodes.contains($0.key) }
        }
        return addresses != before
    }

    public var fileText: String {
        addresses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)\n" }.joined()
    }
}
