// One request to the agent's control socket and its reply, over a blocking Unix socket (a CLI has nothing else to do).
#if canImport(Glibc)
import Glibc
#endif
import HomecloudSchema

struct AgentUnreachable: Error, CustomStringConvertible {
    var description: String
}

struct ControlClient {
    var path: String
    var timeout: Duration = .seconds(10)

    func send(_ request: ControlRequest) throws -> ControlReply {
        let fd = try connect()
        defer { close(fd) }
        // The request's one definition (HomecloudSchema's ControlProtocolJSON) writes it, as the agent reads it.
        let line = Array((request.json.serialized + "\n").utf8)
        try line.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw AgentUnreachable(description: "cannot send to hcagent at \(path): \(String(cString: strerror(errno)))")
                }
                offset += written
            }
        }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while !reply.contains(UInt8(ascii: "\n")) {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                throw AgentUnreachable(description: "hcagent at \(path) did not answer within \(timeout)")
            }
            if count <= 0 { break }
            reply += buffer[0..<count]
        }
        guard let end = reply.firstIndex(of: UInt8(ascii: "\n")) else {
            throw AgentUnreachable(description: "hcagent at \(path) closed the connection without a reply")
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(Array(reply[..<end]))
        } catch {
            throw AgentUnreachable(description: "hcagent at \(path) answered with bad JSON at byte \(error.offset): \(error.message)")
        }
        do {
            return try ControlReply(json: json)
        } catch {
            throw AgentUnreachable(description: "hcagent at \(path) answered with a reply this hcctl cannot read: \(error)")
        }
    }

    func connect() throws -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw AgentUnreachable(description: "socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw AgentUnreachable(description: "cannot make a socket: \(String(cString: strerror(errno)))") }
        var limit = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if result != 0 {
            let reason = errno
            close(fd)
            switch reason {
            case ENOENT: throw AgentUnreachable(description: "hcagent is not running (no socket at \(path))")
            case ECONNREFUSED: throw AgentUnreachable(description: "hcagent is not running (nothing answers at \(path))")
            case EACCES: throw AgentUnreachable(description: "permission denied on \(path) (run as root or as a member of the socket's group)")
            default: throw AgentUnreachable(description: "cannot reach hcagent at \(path): \(String(cString: strerror(reason)))")
            }
        }
        return fd
    }
}
