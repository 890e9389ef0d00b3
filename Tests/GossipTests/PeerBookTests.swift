// The peers kept for the next start (PeerBook): the document's boards stay at their last address while they are
// down, so a board that was down at a power cut and knows nobody itself is still joined by the others.
import GossipCore
import Testing

@Suite struct PeerBookTests {
    func address(_ last: UInt8) -> GossipAddress { GossipAddress(ipv4: 10, 0, 0, last, port: 7964) }
    func member(_ name: String, _ last: UInt8, _ state: GossipMember.State) -> GossipMember {
        GossipMember(name: name, address: address(last), incarnation: 1, state: state, since: .zero)
    }
    let house: Set<String> = ["b1", "b2", "b3", "b4"]

    @Test func aBoardOfTheDocumentThatIsDownKeepsItsLastAddress() {
        var book = PeerBook(own: "b1", kept: [])
        let changed1 = book.update(members: [member("b1", 1, .alive), member("b2", 2, .alive), member("b4", 4, .alive)], documentNodes: house)
        #expect(changed1)
        #expect(book.fileText == "b2 10.0.0.2:7964\nb4 10.0.0.4:7964\n")
        // b4 is cut off, declared dead, then forgotten by SWIM: its address stays, the file is not rewritten.
        let changed2 = book.update(members: [member("b1", 1, .alive), member("b2", 2, .alive), member("b4", 4, .dead)], documentNodes: house)
        #expect(!changed2)
        let changed3 = book.update(members: [member("b1", 1, .alive), member("b2", 2, .alive)], documentNodes: house)
        #expect(!changed3)
        #expect(book.addresses["b4"] == address(4))
        // A board that left gracefully (a clean poweroff) is kept too.
        let changed4 = book.update(members: [member("b2", 2, .left)], documentNodes: house)
        #expect(!changed4)
        #expect(book.addresses.keys.sorted() == ["b2", "b4"])
    }

    @Test func aBoardBackAtANewAddressReplacesItsOldOne() {
        var book = PeerBook(own: "b1", kept: [("b3", address(3))])
        let changed5 = book.update(members: [member("b3", 33, .alive)], documentNodes: house)
        #expect(changed5)
        #expect(book.addresses["b3"] == address(33))
    }

    @Test func aMemberTheDocumentDoesNotNameIsKeptOnlyWhileItIsAMember() {
        var book = PeerBook(own: "b1", kept: [("old", address(9))])
        // Before any document nothing says which boards belong: nothing is dropped.
        let changed6 = book.update(members: [member("guest", 8, .alive)], documentNodes: nil)
        #expect(changed6)
        #expect(book.addresses.keys.sorted() == ["guest", "old"])
        // With one: a live member stays (it is one), a board gone and not named goes.
        let changed7 = book.update(members: [member("guest", 8, .suspect)], documentNodes: house)
        #expect(changed7)
        #expect(book.addresses.keys.sorted() == ["guest"])
        let changed8 = book.update(members: [member("guest", 8, .dead)], documentNodes: house)
        #expect(changed8)
        #expect(book.addresses.isEmpty && book.fileText.isEmpty)
    }

    @Test func itsOwnNameIsNeverKept() {
        var book = PeerBook(own: "b1", kept: [("b1", address(1)), ("b2", address(2))])
        #expect(book.addresses.keys.sorted() == ["b2"])
        book.update(members: [member("b1", 1, .alive)], documentNodes: house)
        #expect(book.addresses.keys.sorted() == ["b2"])
    }
}
