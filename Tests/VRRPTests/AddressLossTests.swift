// A VIP removed by another tool: the master puts it back and announces it; RTM_DELADDR messages are parsed.
import HomecloudSchema
import Testing
@testable import VRRP
@testable import VRRPCore

/// One RTM_DELADDR message: nlmsghdr, ifaddrmsg (family, prefix length, flags, scope, index), then the
/// given attributes (type, value), little-endian as on the boards.
func deletedAddressMessage(family: UInt8, index: Int32, attributes: [(UInt16, [UInt8])], type: UInt16 = 21) -> [UInt8] {
    func bytes<T>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }
    var body = [family, 24, 0, 0] + bytes(index)
    for (kind, value) in attributes {
        body += bytes(UInt16(4 + value.count)) + bytes(kind) + value
        while body.count % 4 != 0 { body.append(0) }
    }
    return bytes(UInt32(16 + body.count)) + bytes(type) + bytes(UInt16(0)) + bytes(UInt32(0)) + bytes(UInt32(0)) + body
}

@Suite struct AddressLossTests {
    @Test func aMasterPutsItsVIPBackAndAnnouncesIt() {
        var r = router()
        _ = r.start(linkUp: true, now: .zero)
        // A backup holds no VIP: a removed address is none of its business.
        #expect(r.onAddressesLost(now: .seconds(1)).isEmpty)
        _ = r.onTimer(now: r.nextDeadline!)
        #expect(r.state == .master)
        let actions = r.onAddressesLost(now: .seconds(5))
        #expect(actions == [.addAddresses, .announce])
        #expect(r.state == .master, "no transition: it never stopped being master")
    }

    @Test func aMasterHandingOverStillPutsItBackAndAStoppedRouterDoesNot() {
        var r = router()
        _ = r.start(linkUp: true, now: .zero)
        _ = r.onTimer(now: r.nextDeadline!)
        _ = r.handOver(now: .seconds(5))
        #expect(r.onAddressesLost(now: .seconds(5)).contains(.addAddresses), "it holds the VIP until a successor speaks")
        _ = r.finishStop(now: .seconds(6))
        #expect(r.onAddressesLost(now: .seconds(7)).isEmpty)
    }

    @Test func removedIPv4AndIPv6AddressesAreParsed() {
        let v4 = deletedAddressMessage(family: 2, index: 7, attributes: [(1, [10, 77, 0, 250]), (2, [10, 77, 0, 250]), (3, Array("eth0:hc\0".utf8))])
        let v6Bytes: [UInt8] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x25]
        let v6 = deletedAddressMessage(family: 10, index: 8, attributes: [(1, v6Bytes)])
        let removed = LinkWatcher.parseRemovedAddresses(v4 + v6)
        #expect(removed == [.init(index: 7, address: IPAddress("10.77.0.250")!), .init(index: 8, address: IPAddress(bytes: v6Bytes)!)])
        // The link parser skips address messages, and this one skips link messages.
        #expect(LinkWatcher.parse(v4 + v6).isEmpty)
        #expect(LinkWatcher.parseRemovedAddresses(linkMessage(type: 16, index: 3, flags: 0x41)).isEmpty)
    }

    @Test func newAddressesAndDamagedMessagesAreSkipped() {
        let added = deletedAddressMessage(family: 2, index: 7, attributes: [(2, [10, 77, 0, 250])], type: 20)
        #expect(LinkWatcher.parseRemovedAddresses(added).isEmpty)
        var lying = deletedAddressMessage(family: 2, index: 7, attributes: [(2, [10, 77, 0, 250])])
        lying[24] = 40  // the attribute claims more bytes than the message has
        #expect(LinkWatcher.parseRemovedAddresses(lying).isEmpty)
        let wrongSize = deletedAddressMessage(family: 2, index: 7, attributes: [(2, [10, 77, 0])])
        #expect(LinkWatcher.parseRemovedAddresses(wrongSize).isEmpty)
        #expect(LinkWatcher.parseRemovedAddresses(Array(deletedAddressMessage(family: 2, index: 7, attributes: [(2, [1, 2, 3, 4])]).prefix(20))).isEmpty)
        #expect(LinkWatcher.parseRemovedAddresses([]).isEmpty)
    }
}
