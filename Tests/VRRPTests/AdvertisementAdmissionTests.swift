// Which received packets reach a router, and the reason each of the others is dropped for.
import HomecloudSchema
import Testing
@testable import VRRP

private struct Listener: Equatable {
    var vrid: UInt8
    var peers: [IPAddress]?
}

private let source = IPAddress("192.168.1.2")!
private let group = IPAddress("224.0.0.18")!
private let virtualAddress = IPAddress("192.168.1.100")!

private func judge(_ payload: [UInt8], hopLimit: Int = 255, from sender: IPAddress = source,
                   _ listeners: [Listener]) -> AdvertisementAdmission.Verdict<Listener> {
    AdvertisementAdmission.judge(payload: payload, source: sender, destination: group, hopLimit: hopLimit,
                                 routers: listeners, vrid: \.vrid, peers: \.peers)
}

private func advert(vrid: UInt8, from sender: IPAddress = source) -> [UInt8] {
    VRRPAdvertisement(vrid: vrid, priority: 100, intervalCentiseconds: 100, addresses: [virtualAddress]).encoded(source: sender, destination: group)
}

private func dropReason(_ verdict: AdvertisementAdmission.Verdict<Listener>) -> AdvertisementAdmission.Drop? {
    if case .drop(let reason) = verdict { return reason }
    return nil
}

private func accepted(_ verdict: AdvertisementAdmission.Verdict<Listener>) -> (VRRPAdvertisement, Listener)? {
    if case .accept(let advertisement, let listener) = verdict { return (advertisement, listener) }
    return nil
}

@Suite struct AdvertisementAdmissionTests {
    @Test func aPacketThatCrossedARouterIsDroppedFirst() {
        #expect(dropReason(judge(advert(vrid: 51), hopLimit: 254, [Listener(vrid: 51)])) == .hopLimit)
        // IPv6 without the hop limit in the control message: -1, dropped as well.
        #expect(dropReason(judge(advert(vrid: 51), hopLimit: -1, [Listener(vrid: 51)])) == .hopLimit)
        // Before the packet is even read.
        #expect(dropReason(judge([0xFF], hopLimit: 1, [])) == .hopLimit)
    }

    @Test func anInvalidPacketIsDroppedWithTheDecodersReason() {
        #expect(dropReason(judge([0x31, 51], [Listener(vrid: 51)])) == .malformed(.truncated))
        var corrupt = advert(vrid: 51)
        corrupt[1] = 52
        #expect(dropReason(judge(corrupt, [Listener(vrid: 52)])) == .malformed(.badChecksum))
    }

    @Test func theRouterOfItsVRIDHearsIt() {
        let listeners = [Listener(vrid: 50), Listener(vrid: 51, peers: nil)]
        let verdict = accepted(judge(advert(vrid: 51), listeners))
        #expect(verdict?.1 == listeners[1])
        #expect(verdict?.0.vrid == 51 && verdict?.0.priority == 100)
        #expect(dropReason(judge(advert(vrid: 52), listeners)) == .unknownVRID)
        #expect(dropReason(judge(advert(vrid: 52), [])) == .unknownVRID)
    }

    @Test func aUnicastRouterHearsOnlyItsPeers() {
        let peer = IPAddress("192.168.1.3")!
        #expect(dropReason(judge(advert(vrid: 51), [Listener(vrid: 51, peers: [peer])])) == .notAPeer)
        #expect(accepted(judge(advert(vrid: 51, from: peer), from: peer, [Listener(vrid: 51, peers: [peer])])) != nil)
        // `unicast: members` with no live member yet: no one is a peer.
        #expect(dropReason(judge(advert(vrid: 51), [Listener(vrid: 51, peers: [])])) == .notAPeer)
    }

    @Test func everyReasonHasItsOwnMetricLabel() {
        let labels = AdvertisementAdmission.Drop.all.map(\.description)
        #expect(Set(labels).count == labels.count && labels.count == 10)
        #expect(labels.contains("hop_limit") && labels.contains("not_a_peer") && labels.contains("unknown_vrid") && labels.contains("bad_checksum"))
    }
}
