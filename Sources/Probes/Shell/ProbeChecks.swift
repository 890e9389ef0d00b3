// Carries out one probe check: a TCP connect, an HTTP GET, a command (its process group killed on timeout),
// a file's presence and age, or a unit's state (asked of the caller, who holds the systemd bus).
import HomecloudSchema
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

public struct ProbeChecks: Sendable {
    let group: EventLoopGroup
    /// A unit's ActiveState, from the reconciler's bus; nil when it cannot be read.
    let unitState: @Sendable (String) async -> String?

    public init(group: EventLoopGroup, unitState: @escaping @Sendable (String) async -> String?) {
        self.group = group
        self.unitState = unitState
    }

    /// The check's result; past `timeout` it is cancelled and fails.
    public func run(_ check: Probe.Check, timeout: Duration) async -> ProbeHysteresis.Result {
        await withTaskGroup(of: ProbeHysteresis.Result?.self) { race in
            race.addTask { await self.check(check, timeout: timeout) }
            race.addTask {
                try? await Task.sleep(for: timeout)
                return Task.isCancelled ? nil : .fail("timed out after \(timeout)")
            }
            let first = await race.next() ?? .fail("no result")
            race.cancelAll()
            return first ?? .fail("cancelled")
        }
    }

    private func check(_ check: Probe.Check, timeout: Duration) async -> ProbeHysteresis.Result {
        switch check {
        case .tcp(let host, let port):
            do {
                let channel = try await ClientBootstrap(group: group).connectTimeout(.milliseconds(Int64(timeout / .milliseconds(1))))
                    .connect(host: host, port: port).get()
                try? await channel.close()
                return .pass
            } catch {
                return .fail("connect to \(host):\(port): \(error)")
            }
        case .http(let url, let expect, let body):
            return await http(url, expect: expect, body: body, timeout: timeout)
        case .exec(let argv):
            return await ProcessRun.run(argv)
        case .file(let path, let maxAge):
            var info = stat()
            guard stat(path, &info) == 0 else { return .fail("\(path): \(String(cString: strerror(errno)))") }
            if let maxAge {
                var now = timespec()
                clock_gettime(CLOCK_REALTIME, &now)
                let age = Duration.seconds(now.tv_sec - info.st_mtim.tv_sec) + .nanoseconds(now.tv_nsec - info.st_mtim.tv_nsec)
                guard age <= maxAge else {
                    return .fail("\(path) is \(DurationText.format(age)) old, more than \(DurationText.format(maxAge))")
                }
            }
            return .pass
        case .unit(let name):
            guard let state = await unitState(name) else { return .fail("cannot read \(name)") }
            return state == "active" ? .pass : .fail("\(name) is \(state)")
        }
    }

    /// A plain HTTP/1.0 GET (health endpoints on the board itself: no TLS, no redirects).
    private func http(_ url: String, expect: ClosedRange<Int>, body wanted: String?, timeout: Duration) async -> ProbeHysteresis.Result {
        guard let target = HTTPTarget(url) else { return .fail("\(url) is not an http:// URL") }
        do {
            let channel = try await ClientBootstrap(group: group).connectTimeout(.milliseconds(Int64(timeout / .milliseconds(1))))
                .connect(host: target.host, port: target.port) { channel in
                    channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
                }
            let response: [UInt8] = try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "GET \(target.path) HTTP/1.0\r\nHost: \(target.host)\r\nUser-Agent: hcagent\r\n\r\n"))
                var bytes: [UInt8] = []
                for try await chunk in inbound {
                    bytes += chunk.readableBytesView
                    if bytes.count > 65536 { break }  // a health answer is small; read no more than this
                }
                return bytes
            }
            let text = String(decoding: response, as: UTF8.self)
            let headerEnd = response.indices.first { response[$0...].starts(with: [13, 10, 13, 10]) }
            let statusLine = text.prefix { $0 != "\r" && $0 != "\n" }.split(separator: " ")
            guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return .fail("\(url): not an HTTP answer") }
            guard expect.contains(status) else { return .fail("\(url): status \(status)") }
            if let wanted {
                let body = headerEnd.map { String(decoding: response[($0 + 4)...], as: UTF8.self) } ?? ""
                guard body.utf8.count >= wanted.utf8.count, contains(body, wanted) else { return .fail("\(url): the body lacks \"\(wanted)\"") }
            }
            return .pass
        } catch {
            return .fail("\(url): \(error)")
        }
    }
}

/// Substring search without Foundation.
func contains(_ text: String, _ part: String) -> Bool {
    let haystack = Array(text.utf8), needle = Array(part.utf8)
    guard !needle.isEmpty else { return true }
    guard haystack.count >= needle.count else { return false }
    return (0...(haystack.count - needle.count)).contains { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
}

/// http://host[:port]/path, with a numeric host or a name resolved by NIO.
struct HTTPTarget: Equatable {
    var host: String
    var port: Int
    var path: String

    init?(_ url: String) {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        path = rest.count > authority.count ? String(rest.dropFirst(authority.count)) : "/"
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            port = after.hasPrefix(":") ? Int(after.dropFirst()) ?? -1 : 80
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            port = Int(authority[authority.index(after: colon)...]) ?? -1
        } else {
            host = String(authority)
            port = 80
        }
        guard !host.isEmpty, (1...65535).contains(port) else { return nil }
    }
}
