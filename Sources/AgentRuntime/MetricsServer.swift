// GET /metrics: the Prometheus text exposition of everything recorded through swift-metrics.
// HTTP by hand: one request per connection and a closed answer are all a scraper needs; NIOHTTP1 and its parser
// cost the daemon resident memory (docs/benchmarks.md).
#if canImport(Glibc)
import Glibc
#endif
import HomecloudSchema
import HomecloudYAML
import Logging
import Metrics
import NIOCore
import NIOPosix
import PartLifecycle

public final class MetricsServer: Service {
    /// A request head longer than this is not a scraper's: answered 431 and closed.
    static let maximumHeadBytes = 8192

    private let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    private let registry: MetricsRegistry
    private let logger: Logger

    private init(server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>, registry: MetricsRegistry, logger: Logger) {
        self.server = server
        self.registry = registry
        self.logger = logger
    }

    public static func bind(host: String, port: Int, registry: MetricsRegistry, group: EventLoopGroup,
                            logger: Logger) async throws -> MetricsServer {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return MetricsServer(server: server, registry: registry, logger: logger)
    }

    public func run() async throws {
        let memory = Metrics.Gauge(label: "process_resident_memory_bytes")
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingDiscardingTaskGroup { group in
                    try await self.server.executeThenClose { inbound in
                        for try await connection in inbound {
                            group.addTask { await self.serve(connection, memory: memory) }
                        }
                    }
                }
            }
        } catch is CancellationError {
            // The graceful stop cancels the accept loop: that is how this service ends.
        }
    }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>, memory: Metrics.Gauge) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: [UInt8] = []
                for try await chunk in inbound {
                    head += chunk.readableBytesView
                    guard Self.headEnds(head) || head.count > Self.maximumHeadBytes else { continue }
                    let answer = Self.answer(toHead: head) {
                        memory.record(Self.residentBytes())
                        return registry.exposition()
                    }
                    try await outbound.write(ByteBuffer(bytes: answer))
                    return
                }
            }
        } catch {
            logger.debug("metrics connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// A request head ends with an empty line.
    static func headEnds(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && bytes.indices.dropFirst(3).contains { bytes[$0 - 3...$0].elementsEqual([13, 10, 13, 10]) }
    }

    /// The whole answer, head and body, to a request head: the page for `GET /metrics`, 404 for anything else.
    static func answer(toHead head: [UInt8], page: () -> [UInt8]) -> [UInt8] {
        guard head.count <= maximumHeadBytes else { return response("431 Request Header Fields Too Large", version: "HTTP/1.1", body: []) }
        let requestLine = head.prefix { $0 != 13 && $0 != 10 }.split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) }
        guard requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1.") else {
            return response("400 Bad Request", version: "HTTP/1.1", body: [])
        }
        let version = requestLine[2] == "HTTP/1.0" ? "HTTP/1.0" : "HTTP/1.1"
        let target = requestLine[1]
        guard requestLine[0] == "GET", target == "/metrics" || target.hasPrefix("/metrics?") else {
            return response("404 Not Found", version: version, body: Array("not found; try GET /metrics\n".utf8))
        }
        return response("200 OK", version: version, contentType: "text/plain; version=0.0.4; charset=utf-8", body: page())
    }

    static func response(_ status: String, version: String, contentType: String = "text/plain", body: [UInt8]) -> [UInt8] {
        Array("\(version) \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n".utf8) + body
    }

    /// Resident set size from /proc/self/statm (its second field, in pages).
    static func residentBytes() -> Int64 {
        guard let text = try? TextFile.read("/proc/self/statm") else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count >= 2, let pages = Int64(fields[1]) else { return 0 }
        return pages * Int64(sysconf(Int32(_SC_PAGESIZE)))
    }
}
