// The VIP through real netlink, in a network namespace of the test's own (root only): add, list, remove, and
// the record that lets a restarted agent remove what a crashed one left, and nothing else.
import CNetlinkRoute
import HomecloudSchema
import Testing
@testable import VRRP
@testable import VRRPCore
#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` on a thread of its own that has entered the network namespace `name` (sockets and interface
/// look-ups then happen there); the test process itself stays where it was.
func inNetworkNamespace(_ name: String, _ body: @escaping @Sendable () throws -> Void) throws {
    final class Job: @unchecked Sendable {
        let name: String
        let body: @Sendable () throws -> Void
        var error: Error?
        init(name: String, body: @escaping @Sendable () throws -> Void) {
            self.name = name
            self.body = body
        }
    }
    let job = Job(name: name, body: body)
    var thread = pthread_t()
    let box = Unmanaged.passRetained(job).toOpaque()
    pthread_create(&thread, nil, { raw in
        let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
        let fd = open("/run/netns/\(job.name)", O_RDONLY)
        guard fd >= 0, hc_enter_network_namespace(fd) == 0 else {
            job.error = NetlinkError(description: "cannot enter namespace \(job.name)")
            return nil
        }
        close(fd)
        do { try job.body() } catch { job.error = error }
        return nil
    }, box)
    pthread_join(thread, nil)
    if let error = job.error { throw error }
}

func shell(_ command: String) -> Int32 { system(command) }

@Suite(.serialized, .enabled(if: getuid() == 0, "needs root for a network namespace"))
struct VIPAddressTableTests {
    let namespace = "hct-vrrp-\(getpid())"

    init() {
        _ = shell("ip netns add \(namespace) && ip -n \(namespace) link add eth0 type veth peer name peer0 && ip -n \(namespace) link set peer0 up && ip -n \(namespace) link set eth0 up && ip -n \(namespace) addr add 10.88.0.1/24 dev eth0")
    }

    func addresses() -> String {
        var output = ""
        let pipe = popen("ip -n \(namespace) -o addr show dev eth0", "r")!
        var buffer = [CChar](repeating: 0, count: 4096)
        while fgets(&buffer, Int32(buffer.count), pipe) != nil {
            output += String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        pclose(pipe)
        return output
    }

    @Test func addsListsAndRemovesVIPs() throws {
        defer { _ = shell("ip netns del \(namespace)") }
        let v4 = IPPrefix("10.88.0.250/24")!
        let v6 = IPPrefix("fd88::250/64")!
        try inNetworkNamespace(namespace) {
            let table = try VIPAddressTable()
            try table.add(v4, interface: "eth0")
            try table.add(v4, interface: "eth0")  // twice is fine
            try table.add(v6, interface: "eth0")
            let listed = try table.addresses(on: "eth0")
            #expect(listed.contains(v4) && listed.contains(v6) && listed.contains(IPPrefix("10.88.0.1/24")!))
        }
        let shown = addresses()
        #expect(shown.contains("inet 10.88.0.250/24") && shown.contains("eth0:hc"))
        #expect(shown.contains("inet6 fd88::250/64"))
        try inNetworkNamespace(namespace) {
            let table = try VIPAddressTable()
            try table.remove(v4, interface: "eth0")
            try table.remove(v4, interface: "eth0")  // already gone is fine
            try table.remove(v6, interface: "eth0")
            #expect(throws: NetlinkError.self) { try table.add(v4, interface: "nosuch0") }
        }
        #expect(!addresses().contains("10.88.0.250"))
        #expect(addresses().contains("10.88.0.1/24"))
    }

    @Test func aRestartRemovesWhatACrashLeftAndNothingElse() throws {
        defer { _ = shell("ip netns del \(namespace)") }
        var template = Array("/tmp/hct-owned-XXXXXX".utf8CString)
        let directory = String(cString: mkdtemp(&template)!)
        defer { _ = shell("rm -rf \(directory)") }
        let path = directory + "/vips.owned"
        try inNetworkNamespace(namespace) {
            let table = try VIPAddressTable()
            var owned = OwnedVIPs(path: path)
            let vip = OwnedVIPs.Entry(interface: "eth0", prefix: IPPrefix("10.88.0.250/24")!)
            try owned.record(vip)
            try table.add(vip.prefix, interface: "eth0")
            // The agent dies here. An admin's own address stays untouched by the next run.
            try table.add(IPPrefix("10.88.0.77/24")!, interface: "eth0")
            var restarted = OwnedVIPs(path: path)
            #expect(restarted.entries == [vip])
            #expect(restarted.removeStale(using: table) == [vip])
            #expect(OwnedVIPs(path: path).entries.isEmpty)
            let left = try table.addresses(on: "eth0")
            #expect(!left.contains(vip.prefix))
            #expect(left.contains(IPPrefix("10.88.0.77/24")!))
        }
    }
}
