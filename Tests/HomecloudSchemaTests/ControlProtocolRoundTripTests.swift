// The control protocol's one definition per type: every value reads back equal from its JSON, the fixtures
// really set every member, older agents' replies still read, and a misshapen reply says where.
import Testing
@testable import HomecloudSchema

/// Counts the members a record's `fields` lists, to show a fixture writes every one of them.
private struct MemberCounter: JSONFieldVisitor {
    typealias Failure = Never
    var count = 0
    mutating func required<Value: JSONConvertible>(_ key: String, _ value: inout Value) { count += 1 }
    mutating func optional<Value: JSONConvertible>(_ key: String, _ value: inout Value?, nullWhenNil: Bool) { count += 1 }
    mutating func defaulted<Value: JSONConvertible>(_ key: String, _ value: inout Value, absent: Value) { count += 1 }
}

@Suite struct ControlProtocolRoundTripTests {
    typealias F = ControlProtocolFixtures

    func roundTrip<Value: JSONConvertible>(_ value: Value) throws -> Value {
        try Value(json: JSONValue.parse(Array(value.json.serialized.utf8)))
    }

    /// Every member the type's definition lists is written, none of them null.
    func writesEveryMember<Record: JSONRecord>(_ value: Record) -> Bool {
        var counter = MemberCounter()
        var copy = value
        copy.fields(&counter)
        guard case .object(let members) = value.json else { return false }
        return members.count == counter.count && !members.contains { $0.1 == .null }
    }

    @Test func theFixturesSetEveryMember() {
        #expect(writesEveryMember(F.status))
        #expect(writesEveryMember(F.desired))
        #expect(writesEveryMember(F.desired.refused![0]))
        #expect(writesEveryMember(F.diagnostics[0]))
        #expect(writesEveryMember(F.member))
        #expect(writesEveryMember(F.vip))
        #expect(writesEveryMember(F.waitingUnit))
        #expect(writesEveryMember(F.file))
        #expect(writesEveryMember(F.probe))
        #expect(writesEveryMember(F.status.problems[0]))
        #expect(writesEveryMember(F.status.facts![0]))
        #expect(writesEveryMember(F.plan))
        #expect(writesEveryMember(F.plan.nodes[0]))
        #expect(writesEveryMember(F.requests[0]))
        #expect(writesEveryMember(ControlError(.failed, "x")))
    }

    @Test func aFullyPopulatedStatusRoundTrips() throws {
        #expect(try roundTrip(F.status) == F.status)
        #expect(try roundTrip(F.emptyStatus) == F.emptyStatus)
    }

    @Test func membersVIPsUnitsAndProbesRoundTrip() throws {
        #expect(try roundTrip(F.status.members) == F.status.members)
        #expect(try roundTrip(F.status.vips) == F.status.vips)
        #expect(try roundTrip(F.status.units) == F.status.units)
        #expect(try roundTrip([F.waitingUnit]) == [F.waitingUnit])
        #expect(try roundTrip(F.status.probes) == F.status.probes)
        #expect(try roundTrip(F.status.problems) == F.status.problems)
        #expect(try roundTrip(F.desired) == F.desired)
        #expect(try roundTrip(F.status.facts!) == F.status.facts!)
    }

    @Test func everyReplyRoundTrips() throws {
        for reply in F.replies {
            #expect(try roundTrip(reply) == reply)
        }
    }

    @Test func everyRequestRoundTripsThroughTheAgentsParser() throws {
        for request in F.requests {
            #expect(try roundTrip(request) == request)
            #expect(try ControlRequest.parse(Array(request.json.serialized.utf8)).get() == request)
        }
    }

    @Test func nilMembersAreAbsentButHolderAndGenerationStayAsNull() {
        let json = F.emptyStatus.json
        #expect(json["cluster"] == nil && json["convergence"] == nil)
        #expect(json["desired"]?["generation"] == .null)
        #expect(json["vips"] == .array([]) && json["probes"] == .array([]) && json["problems"] == .array([]))
        let vip = VIPStatus(name: "back", address: "10.0.0.250/24", state: "backup", holder: nil).json
        #expect(vip["holder"] == .null && vip["priority"] == nil)
    }

    @Test func anOlderAgentsStatusStillReads() throws {
        // No probes or problems (agents before them), nulls where this version leaves members out, a member it does not know.
        let line = #"{"node":"n","cluster":null,"version":"0","desired":{"generation":null,"file":"f","rejected":[]},"members":[],"vips":[],"units":[],"convergence":null,"colour":"blue"}"#
        #expect(try StatusReport(json: JSONValue.parse(Array(line.utf8))) == F.emptyStatus)
    }

    @Test func aMisshapenReplySaysWhere() throws {
        var json = F.status.json
        guard case .object(var members) = json, let index = members.firstIndex(where: { $0.0 == "members" }) else { Issue.record("no members"); return }
        members[index].1 = .array([F.member.json, .object([("name", .string("n3")), ("address", .string("a")), ("state", .integer(3))])])
        json = .object(members)
        #expect(throws: JSONShapeError(path: "status.members[1].state", "expected a string")) {
            try ControlReply(json: .object([("v", .integer(1)), ("ok", .bool(true)), ("status", json)]))
        }
        #expect(throws: JSONShapeError(path: "node", "missing")) { try StatusReport(json: .object([])) }
        #expect(throws: JSONShapeError(path: "desired.generation", "expected an integer from 0 to 18446744073709551615")) {
            try StatusReport(json: JSONValue.parse(Array(#"{"node":"n","version":"0","desired":{"generation":-1,"file":"f","rejected":[]},"members":[],"vips":[],"units":[]}"#.utf8)))
        }
        #expect(throws: JSONShapeError(path: "error.code", "expected one of bad-request, too-large, unsupported-version, unknown-command, forbidden, failed")) {
            try ControlReply(json: JSONValue.parse(Array(#"{"v":1,"ok":false,"error":{"code":"odd","message":"m"}}"#.utf8)))
        }
    }
}
