// Request framing: lines split on newline, CRLF tolerated, an over-long line refused once.
import AgentRuntime
import NIOCore
import NIOEmbedded
import Testing

@Suite struct LineFrameDecoderTests {
    @Test func splitsLinesAndRefusesOverlongOnes() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(LineFrameDecoder(maxLength: 8)))
        try channel.writeInbound(ByteBuffer(string: "one\r\ntw"))
        try channel.writeInbound(ByteBuffer(string: "o\n123456789012\nmore"))
        #expect(try channel.readInbound(as: LineFrame.self) == .line(ByteBuffer(string: "one")))
        #expect(try channel.readInbound(as: LineFrame.self) == .line(ByteBuffer(string: "two")))
        #expect(try channel.readInbound(as: LineFrame.self) == .tooLong)
        #expect(try channel.readInbound(as: LineFrame.self) == nil)  // nothing after a refusal
        _ = try channel.finish()
    }

    @Test func aLastLineWithoutNewlineCounts() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(LineFrameDecoder(maxLength: 64)))
        try channel.writeInbound(ByteBuffer(string: "{\"v\":1}"))
        #expect(try channel.readInbound(as: LineFrame.self) == nil)
        _ = try channel.finish(acceptAlreadyClosed: true)
        #expect(try channel.readInbound(as: LineFrame.self) == .line(ByteBuffer(string: "{\"v\":1}")))
    }
}
