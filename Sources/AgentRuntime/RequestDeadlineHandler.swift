// Drops a control connection that has not sent a complete request line within a limit, so idle or slow
// clients (a slowloris trickling bytes without a newline) cannot hold every slot and lock hcctl out.
import Logging
import Metrics
import NIOCore

/// Sits after the LineFrameDecoder: a request line arriving stops the clock, its reply (one line per
/// request) starts it again. A connection that asked for a stream (a future watch or events command) sends
/// `ControlConnectionEvent.streaming` down its pipeline and is never dropped for idleness after that.
final class RequestDeadlineHandler: ChannelDuplexHandler {
    typealias InboundIn = LineFrame
    typealias InboundOut = LineFrame
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let limit: TimeAmount
    private let dropped: Counter
    private var deadline: Scheduled<Void>?
    /// Requests read whose reply has not been written yet: while one is in progress, nothing is idle.
    private var inProgress = 0
    private var streaming = false

    init(limit: TimeAmount, dropped: Counter) {
        self.limit = limit
        self.dropped = dropped
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inProgress += 1
        disarm()
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        inProgress = max(0, inProgress - 1)
        if inProgress == 0 { arm(context) }
        context.write(data, promise: promise)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        if case .streaming? = event as? ControlConnectionEvent {
            streaming = true
            disarm()
            promise?.succeed()
            return
        }
        context.triggerUserOutboundEvent(event, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard !streaming, deadline == nil else { return }
        let dropped = self.dropped
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: limit) {
            dropped.increment()
            context.close(promise: nil)
        }
    }

    private func disarm() {
        deadline?.cancel()
        deadline = nil
    }
}

/// Sent down a control connection's pipeline (channel.triggerUserOutboundEvent) by a command that streams.
public enum ControlConnectionEvent: Sendable {
    /// The connection now carries a stream: it is not idle while it waits for the next event.
    case streaming
}
