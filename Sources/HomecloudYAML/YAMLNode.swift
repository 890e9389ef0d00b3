// YAML parsed into a small tree whose every node keeps its line and column, via libyaml's event parser.
import CYAML
import HomecloudSchema

/// One YAML node. Scalars keep whether they were quoted, because `"100"` is a string and `100` a number.
public struct YAMLNode: Sendable {
    public enum Content: Sendable {
        case scalar(String, quoted: Bool)
        case mapping([(key: YAMLNode, value: YAMLNode)])
        case sequence([YAMLNode])
    }
    public var content: Content
    public var mark: SourceMark

    /// True for an empty plain scalar, `~` and `null`: YAML's ways of writing nothing.
    public var isNull: Bool {
        if case .scalar(let text, quoted: false) = content {
            return text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL"
        }
        return false
    }

    /// What a reader calls this node in an error message.
    public var kindName: String {
        switch content {
        case .scalar: return isNull ? "nothing" : "a scalar"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }
}

/// A YAML text that libyaml could not parse.
public struct YAMLSyntaxError: Error, Sendable {
    public var mark: SourceMark
    public var message: String
}

public enum YAMLParser {
    /// Parses one YAML document. An empty text gives nil. Anchors and aliases are refused: the
    /// documents here are small and an alias only hides what a key really holds.
    public static func parse(_ text: String) throws(YAMLSyntaxError) -> YAMLNode? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw YAMLSyntaxError(mark: SourceMark(line: 1, column: 1), message: "cannot start the YAML parser")
        }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { buffer throws(YAMLSyntaxError) -> YAMLNode? in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var builder = TreeBuilder(locator: MarkLocator(text: bytes))
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    throw syntaxError(parser, locator: &builder.locator)
                }
                defer { yaml_event_delete(&event) }
                let done = try builder.take(&event)
                if done { break }
            }
            return builder.root
        }
    }

    private static func syntaxError(_ parser: yaml_parser_t, locator: inout MarkLocator) -> YAMLSyntaxError {
        let problem = parser.problem.map { String(cString: $0) } ?? "not valid YAML"
        var message = problem
        if let context = parser.context {
            message += " " + String(cString: context)
        }
        return YAMLSyntaxError(mark: locator.location(of: parser.problem_mark), message: message)
    }
}

/// libyaml's marks as lines and columns from 1. At the end of a text without a final line break libyaml moves
/// its mark to the start of a line that does not exist: such a mark is put just after the last character
/// instead, where an editor finds it.
struct MarkLocator {
    let text: [UInt8]
    /// The text's length as libyaml's index counts it: characters, after a byte order mark. Counted once, when
    /// a mark could be past the end.
    private var characters: Int?

    init(text: [UInt8]) { self.text = text }

    mutating func location(of mark: yaml_mark_t) -> SourceMark {
        let plain = SourceMark(line: Int(mark.line) + 1, column: Int(mark.column) + 1)
        guard mark.column == 0, mark.line > 0, let last = text.last, last != 0x0A, last != 0x0D else { return plain }
        let characters = self.characters ?? String(decoding: text, as: UTF8.self).unicodeScalars.count - (text.starts(with: [0xEF, 0xBB, 0xBF]) ? 1 : 0)
        self.characters = characters
        guard mark.index >= characters else { return plain }
        let lastLineStart = text.lastIndex(where: { $0 == 0x0A || $0 == 0x0D }).map { $0 + 1 } ?? 0
        let lastLine = String(decoding: text[lastLineStart...], as: UTF8.self).unicodeScalars.count
        return SourceMark(line: Int(mark.line), column: lastLine + 1)
    }
}

/// Builds the tree from libyaml's events with an explicit stack (no recursion, so deep nesting cannot overflow).
private struct TreeBuilder {
    /// An open mapping or sequence. Its members grow in place (stack[top].items.append): rebuilding an enum
    /// case per member copied the list each time, quadratic in a document of thousands of units.
    private struct Open {
        var mark: SourceMark
        var isMapping: Bool
        var pairs: [(key: YAMLNode, value: YAMLNode)] = []
        var pendingKey: YAMLNode?
        var items: [YAMLNode] = []
    }
    private var stack: [Open] = []
    private(set) var root: YAMLNode?
    private var documents = 0
    var locator: MarkLocator

    init(locator: MarkLocator) { self.locator = locator }

    /// Takes one event; returns true at the end of the stream.
    mutating func take(_ event: inout yaml_event_t) throws(YAMLSyntaxError) -> Bool {
        let mark = locator.location(of: event.start_mark)
        switch event.type {
        case YAML_STREAM_END_EVENT:
            return true
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                throw YAMLSyntaxError(mark: mark, message: "only one YAML document is allowed in this file")
            }
        case YAML_ALIAS_EVENT:
            throw YAMLSyntaxError(mark: mark, message: "YAML aliases (*name) are not supported here; write the value out")
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let text: String
            if let value = scalar.value {
                text = String(decoding: UnsafeBufferPointer(start: value, count: Int(scalar.length)), as: UTF8.self)
            } else {
                text = ""
            }
            let quoted = scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE
                || scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE
                || scalar.style == YAML_LITERAL_SCALAR_STYLE
                || scalar.style == YAML_FOLDED_SCALAR_STYLE
            try add(YAMLNode(content: .scalar(text, quoted: quoted), mark: mark))
        case YAML_MAPPING_START_EVENT:
            try checkDepth(mark)
            stack.append(Open(mark: mark, isMapping: true))
        case YAML_SEQUENCE_START_EVENT:
            try checkDepth(mark)
            stack.append(Open(mark: mark, isMapping: false))
        case YAML_MAPPING_END_EVENT, YAML_SEQUENCE_END_EVENT:
            guard let open = stack.popLast() else { break }
            try add(YAMLNode(content: open.isMapping ? .mapping(open.pairs) : .sequence(open.items), mark: open.mark))
        default:
            break
        }
        return false
    }

    /// The documents here nest four or five levels; a limit stops a pathological file early.
    static let maxDepth = 64

    private func checkDepth(_ mark: SourceMark) throws(YAMLSyntaxError) {
        if stack.count >= Self.maxDepth {
            throw YAMLSyntaxError(mark: mark, message: "nested more than \(Self.maxDepth) levels deep")
        }
    }

    private mutating func add(_ node: YAMLNode) throws(YAMLSyntaxError) {
        guard !stack.isEmpty else {
            root = node
            return
        }
        let top = stack.count - 1
        guard stack[top].isMapping else {
            stack[top].items.append(node)
            return
        }
        if let key = stack[top].pendingKey {
            stack[top].pairs.append((key: key, value: node))
            stack[top].pendingKey = nil
        } else {
            guard case .scalar = node.content else {
                throw YAMLSyntaxError(mark: node.mark, message: "a mapping key must be a plain value, not \(node.kindName)")
            }
            stack[top].pendingKey = node
        }
    }
}
