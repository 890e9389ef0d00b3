// The VIP record when state_dir cannot keep it for a while (found by make chaos, seed 62 at 30 s: a board became
// a VIP's master on a full state_dir, was killed after the disk was freed, and its restart did not know to
// remove the address: two boards held the VIP for good).
import HomecloudSchema
import Testing
@testable import VRRP
#if canImport(Glibc)
import Glibc
#endif

/// Whether `body` throws (it may mutate what it captures, which #expect(throws:) would not take as plainly).
private func fails(_ body: () throws -> Void) -> Bool {
    do { try body() } catch { return true }
    return false
}

@Suite struct OwnedVIPsTests {
    @Test func aRecordThatCouldNotBeSavedIsSavedOnceStateDirTakesItAgain() throws {
        let base = "/tmp/hcagent-owned-vips-\(getpid())"
        defer { unlink(base + "/state/vips.owned"); rmdir(base + "/state"); rmdir(base) }
        mkdir(base, 0o700)
        let path = base + "/state/vips.owned"  // its directory missing: every save fails, as on a full disk
        var owned = OwnedVIPs(path: path)
        let vip = OwnedVIPs.Entry(interface: "eth0", prefix: IPPrefix("10.88.0.250/24")!)
        let firstSaveFailed = fails { try owned.record(vip) }
        #expect(firstSaveFailed)
        #expect(owned.entries == [vip])
        #expect(owned.behind)
        // Still failing: the retry fails too and says so.
        let retryFailed = fails { try owned.saveIfBehind() }
        #expect(retryFailed)
        // The disk takes writes again: the retry keeps the record, and a restart then knows the address.
        mkdir(base + "/state", 0o700)
        try owned.saveIfBehind()
        #expect(!owned.behind)
        #expect(OwnedVIPs(path: path).entries == [vip])
    }

    @Test func recordingAnAddressAgainRetriesAFailedSave() throws {
        let base = "/tmp/hcagent-owned-vips-again-\(getpid())"
        defer { unlink(base + "/state/vips.owned"); rmdir(base + "/state"); rmdir(base) }
        mkdir(base, 0o700)
        let path = base + "/state/vips.owned"
        var owned = OwnedVIPs(path: path)
        let vip = OwnedVIPs.Entry(interface: "eth0", prefix: IPPrefix("10.88.0.251/24")!)
        let firstSaveFailed = fails { try owned.record(vip) }
        #expect(firstSaveFailed)
        mkdir(base + "/state", 0o700)
        // The same address added again (the VIP came back): the record is written, not skipped as known.
        try owned.record(vip)
        #expect(OwnedVIPs(path: path).entries == [vip])
    }
}
