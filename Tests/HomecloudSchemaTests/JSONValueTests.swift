// The agent's own JSON: exact round trips, escapes, refusals, and the indented form hcctl prints.
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

    @Test func theIndentedFormSortsKeysAndReadsBack() throws {
        let value = JSONValue.object([("b", .array([])), ("a", .object([])), ("c", .array([.integer(1), .string("x/y")]))])
        #expect(value.pretty == "{\n  \"a\" : {\n\n  },\n  \"b\" : [\n\n  ],\n  \"c\" : [\n    1,\n    \"x/y\"\n  ]\n}")
        #expect(try JSONValue.parse(Array(value.pretty.utf8)) == .object([("a", .object([])), ("b", .array([])), ("c", .array([.integer(1), .string("x/y")]))]))
    }
}
