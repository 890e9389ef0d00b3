// Request framing: lines split on newline, CRLF tolerated, an over-long line refused once, a long one taken in chunks.
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

    @Test func aLongLineArrivingInChunksIsWholeAndTheNextFollows() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(LineFrameDecoder(maxLength: 300_000)))
        let long = String(repeating: "0123456789", count: 25_000)
        for start in stride(from: 0, to: long.utf8.count, by: 65_536) {
            let end = min(start + 65_536, long.utf8.count)
            try channel.writeInbound(ByteBuffer(bytes: Array(long.utf8)[start..<end]))
            #expect(try channel.readInbound(as: LineFrame.self) == nil)
        }
        try channel.writeInbound(ByteBuffer(string: "\nnext\n"))
        #expect(try channel.readInbound(as: LineFrame.self) == .line(ByteBuffer(string: long)))
        #expect(try channel.readInbound(as: LineFrame.self) == .line(ByteBuffer(string: "next")))
        _ = try channel.finish()
    }
}
