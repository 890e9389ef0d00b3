// hcctl events: follows the cluster's events as the local board sees them, one line each, until interrupted.
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import HomecloudSchema

struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow the cluster's events as they happen (members, VIPs, units, probes, documents).",
        discussion: "One line per event with its time; --json: one JSON object per line. Runs until interrupted or the agent stops.")
    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Print each event as one JSON object per line.") var json = false

    func run() throws {
        let client = ControlClient(path: connection.socket)
        do {
            try client.follow(ControlRequest(command: .events)) { reply in
                if let error = reply.error {
                    printError("hcctl: \(error.message)")
                    throw ExitCode(Exit.refused)
                }
                guard let event = reply.event else { return }
                // Straight to the descriptor, unbuffered: a pipe reader sees each event as it happens.
                let text = (json ? event.json.serialized : Self.line(event)) + "\n"
                var bytes = Array(text.utf8)[...]
                while !bytes.isEmpty {
                    let written = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
                    if written < 0 && errno == EINTR { continue }
                    if written <= 0 { throw ExitCode.success }  // the reader has gone
                    bytes = bytes.dropFirst(written)
                }
            }
        } catch let error as AgentUnreachable {
            printError("hcctl: \(error)")
            throw ExitCode(Exit.unreachable)
        }
    }

    /// `2026-12-06 17:20:01.123 n1 member-dead n3 suspect -> dead`, in local time.
    static func line(_ event: ClusterEvent) -> String {
        var seconds = time_t(event.time / 1000)
        var parts = tm()
        localtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let length = strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M:%S", &parts)
        let stamp = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let millis = event.time % 1000
        let fraction = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(stamp).\(fraction) \(event.node) \(event.summary)"
    }
}

extension ControlClient {
    /// Sends one request and hands every reply line to `each` until the agent closes the connection. After the
    /// first reply there is no read timeout: events come when they happen.
    func follow(_ request: ControlRequest, each: (ControlReply) throws -> Void) throws {
        let fd = try connect()
        defer { close(fd) }
        let line = Array((request.json.serialized + "\n").utf8)
        var offset = 0
        while offset < line.count {
            let written = line[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw AgentUnreachable(description: "cannot send to hcagent at \(path): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var first = true
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                throw AgentUnreachable(description: "hcagent at \(path) did not answer within \(timeout)")
            }
            if count <= 0 {
                if first { throw AgentUnreachable(description: "hcagent at \(path) closed the connection without a reply") }
                return
            }
            pending += buffer[0..<count]
            while let end = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let text = Array(pending[..<end])
                pending.removeSubrange(...end)
                guard let json = try? JSONValue.parse(text), let reply = try? ControlReply(json: json) else {
                    throw AgentUnreachable(description: "hcagent at \(path) sent a line this hcctl cannot read")
                }
                if first {
                    first = false
                    var forever = timeval(tv_sec: 0, tv_usec: 0)
                    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &forever, socklen_t(MemoryLayout<timeval>.size))
                }
                try each(reply)
            }
        }
    }
}
