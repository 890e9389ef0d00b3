// The http probe: a plain HTTP/1.0 GET on the event loop, judged by its status line and, if asked, its body.
import HomecloudSchema
import NIOCore
import NIOPosix

extension ProbeChecks {
    /// A plain HTTP/1.0 GET (health endpoints on the board itself: no TLS, no redirects).
    func http(_ url: String, expect: ClosedRange<Int>, body wanted: String?, timeout: Duration, _ outcome: Outcome) {
        guard let target = HTTPTarget(url) else { return outcome.finish(.fail("\(url) is not an http:// URL")) }
        let answer = loop.makePromise(of: [UInt8].self)
        let request = "GET \(target.path) HTTP/1.0\r\nHost: \(target.host)\r\nUser-Agent: hcagent\r\n\r\n"
        let connected = connect(target.host, target.port, timeout: timeout) { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(HTTPAnswerReader(request: request, answer: answer)) }
        }
        connected.whenFailure { answer.fail($0) }
        outcome.onCancel { connected.whenSuccess { $0.close(promise: nil) } }
        answer.futureResult.whenComplete { result in
            switch result {
            case .success(let response): outcome.finish(Self.judge(response, url: url, expect: expect, body: wanted))
            case .failure(let error): outcome.finish(.fail("\(url): \(error)"))
            }
        }
    }

    static func judge(_ response: [UInt8], url: String, expect: ClosedRange<Int>, body wanted: String?) -> ProbeHysteresis.Result {
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
    }
}

/// Sends the request once connected and gathers the answer until the server closes (HTTP/1.0).
private final class HTTPAnswerReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let request: String
    let answer: EventLoopPromise<[UInt8]>
    var bytes: [UInt8] = []
    var answered = false

    init(request: String, answer: EventLoopPromise<[UInt8]>) {
        self.request = request
        self.answer = answer
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: request)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        bytes += unwrapInboundIn(data).readableBytesView
        if bytes.count > 65536 { context.close(promise: nil) }  // a health answer is small; read no more than this
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !answered { answer.succeed(bytes) }
        answered = true
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if !answered { answer.fail(error) }
        answered = true
        context.close(promise: nil)
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
