// One definition per JSON object type: a single `fields` function lists its members, in wire order, and drives
// both the writer (value -> JSON) and the reader (JSON -> value), so the two cannot drift apart.

/// Why a JSON value does not have the expected shape: where (`status.members[2].state`) and what.
public struct JSONShapeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The member path from the top, empty for the top value itself.
    public var path: String
    public var message: String

    public init(path: String = "", _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }

    /// The same error seen from the object or array that holds the value (`step`: ".key" or "[index]").
    func inside(_ step: String) -> JSONShapeError {
        let joined = path.isEmpty || path.hasPrefix("[") ? step + path : step + "." + path
        return JSONShapeError(path: joined.hasPrefix(".") ? String(joined.dropFirst()) : joined, message)
    }
}

/// A value with a JSON form: `json` writes it, `init(json:)` reads it back to an equal value.
public protocol JSONConvertible {
    var json: JSONValue { get }
    init(json: JSONValue) throws(JSONShapeError)
}

/// What a record's `fields` function is given: a writer that collects the members, or a reader that fills them in.
public protocol JSONFieldVisitor {
    /// The writer never fails (Never); the reader fails with the member's path.
    associatedtype Failure: Error
    /// A member always present.
    mutating func required<Value: JSONConvertible>(_ key: String, _ value: inout Value) throws(Failure)
    /// A member absent when nil, or written as null when `nullWhenNil` (keys scripts rely on); null reads as nil.
    mutating func optional<Value: JSONConvertible>(_ key: String, _ value: inout Value?, nullWhenNil: Bool) throws(Failure)
    /// A member that older agents leave out: read as `absent` then (and when null).
    mutating func defaulted<Value: JSONConvertible>(_ key: String, _ value: inout Value, absent: Value) throws(Failure)
}

extension JSONFieldVisitor {
    public mutating func optional<Value: JSONConvertible>(_ key: String, _ value: inout Value?) throws(Failure) {
        try optional(key, &value, nullWhenNil: false)
    }
}

/// A JSON object type defined once by `fields`, which calls the visitor once per member, in wire order.
public protocol JSONRecord: JSONConvertible {
    /// A blank value that reading starts from (every member the reader requires overwrites its part).
    init()
    mutating func fields<Visitor: JSONFieldVisitor>(_ visitor: inout Visitor) throws(Visitor.Failure)
}

extension JSONRecord {
    public var json: JSONValue {
        var writer = JSONObjectWriter()
        var copy = self
        copy.fields(&writer)
        return .object(writer.members)
    }

    public init(json: JSONValue) throws(JSONShapeError) {
        guard case .object(let members) = json else { throw JSONShapeError("expected an object") }
        var reader = JSONObjectReader(members: members)
        self.init()
        try fields(&reader)
    }
}

/// Collects a record's members as JSON.
struct JSONObjectWriter: JSONFieldVisitor {
    typealias Failure = Never
    var members: [(String, JSONValue)] = []

    mutating func required<Value: JSONConvertible>(_ key: String, _ value: inout Value) {
        members.append((key, value.json))
    }

    mutating func optional<Value: JSONConvertible>(_ key: String, _ value: inout Value?, nullWhenNil: Bool) {
        if let value { members.append((key, value.json)) } else if nullWhenNil { members.append((key, .null)) }
    }

    mutating func defaulted<Value: JSONConvertible>(_ key: String, _ value: inout Value, absent: Value) {
        members.append((key, value.json))
    }
}

/// Fills a record's members from a JSON object; members it does not know are ignored (a newer agent's additions).
struct JSONObjectReader: JSONFieldVisitor {
    typealias Failure = JSONShapeError
    let members: [(String, JSONValue)]

    private func present(_ key: String) -> JSONValue? {
        guard let value = members.first(where: { $0.0 == key })?.1, value != .null else { return nil }
        return value
    }

    private func read<Value: JSONConvertible>(_ key: String, _ json: JSONValue) throws(JSONShapeError) -> Value {
        do { return try Value(json: json) } catch { throw error.inside("." + key) }
    }

    mutating func required<Value: JSONConvertible>(_ key: String, _ value: inout Value) throws(JSONShapeError) {
        guard let json = present(key) else { throw JSONShapeError(path: key, "missing") }
        value = try read(key, json)
    }

    mutating func optional<Value: JSONConvertible>(_ key: String, _ value: inout Value?, nullWhenNil: Bool) throws(JSONShapeError) {
        value = try present(key).map { json throws(JSONShapeError) in try read(key, json) }
    }

    mutating func defaulted<Value: JSONConvertible>(_ key: String, _ value: inout Value, absent: Value) throws(JSONShapeError) {
        value = try present(key).map { json throws(JSONShapeError) in try read(key, json) } ?? absent
    }
}

// MARK: the leaves

extension String: JSONConvertible {
    public var json: JSONValue { .string(self) }
    public init(json: JSONValue) throws(JSONShapeError) {
        guard case .string(let text) = json else { throw JSONShapeError("expected a string") }
        self = text
    }
}

extension Bool: JSONConvertible {
    public var json: JSONValue { .bool(self) }
    public init(json: JSONValue) throws(JSONShapeError) {
        guard case .bool(let value) = json else { throw JSONShapeError("expected true or false") }
        self = value
    }
}

/// Integers as their exact decimal text.
public protocol JSONInteger: JSONConvertible, FixedWidthInteger {}

extension JSONInteger {
    public var json: JSONValue { .integer(self) }
    public init(json: JSONValue) throws(JSONShapeError) {
        guard case .number(let text) = json, let value = Self(text) else {
            throw JSONShapeError("expected an integer from \(Self.min) to \(Self.max)")
        }
        self = value
    }
}

extension Int: JSONInteger {}
extension UInt64: JSONInteger {}

extension Array: JSONConvertible where Element: JSONConvertible {
    public var json: JSONValue { .array(map(\.json)) }
    public init(json: JSONValue) throws(JSONShapeError) {
        guard case .array(let items) = json else { throw JSONShapeError("expected an array") }
        var values: [Element] = []
        values.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            do { values.append(try Element(json: item)) } catch { throw error.inside("[\(index)]") }
        }
        self = values
    }
}

/// Enums written as their raw name (commands, error codes).
public protocol JSONNamedCase: JSONConvertible, RawRepresentable, CaseIterable where RawValue == String {}

extension JSONNamedCase {
    public var json: JSONValue { .string(rawValue) }
    public init(json: JSONValue) throws(JSONShapeError) {
        guard case .string(let name) = json, let value = Self(rawValue: name) else {
            throw JSONShapeError("expected one of \(Self.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = value
    }
}
