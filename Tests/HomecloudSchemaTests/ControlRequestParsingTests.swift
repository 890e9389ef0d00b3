// Control request lines: a request round-trips through its line; every refusal and missing argument says why.
import Testing
@testable import HomecloudSchema

@Suite struct ControlRequestParsingTests {
    func parse(_ line: String) -> Result<ControlRequest, ControlRequestRefusal> { ControlRequest.parse(Array(line.utf8)) }

    @Test func aRequestRoundTripsThroughItsLine() throws {
        let requests = [
            ControlRequest(command: .status, id: 4),
            ControlRequest(command: .apply, document: "generation: 1\n\"quoted\" ✓", file: "d.yaml"),
            ControlRequest(command: .handover, id: -3, vip: "front", to: "n2"),
            ControlRequest(command: .keysInstall, key: String(repeating: "A", count: 43) + "="),
        ]
        for request in requests {
            #expect(try parse(request.json.serialized).get() == request)
        }
    }

    @Test func aFieldOfTheWrongTypeIsALocatedBadRequestAndUnknownOnesAreIgnored() throws {
        #expect(parse(#"{"v":1,"id":3,"command":"handover","vip":7,"colour":"blue"}"#)
            == .failure(ControlRequestRefusal(error: ControlError(.badRequest, "vip: expected a string"), id: 3)))
        let request = try parse(#"{"v":1,"command":"handover","colour":"blue"}"#).get()
        #expect(request.vip == nil)
        #expect(request.missingArgument == ControlError(.badRequest, "handover needs \"vip\": the VIP's name"))
    }

    @Test func refusalsSayWhyAndKeepTheId() {
        #expect(parse("[1]") == .failure(ControlRequestRefusal(error: ControlError(.badRequest, "a request is one JSON object on one line, such as {\"v\":1,\"command\":\"status\"}"))))
        #expect(parse(#"{"id":9,"command":"status"}"#) == .failure(ControlRequestRefusal(
            error: ControlError(.unsupportedVersion, "this agent speaks protocol version 1; the request has none"), id: 9)))
        guard case .failure(let unknown) = parse(#"{"v":1,"id":2,"command":"fly"}"#) else { Issue.record("an unknown command was taken"); return }
        #expect(unknown.id == 2 && unknown.error.code == .unknownCommand)
    }

    @Test func eachCommandNamesWhatItLacks() throws {
        #expect(try parse(#"{"v":1,"command":"plan"}"#).get().missingArgument?.message == "plan needs \"document\": the document's text")
        #expect(try parse(#"{"v":1,"command":"keys-use","key":"c2hvcnQ="}"#).get().missingArgument?.message == "keys-use needs \"key\": 32 bytes in base64")
        #expect(try parse(#"{"v":1,"command":"keys-list"}"#).get().missingArgument == nil)
        #expect(try parse(#"{"v":1,"command":"apply","document":""}"#).get().missingArgument == nil)
    }
}
