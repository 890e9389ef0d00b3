// Splits a byte stream into newline-terminated lines, refusing a line longer than a limit.
import NIOCore

public enum LineFrame: Sendable, Equatable {
    case line(ByteBuffer)
    /// The peer sent more than the limit without a newline; the connection should answer and close.
    case tooLong
}

public struct LineFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = LineFrame
    private let maxLength: Int
    private var refused = false
    /// Readable bytes already searched without a newline: a long line arriving in chunks is scanned once.
    private var searched = 0

    public init(maxLength: Int) { self.maxLength = maxLength }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if refused {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        let view = buffer.readableBytesView
        if let newline = view.dropFirst(searched).firstIndex(of: UInt8(ascii: "\n")) {
            searched = 0
            let length = newline - view.startIndex
            guard length <= maxLength else { return refuse(context: context, buffer: &buffer) }
            var line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            if line.readableBytesView.last == UInt8(ascii: "\r") { line = line.getSlice(at: line.readerIndex, length: line.readableBytes - 1)! }
            context.fireChannelRead(wrapInboundOut(.line(line)))
            return .continue
        }
        if buffer.readableBytes > maxLength { return refuse(context: context, buffer: &buffer) }
        searched = buffer.readableBytes
        return .needMoreData
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A last request without its newline is still a request.
        if !refused, buffer.readableBytes > 0, buffer.readableBytes <= maxLength {
            let line = buffer.readSlice(length: buffer.readableBytes)!
            context.fireChannelRead(wrapInboundOut(.line(line)))
            return .needMoreData
        }
        return try decode(context: context, buffer: &buffer)
    }

    private mutating func refuse(context: ChannelHandlerContext, buffer: inout ByteBuffer) -> DecodingState {
        refused = true
        buffer.moveReaderIndex(to: buffer.writerIndex)
        context.fireChannelRead(wrapInboundOut(.tooLong))
        return .needMoreData
    }
}
