// The http probe: a plain HTTP/1.0 GET on the event loop, judged by its status line and, if asked, its body.
import HomecloudSchema
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

extension ProbeChecks {
    /// A plain HTTP/1.0 GET (health endpoints on the board itself: no TLS, no redirects).
    func http(_ url: String, expect: ClosedRange<Int>, body wanted: String?, timeout: Duration, _ outcome: Outcome) {
        guard let target = HTTPTarget(url) else { return outcome.finish(.fail("\(url) is not an http:// URL")) }
        let request = "GET \(target.path) HTTP/1.0\r\nHost: \(target.host)\r\nUser-Agent: hcagent\r\n\r\n"
        // A numeric address needs no resolver and no channel: a socket of its own, watched by the probe loop.
        if let address = NumericAddress(target.host, target.port) {
            let exchange = HTTPExchange(request: Array(request.utf8), loop: loop) { result in
                switch result {
                case .success(let response): outcome.finish(Self.judge(response, url: url, expect: expect, body: wanted))
                case .failure(let error): outcome.finish(.fail("\(url): \(error.reason)"))
                }
            }
            outcome.onCancel { exchange.close() }
            return exchange.start(address)
        }
        // A name: NIO resolves it and a channel on one of its loops makes the exchange; the answer hops back.
        let answer = channels.next().makePromise(of: [UInt8].self)
        let connected = connect(target.host, target.port, timeout: timeout) { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(HTTPAnswerReader(request: request, answer: answer)) }
        }
        connected.whenFailure { answer.fail($0) }
        outcome.onCancel { connected.whenSuccess { $0.close(promise: nil) } }
        answer.futureResult.hop(to: loop).whenComplete { result in
            switch result {
            case .success(let response): outcome.finish(Self.judge(response, url: url, expect: expect, body: wanted))
            case .failure(let error): outcome.finish(.fail("\(url): \(error)"))
            }
        }
    }

    static func judge(_ response: [UInt8], url: String, expect: ClosedRange<Int>, body wanted: String?) -> ProbeHysteresis.Result {
        let lineEnd = response.firstIndex { $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") } ?? response.endIndex
        let statusLine = response[..<lineEnd].split(separator: UInt8(ascii: " "))
        guard statusLine.count >= 2, let status = Int(String(decoding: statusLine[1], as: UTF8.self)) else {
            return .fail("\(url): not an HTTP answer")
        }
        guard expect.contains(status) else { return .fail("\(url): status \(status)") }
        if let wanted {
            let headerEnd = firstRange(of: [13, 10, 13, 10], in: response[...])
            let body = headerEnd.map { response[$0.upperBound...] } ?? []
            guard firstRange(of: Array(wanted.utf8), in: body) != nil else { return .fail("\(url): the body lacks \"\(wanted)\"") }
        }
        return .pass
    }
}

/// Where `needle` first occurs in `haystack` (an empty needle at its start); bytes, without Foundation.
func firstRange(of needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Range<Int>? {
    guard haystack.count >= needle.count else { return nil }
    let last = haystack.endIndex - needle.count
    var start = haystack.startIndex
    while start <= last {
        if haystack[start..<(start + needle.count)].elementsEqual(needle) { return start..<(start + needle.count) }
        start += 1
    }
    return nil
}

/// One GET on a non-blocking socket: connect, send the request, read until the server closes (HTTP/1.0). Every
/// step runs on the probe loop, woken when the socket is ready. Lives until closed.
final class HTTPExchange {  // used on its loop only
    struct Failure: Error {
        let reason: String
    }

    /// A health answer is small: read no more than this.
    static let answerLimit = 65536
    private let request: [UInt8]
    private let loop: ProbeLoop
    private let done: (Result<[UInt8], Failure>) -> Void
    private var fd: Int32 = -1
    private var sent = 0
    private var answer: [UInt8] = []
    private var over = false

    init(request: [UInt8], loop: ProbeLoop, done: @escaping (Result<[UInt8], Failure>) -> Void) {
        self.request = request
        self.loop = loop
        self.done = done
    }

    func start(_ address: NumericAddress) {
        fd = address.socket()
        guard fd >= 0 else { return fail("socket") }
        if address.connect(fd) == 0 { return send() }
        guard errno == EINPROGRESS else { return fail("connect") }
        // On loopback the handshake is over by the time connect() returns, even when it says EINPROGRESS: a poll
        // that does not wait saves a trip through epoll. Elsewhere the socket turns writable later.
        var ready = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        if poll(&ready, 1, 0) == 1 { return connected() }
        wait(writable: true) { $0.connected() }
    }

    /// Closes the socket; a readiness still on its way then finds nothing to do. The result is not reported.
    func close() {
        guard fd >= 0 else { return }
        loop.forget(fd)
        Glibc.close(fd)
        fd = -1
    }

    private func connected() {
        var failure: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &size) == 0 else { return fail("connect") }
        guard failure == 0 else { return fail("connect", failure) }
        send()
    }

    private func send() {
        while sent < request.count {
            let count = request.withUnsafeBytes { write(fd, $0.baseAddress! + sent, $0.count - sent) }
            if count > 0 {
                sent += count
            } else if errno == EAGAIN {
                return wait(writable: true) { $0.send() }
            } else if errno != EINTR {
                return fail("send")
            }
        }
        // Woken only once the whole answer is in (the server's close) or the limit is: not once per segment.
        var lowWater = Int32(Self.answerLimit)
        setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowWater, socklen_t(MemoryLayout<Int32>.size))
        wait(writable: false) { $0.receive() }
    }

    private func receive() {
        while true {
            let count = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { chunk in
                let count = read(fd, chunk.baseAddress, chunk.count)
                if count > 0 { answer.append(contentsOf: chunk.prefix(count)) }
                return count
            }
            if count == 0 || answer.count >= Self.answerLimit { return finish(.success(answer)) }
            if count < 0 {
                if errno == EAGAIN { return wait(writable: false) { $0.receive() } }
                if errno != EINTR { return fail("receive") }
            }
        }
    }

    private func wait(writable: Bool, then step: @escaping (HTTPExchange) -> Void) {
        let armed = loop.arm(fd, writable: writable) { [self] in
            if fd >= 0 { step(self) }  // closed meanwhile: the deadline came first
        }
        if !armed { fail("watch") }
    }

    private func fail(_ step: String, _ error: Int32 = errno) {
        finish(.failure(Failure(reason: "\(step): \(String(cString: strerror(error)))")))
    }

    private func finish(_ result: Result<[UInt8], Failure>) {
        guard !over else { return }
        over = true
        close()
        done(result)
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
