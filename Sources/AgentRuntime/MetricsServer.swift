// GET /metrics: the Prometheus text exposition of everything recorded through swift-metrics.
#if canImport(Glibc)
import Glibc
#endif
import HomecloudSchema
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle

public final class MetricsServer: Service {
    private let server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    private let registry: PrometheusCollectorRegistry
    private let logger: Logger

    private init(server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>,
                 registry: PrometheusCollectorRegistry, logger: Logger) {
        self.server = server
        self.registry = registry
        self.logger = logger
    }

    public static func bind(host: String, port: Int, registry: PrometheusCollectorRegistry, group: EventLoopGroup,
                            logger: Logger) async throws -> MetricsServer {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
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

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, memory: Metrics.Gauge) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                for try await part in inbound {
                    guard case .head(let request) = part else { continue }
                    let found = request.method == .GET && (request.uri == "/metrics" || request.uri.hasPrefix("/metrics?"))
                    var body: [UInt8]
                    if found {
                        memory.record(Self.residentBytes())
                        body = registry.emitToBuffer()
                    } else {
                        body = Array("not found; try GET /metrics\n".utf8)
                    }
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain")
                    headers.add(name: "Content-Length", value: "\(body.count)")
                    headers.add(name: "Connection", value: "close")
                    let head = HTTPResponseHead(version: request.version, status: found ? .ok : .notFound, headers: headers)
                    try await outbound.write(.head(head))
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body))))
                    try await outbound.write(.end(nil))
                    return
                }
            }
        } catch {
            logger.debug("metrics connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// Resident set size from /proc/self/statm (its second field, in pages).
    static func residentBytes() -> Int64 {
        guard let text = try? TextFile.read("/proc/self/statm") else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count >= 2, let pages = Int64(fields[1]) else { return 0 }
        return pages * Int64(sysconf(Int32(_SC_PAGESIZE)))
    }
}
