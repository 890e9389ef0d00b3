// The agent's own JSON: exact round trips, escapes, refusals, and replies that hcctl's Codable decoding reads back.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HomecloudSchema
import Testing

@Suite struct JSONValueTests {
    @Test func parsesAndWritesBack() throws {
        let text = #"{"v":1,"id":-7,"command":"status","x":[true,false,null,1.5e3,"a\"b\\c\n\u00e9\ud83d\ude00"],"big":18446744073709551615}"#
        let value = try JSONValue.parse(Array(text.utf8))
        #expect(value["v"]?.int == 1)
        #expect(value["id"]?.int == -7)
        #expect(value["command"]?.string == "status")
        #expect(value["big"] == .number("18446744073709551615"))
        #expect(value["x"] == .array([.bool(true), .bool(false), .null, .number("1.5e3"), .string("a\"b\\c\né😀")]))
        #expect(try JSONValue.parse(Array(value.serialized.utf8)) == value)
        #expect(!value.serialized.contains("\n"))
    }

    @Test func controlCharactersAreEscaped() {
        #expect(JSONValue.string("a\u{1}b\tc").serialized == #""a\u0001b\tc""#)
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\"}", "nul", "01x", "\"\u{1}\"", "\"\\x\"", "\"\\ud800\"", "1 2", "-", "1.", "1e"])
    func refusesBrokenJSON(_ text: String) {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(Array(text.utf8)) }
    }

    @Test func refusesDeepNestingAndBadUTF8() {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(Array(String(repeating: "[", count: 10_000).utf8)) }
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse([0x22, 0xFF, 0xFE, 0x22]) }
    }

    @Test func repliesDecodeWithCodableToTheSameValue() throws {
        let status = StatusReport(
            node: "n1", cluster: "hc1", version: "0.1.0",
            desired: DesiredSummary(generation: 3, file: "/etc/homecloud/desired.yaml", rejected: [
                Diagnostic(file: "d.yaml", mark: SourceMark(line: 2, column: 5), path: "roles.x", message: "bad \"thing\""),
                Diagnostic(file: "d.yaml", mark: nil, path: "generation", message: "older"),
            ]),
            members: [MemberStatus(name: "n1", address: "10.0.0.1:7964", state: "alive")],
            vips: [VIPStatus(name: "front", address: "10.0.0.250/24", state: "init", holder: nil),
                   VIPStatus(name: "back", address: "fd00::1/64", state: "master", holder: "n1")],
            units: [UnitStatus(name: "smbd.service", desired: "running", active: "unknown"),
                    UnitStatus(name: "k3s.service", desired: "running", active: "failed", state: "degraded", reason: "failed 5 times")],
            convergence: "degraded")
        let replies: [ControlReply] = [
            .success(id: 4, status: status),
            .success(id: nil, message: "unchanged"),
            .failure(ControlError(.forbidden, "needs root"), id: 9),
            .success(id: 1, status: StatusReport(node: "n", cluster: nil, version: "0", desired: DesiredSummary(generation: nil, file: "f"))),
        ]
        for reply in replies {
            let decoded = try JSONDecoder().decode(ControlReply.self, from: Data(reply.json.serialized.utf8))
            #expect(decoded == reply)
        }
        // Keys scripts rely on are present even when empty.
        let empty = StatusReport(node: "n", cluster: nil, version: "0", desired: DesiredSummary(generation: nil, file: "f")).json
        #expect(empty["desired"]?["generation"] == .null)
        #expect(empty["vips"] == .array([]))
    }
}
