// Reading rtnetlink's link messages: up means IFF_UP and IFF_RUNNING; short or foreign messages are skipped.
import Testing
@testable import VRRP
@testable import VRRPCore

/// One netlink message: nlmsghdr (length, type, flags, seq, pid) and ifinfomsg (family, pad, type, index,
/// flags, change), little-endian as on the boards.
func linkMessage(type: UInt16, index: Int32, flags: UInt32) -> [UInt8] {
    func bytes<T>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }
    return bytes(UInt32(32)) + bytes(type) + bytes(UInt16(0)) + bytes(UInt32(0)) + bytes(UInt32(0))
        + [0, 0] + bytes(UInt16(1)) + bytes(index) + bytes(flags) + bytes(UInt32(0xFFFF_FFFF))
}

@Suite struct LinkWatcherTests {
    @Test func upNeedsBothUpAndRunning() {
        let messages = linkMessage(type: 16, index: 3, flags: 0x1 | 0x40) + linkMessage(type: 16, index: 4, flags: 0x1)
            + linkMessage(type: 16, index: 5, flags: 0x40)
        #expect(LinkWatcher.parse(messages) == [.init(index: 3, up: true), .init(index: 4, up: false), .init(index: 5, up: false)])
    }

    @Test func otherMessagesAndTruncatedOnesAreSkipped() {
        let deleted = linkMessage(type: 17, index: 3, flags: 0x41)
        #expect(LinkWatcher.parse(deleted).isEmpty)
        #expect(LinkWatcher.parse(Array(linkMessage(type: 16, index: 3, flags: 0x41).prefix(20))).isEmpty)
        var lying = linkMessage(type: 16, index: 3, flags: 0x41)
        lying[0] = 200  // claims more bytes than there are
        #expect(LinkWatcher.parse(lying).isEmpty)
        #expect(LinkWatcher.parse([]).isEmpty)
    }
}
