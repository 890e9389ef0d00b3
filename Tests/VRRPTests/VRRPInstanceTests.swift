// The state machine through RFC 5798's transitions and hcagent's additions, on virtual time.
import HomecloudSchema
import Testing
@testable import VRRPCore

let vip = IPAddress("192.168.1.250")!
let me = IPAddress("192.168.1.11")!
let lowerAddress = IPAddress("192.168.1.5")!
let higherAddress = IPAddress("192.168.1.20")!

func router(priority: Int = 100, advert: Duration = .seconds(1), preempt: Bool = true, preemptDelay: Duration = .zero,
            address: IPAddress = me) -> VRRPInstance {
    VRRPInstance(settings: .init(vrid: 51, addresses: [vip], advertInterval: advert, priority: priority, preempt: preempt,
                                 preemptDelay: preemptDelay, primaryAddress: address))
}

func advert(_ priority: UInt8, interval: UInt16 = 100) -> VRRPAdvertisement {
    VRRPAdvertisement(vrid: 51, priority: priority, intervalCentiseconds: interval, addresses: [vip])
}

extension [VRRPInstance.Action] {
    var sentPriorities: [UInt8] {
        compactMap { if case .sendAdvertisement(let packet) = $0 { packet.priority } else { nil } }
    }
    var transitions: [VRRPInstance.State] {
        compactMap { if case .transition(_, let to, _) = $0 { to } else { nil } }
    }
}

@Suite struct VRRPInstanceTests {
    @Test func startsAsBackupAndBecomesMasterAfterTheMasterDownInterval() {
        var r = router(priority: 100)
        #expect(r.start(linkUp: true, now: .zero).transitions == [.backup])
        // Master_Down_Interval = 3 × 1 s + (256 − 100) × 1 s / 256 = 3.609375 s.
        #expect(r.nextDeadline == .microseconds(3_609_375))
        #expect(r.onTimer(now: .seconds(3)).isEmpty)
        let actions = r.onTimer(now: .microseconds(3_609_375))
        #expect(actions.first == .addAddresses, "the VIP is on the interface before it is announced")
        #expect(actions.sentPriorities == [100])
        #expect(actions.contains(.announce))
        #expect(r.state == .master && r.masterAddress == me)
    }

    @Test func masterAdvertisesEveryIntervalAndAnnouncesTwiceMore() {
        var r = router()
        _ = r.start(linkUp: true, now: .zero)
        let takeover = r.nextDeadline!
        _ = r.onTimer(now: takeover)
        var advertTimes: [Duration] = [], announcements = 0
        while let next = r.nextDeadline, next <= takeover + .seconds(10) {
            let actions = r.onTimer(now: next)
            advertTimes += actions.sentPriorities.map { _ in next - takeover }
            announcements += actions.filter { $0 == .announce }.count
        }
        #expect(advertTimes == (1...10).map { Duration.seconds($0) })
        #expect(announcements == VRRPInstance.repeatAnnouncements)
    }

    @Test func backupFollowsAMasterOfHigherOrEqualPriority() {
        var r = router(priority: 100)
        _ = r.start(linkUp: true, now: .zero)
        var now = Duration.zero
        for _ in 0..<20 {
            now += .seconds(1)
            #expect(r.onAdvertisement(advert(100), from: higherAddress, now: now).isEmpty)
            #expect(r.onTimer(now: now).isEmpty)
        }
        #expect(r.state == .backup && r.masterAddress == higherAddress && r.masterPriority == 100)
    }

    @Test func aHigherBackupPreemptsALowerMasterAfterItsSkewTime() {
        var r = router(priority: 200)
        _ = r.start(linkUp: true, now: .zero)
        _ = r.onAdvertisement(advert(100), from: lowerAddress, now: .milliseconds(100))
        // Skew_Time = (256 − 200) × 1 s / 256 = 218.75 ms.
        #expect(r.nextDeadline == .milliseconds(100) + .microseconds(218_750))
        let actions = r.onTimer(now: r.nextDeadline!)
        #expect(actions.transitions == [.master])
        #expect(r.lastTransition?.reason.contains("preempting") == true)
    }

    @Test func withoutPreemptionALowerMasterKeepsTheVIP() {
        var r = router(priority: 200, preempt: false)
        _ = r.start(linkUp: true, now: .zero)
        var now = Duration.zero
        for _ in 0..<10 {
            now += .seconds(1)
            _ = r.onAdvertisement(advert(100), from: lowerAddress, now: now)
            #expect(r.onTimer(now: now).isEmpty)
        }
        #expect(r.state == .backup)
    }

    @Test func preemptDelayHoldsBackPreemptionAfterStart() {
        var r = router(priority: 200, preemptDelay: .seconds(5))
        _ = r.start(linkUp: true, now: .zero)
        var now = Duration.zero
        while now < .seconds(5) {
            now += .seconds(1)
            _ = r.onAdvertisement(advert(100), from: lowerAddress, now: now)
            _ = r.onTimer(now: now)
            if now < .seconds(5) { #expect(r.state == .backup, "at \(now)") }
        }
        _ = r.onTimer(now: r.nextDeadline!)
        #expect(r.state == .master)
    }

    @Test func masterStepsDownForHigherPriorityAndForEqualPriorityWithHigherAddress() {
        for (priority, source, stepsDown) in [(UInt8(150), lowerAddress, true), (100, higherAddress, true), (100, lowerAddress, false), (50, higherAddress, false)] {
            var r = router(priority: 100)
            _ = r.start(linkUp: true, now: .zero)
            _ = r.onTimer(now: r.nextDeadline!)
            let actions = r.onAdvertisement(advert(priority), from: source, now: .seconds(4))
            if stepsDown {
                #expect(actions.first == .removeAddresses && r.state == .backup, "\(priority) from \(source)")
            } else {
                // Split-brain repair: the rightful master re-announces at once.
                #expect(actions.sentPriorities == [100] && actions.contains(.announce) && r.state == .master, "\(priority) from \(source)")
            }
        }
    }

    @Test func priorityZeroFromTheMaster() {
        // A backup takes over after its skew time, not a master down interval.
        var backup = router(priority: 100)
        _ = backup.start(linkUp: true, now: .zero)
        _ = backup.onAdvertisement(advert(150), from: higherAddress, now: .seconds(1))
        _ = backup.onAdvertisement(advert(0), from: higherAddress, now: .seconds(2))
        #expect(backup.nextDeadline == .seconds(2) + .microseconds(609_375))
        #expect(backup.onTimer(now: backup.nextDeadline!).transitions == [.master])
        // A master answers another's priority 0 with an advertisement at once.
        var master = router()
        _ = master.start(linkUp: true, now: .zero)
        _ = master.onTimer(now: master.nextDeadline!)
        #expect(master.onAdvertisement(advert(0), from: lowerAddress, now: .seconds(4)).sentPriorities == [100])
    }

    @Test func handoverKeepsTheVIPUntilTheSuccessorSpeaksAndDoesNotPreemptBack() {
        var r = router(priority: 200)
        _ = r.start(linkUp: true, now: .zero)
        _ = r.onTimer(now: r.nextDeadline!)
        let yielding = r.handOver(now: .seconds(5))
        #expect(yielding.sentPriorities == [0])
        #expect(!yielding.contains(.removeAddresses) && r.state == .master)
        let stepped = r.onAdvertisement(advert(100), from: lowerAddress, now: .milliseconds(5400))
        #expect(stepped.first == .removeAddresses && r.state == .backup)
        // The successor has a lower priority; this router no longer preempts it.
        var now = Duration.milliseconds(5400)
        for _ in 0..<10 {
            now += .seconds(1)
            _ = r.onAdvertisement(advert(100), from: lowerAddress, now: now)
            #expect(r.onTimer(now: now).isEmpty)
        }
        #expect(r.state == .backup)
    }

    @Test func aMasterDeferringToAChosenSuccessorStepsDownForItAndStaysDown() {
        var r = router(priority: 200)
        _ = r.start(linkUp: true, now: .zero)
        _ = r.onTimer(now: r.nextDeadline!)
        r.deferToSuccessor()
        #expect(r.onTimer(now: r.nextDeadline!).sentPriorities == [200], "still master, advertising as before")
        // The successor advertises 254 (its boost) and takes over, and keeps 254 while it holds the VIP.
        #expect(r.onAdvertisement(advert(254), from: lowerAddress, now: .seconds(5)).first == .removeAddresses)
        var now = Duration.seconds(5)
        for _ in 0..<10 {
            now += .seconds(1)
            _ = r.onAdvertisement(advert(254), from: lowerAddress, now: now)
            #expect(r.onTimer(now: now).isEmpty)
        }
        #expect(r.state == .backup)
        r.stopDeferring()
        _ = r.onAdvertisement(advert(100), from: lowerAddress, now: now + .seconds(1))
        #expect(r.onTimer(now: r.nextDeadline!).transitions == [.master], "preempts again once it stops deferring")
    }

    /// A router that handed over (here its group moved to A at 150) and then hears B at 120 hold the VIP (A has
    /// gone): its promise was not to preempt 150. When B steps down (advertising 99) it preempts B, as any board would.
    @Test func aDeferralEndsWhenAWeakerMasterHoldsTheVIP() {
        var r = router(priority: 100)
        _ = r.start(linkUp: true, now: .zero)
        _ = r.onTimer(now: r.nextDeadline!)
        _ = r.handOver(now: .seconds(5))
        _ = r.onAdvertisement(advert(150), from: higherAddress, now: .milliseconds(5100))
        #expect(r.state == .backup)
        let b = IPAddress("192.168.1.12")!
        var now = Duration.seconds(6)
        _ = r.onAdvertisement(advert(120), from: b, now: now)
        now += .seconds(1)
        _ = r.onAdvertisement(advert(120), from: b, now: now)
        #expect(r.onTimer(now: now).isEmpty, "120 against 100: B is rightly master")
        // Two advertisements at 120, under the 150 it deferred to: the deferral has ended.
        now += .seconds(1)
        _ = r.onAdvertisement(advert(99), from: b, now: now)
        // Preempting a lower master takes the skew time: (256 - 100) / 256 s.
        #expect(r.onTimer(now: now + .microseconds(609_375)).transitions == [.master], "it preempts B stepping down")
    }

    /// After a handover at priority 0 the race may go to a lower board first and then to a better one: the
    /// better one (above the priority the VIP was taken with) keeps the deferral, so this router stays backup.
    @Test func aDeferralHoldsWhileTheMasterIsNoWeakerThanTheOneItHandedOverTo() {
        var r = router(priority: 150)
        _ = r.start(linkUp: true, now: .zero)
        _ = r.onTimer(now: r.nextDeadline!)
        _ = r.handOver(now: .seconds(5))
        _ = r.onAdvertisement(advert(110), from: lowerAddress, now: .milliseconds(5100))
        var now = Duration.milliseconds(5100)
        // The weaker board sends one more while it was master for a moment; the better one holds it from then on.
        _ = r.onAdvertisement(advert(100), from: IPAddress("192.168.1.13")!, now: .milliseconds(5110))
        for _ in 0..<5 {
            now += .seconds(1)
            _ = r.onAdvertisement(advert(120), from: higherAddress, now: now)
            #expect(r.onTimer(now: now).isEmpty)
        }
        #expect(r.state == .backup)
    }

    /// The board it handed over to advertises less than it took the VIP with (a failing probe, its own step-down):
    /// the promise ends, and the better router preempts.
    @Test func aDeferralEndsWhenItsHolderAdvertisesLess() {
        var r = router(priority: 200)
        _ = r.start(linkUp: true, now: .zero)
        _ = r.onTimer(now: r.nextDeadline!)
        _ = r.handOver(now: .seconds(5))
        _ = r.onAdvertisement(advert(100), from: lowerAddress, now: .milliseconds(5100))
        var now = Duration.milliseconds(5100)
        for _ in 0..<3 {
            now += .seconds(1)
            _ = r.onAdvertisement(advert(100), from: lowerAddress, now: now)
            #expect(r.onTimer(now: now).isEmpty)
        }
        now += .seconds(1)
        _ = r.onAdvertisement(advert(99), from: lowerAddress, now: now)
        #expect(r.onTimer(now: now + .microseconds(218_750)).isEmpty, "one weaker advertisement is not enough")
        now += .seconds(1)
        _ = r.onAdvertisement(advert(99), from: lowerAddress, now: now)
        #expect(r.onTimer(now: now + .microseconds(218_750)).transitions == [.master], "two are: it preempts after its skew time")
    }

    @Test func handoverWithNoOneToTakeOverKeepsTheVIP() {
        var r = router()
        _ = r.start(linkUp: true, now: .zero)
        _ = r.onTimer(now: r.nextDeadline!)
        _ = r.handOver(now: .seconds(10))
        var now = Duration.seconds(10)
        while now < .seconds(20) {
            now = r.nextDeadline!
            _ = r.onTimer(now: now)
        }
        #expect(r.state == .master)
        #expect(r.onTimer(now: r.nextDeadline!).sentPriorities == [100])
    }

    @Test func gracefulStopEndsWhenTheSuccessorSpeaksOrAtOnceWithPriorityZero() {
        var r = router()
        _ = r.start(linkUp: true, now: .zero)
        _ = r.onTimer(now: r.nextDeadline!)
        #expect(r.stop(now: .seconds(5)).sentPriorities == [0])
        let handed = r.onAdvertisement(advert(90), from: lowerAddress, now: .milliseconds(5700))
        #expect(handed.contains(.removeAddresses) && r.state == .stopped && handed.sentPriorities.isEmpty)

        var alone = router()
        _ = alone.start(linkUp: true, now: .zero)
        _ = alone.onTimer(now: alone.nextDeadline!)
        _ = alone.stop(now: .seconds(5))
        let forced = alone.finishStop(now: .seconds(6))
        #expect(forced.sentPriorities == [0] && forced.contains(.removeAddresses) && alone.state == .stopped)
        #expect(alone.nextDeadline == nil)
    }

    @Test func linkDownIsFaultAndUpIsBackup() {
        var r = router()
        _ = r.start(linkUp: true, now: .zero)
        _ = r.onTimer(now: r.nextDeadline!)
        let down = r.onLink(up: false, now: .seconds(5))
        #expect(down.first == .removeAddresses && r.state == .fault && r.nextDeadline == nil)
        #expect(r.onAdvertisement(advert(50), from: lowerAddress, now: .seconds(6)).isEmpty)
        #expect(r.onLink(up: true, now: .seconds(7)).transitions == [.backup])
        var startedDown = router()
        #expect(startedDown.start(linkUp: false, now: .zero).transitions == [.fault])
    }

    @Test func aPriorityChangeIsAdvertisedAtOnceAndCanMakeABackupPreempt() {
        var master = router(priority: 150)
        _ = master.start(linkUp: true, now: .zero)
        _ = master.onTimer(now: master.nextDeadline!)
        #expect(master.setPriority(90, now: .seconds(4)).sentPriorities == [90])
        #expect(master.state == .master, "keeps the VIP until the new master speaks")

        var backup = router(priority: 100)
        _ = backup.start(linkUp: true, now: .zero)
        _ = backup.onAdvertisement(advert(120), from: higherAddress, now: .seconds(1))
        _ = backup.setPriority(130, now: .seconds(1))
        #expect(backup.nextDeadline == .seconds(1) + .seconds(1) * 126 / 256)
    }

    @Test func packetsForOtherRoutersOrFromItselfAreIgnored() {
        var r = router(priority: 100)
        _ = r.start(linkUp: true, now: .zero)
        let deadline = r.nextDeadline
        var other = advert(200)
        other.vrid = 52
        _ = r.onAdvertisement(other, from: higherAddress, now: .seconds(1))
        _ = r.onAdvertisement(advert(200), from: me, now: .seconds(1))
        #expect(r.nextDeadline == deadline && r.masterAddress == nil)
    }
}
