// The control socket over a real Unix socket: mode 0660, oversized and malformed requests answered, others unaffected.
import AgentRuntime
import HomecloudSchema
import Logging
import NIOPosix
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A bare blocking client, so the test sends exactly the bytes it means to. Its calls run on NIO's thread
/// pool (`offPool`): blocking reads on the cooperative pool could starve the server under test.
final class RawClient: Sendable {
    let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        var limit = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(result == 0, "connect failed: errno \(errno)")
    }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written <= 0 { return }  // the server may close on an oversized request
            offset += written
        }
    }

    /// Lines until the server closes or the timeout passes.
    func readLines(count: Int) -> [String] {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.filter({ $0 == UInt8(ascii: "\n") }).count < count {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return bytes.split(separator: UInt8(ascii: "\n")).map { String(decoding: $0, as: UTF8.self) }
    }

    /// True when the server has closed its end.
    func isClosedByServer() -> Bool {
        var byte: UInt8 = 0
        return read(fd, &byte, 1) == 0
    }

    deinit { close(fd) }
}

func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await NIOThreadPool.singleton.runIfActive(body)
}

@Suite struct ControlServerTests {
    @Test func badRequestsAreAnsweredAndOthersUnaffected() async throws {
        let directory = TemporaryDirectory()
        let socketPath = directory.path + "/hc.sock"
        let config = AgentConfig(node: "n1", socket: socketPath, stateDir: directory.path + "/state", desired: directory.path + "/missing.yaml")
        let logger = Logger(label: "test")
        let server = try await ControlServer.bind(
            path: socketPath, commands: ControlCommands(keeper: DocumentKeeper(config: config, logger: logger)),
            group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        let serving = Task { try await server.run() }
        defer { serving.cancel() }

        var info = stat()
        #expect(stat(socketPath, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o660)

        // A client that holds a connection open with half a request does not block anyone.
        let idle = try await offPool { try RawClient(path: socketPath) }
        idle.send(Array(#"{"v":1,"#.utf8))

        let client = try await offPool { try RawClient(path: socketPath) }
        client.send(Array("garbage\n{\"v\":1,\"command\":\"status\"}\n".utf8))
        let replies = try await offPool { client.readLines(count: 2) }
        #expect(replies.count == 2)
        #expect(replies.first?.contains(#""code":"bad-request""#) == true)
        #expect(replies.last?.contains(#""ok":true"#) == true)
        #expect(replies.last?.contains(#""node":"n1""#) == true)

        let flooder = try await offPool { try RawClient(path: socketPath) }
        let flood = try await offPool {
            flooder.send([UInt8](repeating: UInt8(ascii: "x"), count: ControlProtocol.maxRequestBytes + 10))
            return flooder.readLines(count: 1)
        }
        #expect(flood.first?.contains(#""code":"too-large""#) == true)
        #expect(try await offPool { flooder.isClosedByServer() })

        // The first client's connection still works after all that.
        client.send(Array("{\"v\":1,\"id\":9,\"command\":\"status\"}\n".utf8))
        #expect(try await offPool { client.readLines(count: 1) }.first?.contains(#""id":9"#) == true)
    }

    @Test func aSocketThatAnotherAgentAnswersIsNotTakenOver() async throws {
        let directory = TemporaryDirectory()
        let socketPath = directory.path + "/hc.sock"
        let config = AgentConfig(node: "n1", socket: socketPath, stateDir: directory.path + "/state", desired: directory.path + "/missing.yaml")
        let logger = Logger(label: "test")
        let commands = ControlCommands(keeper: DocumentKeeper(config: config, logger: logger))
        let first = try await ControlServer.bind(path: socketPath, commands: commands, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        let serving = Task { try await first.run() }
        defer { serving.cancel() }
        await #expect(throws: ControlServerError.self) {
            _ = try await ControlServer.bind(path: socketPath, commands: commands, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        }
    }
}
