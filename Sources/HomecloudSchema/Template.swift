// A managed file's content as a template: text with `{{ fact }}` and `{% for n in roles.ROLE.nodes %}...{% endfor %}`
// (optionally `... nodes if n.facts.NAME %}`: only the nodes whose fact is known), parsed once with positioned
// errors. No other conditions, no filters, arithmetic or includes: facts in, text out.

public struct Template: Sendable, Equatable {
    /// Where in the template text a tag starts; lines and columns count from 1.
    public struct Position: Sendable, Equatable, CustomStringConvertible {
        public var line: Int
        public var column: Int
        public init(line: Int, column: Int) {
            self.line = line
            self.column = column
        }
        public var description: String { "\(line):\(column)" }
    }

    /// A name a `{{ }}` tag prints.
    public enum Fact: Sendable, Equatable, CustomStringConvertible {
        case node, address, cluster
        /// `vips.NAME.ip`: the VIP's address without its prefix length.
        case vipIP(String)
        /// `secrets.NAME`: a shared secret (issue 15 item 3; refused by the document checker until secrets exist).
        case secret(String)
        /// `N.name` and `N.address` inside `{% for N in roles.ROLE.nodes %}`.
        case loopName(variable: String)
        case loopAddress(variable: String)
        /// `N.facts.NAME`: the node's published fact (NodeFacts.swift); a file using one the node has not published
        /// waits for it, unless its loop skips such nodes (`if N.facts.NAME`).
        case loopFact(variable: String, name: String)

        public var description: String {
            switch self {
            case .node: return "node"
            case .address: return "address"
            case .cluster: return "cluster"
            case .vipIP(let name): return "vips.\(name).ip"
            case .secret(let name): return "secrets.\(name)"
            case .loopName(let variable): return "\(variable).name"
            case .loopAddress(let variable): return "\(variable).address"
            case .loopFact(let variable, let name): return "\(variable).facts.\(name)"
            }
        }
    }

    public indirect enum Piece: Sendable, Equatable {
        case text(String)
        case fact(Fact, at: Position)
        /// The body once per node of the role, in the document's order; with `requiring`, only for the nodes
        /// whose fact of that name is known (`{% for N in roles.ROLE.nodes if N.facts.NAME %}`).
        case loop(variable: String, role: String, body: [Piece], at: Position, requiring: String? = nil)
    }

    public struct SyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
        public var position: Position
        public var message: String
        public var description: String { "\(position): \(message)" }
    }

    public var pieces: [Piece]

    public init(pieces: [Piece]) { self.pieces = pieces }

    /// The names the template can print: for error messages.
    public static let knownNames = "node, address, cluster, vips.NAME.ip, secrets.NAME, and N.name / N.address / N.facts.NAME inside {% for N in roles.ROLE.nodes %}"
    static let reserved: Set<String> = ["node", "address", "cluster", "vips", "secrets", "roles", "for", "in", "endfor"]

    /// Every fact and loop with its position, loops first then their bodies (for the document checker).
    public func visit(_ body: (Piece) -> Void) {
        func walk(_ pieces: [Piece]) {
            for piece in pieces {
                body(piece)
                if case .loop(_, _, let inner, _, _) = piece { walk(inner) }
            }
        }
        walk(pieces)
    }

    /// Whether any tag prints a secret (such a file defaults to mode 0600).
    public var usesSecret: Bool {
        var found = false
        visit { if case .fact(.secret, _) = $0 { found = true } }
        return found
    }

    // MARK: parsing

    public static func parse(_ text: String) -> Result<Template, SyntaxError> {
        var parser = TemplateParser(Array(text))
        do {
            return .success(Template(pieces: try parser.parse()))
        } catch {
            return .failure(error)
        }
    }
}

/// One pass over the characters; the open loops are a stack.
private struct TemplateParser {
    let chars: [Character]
    var index = 0
    var line = 1
    var column = 1

    init(_ chars: [Character]) { self.chars = chars }

    struct OpenLoop {
        var variable: String
        var role: String
        var requiring: String?
        var at: Template.Position
        var outer: [Template.Piece]
    }

    mutating func parse() throws(Template.SyntaxError) -> [Template.Piece] {
        var pieces: [Template.Piece] = []
        var text = ""
        var loops: [OpenLoop] = []
        func flush() {
            if !text.isEmpty { pieces.append(.text(text)) }
            text = ""
        }
        while index < chars.count {
            let char = chars[index]
            guard char == "{", index + 1 < chars.count, chars[index + 1] == "{" || chars[index + 1] == "%" else {
                text.append(char)
                advance()
                continue
            }
            let statement = chars[index + 1] == "%"
            let start = Template.Position(line: line, column: column)
            let closer: [Character] = statement ? ["%", "}"] : ["}", "}"]
            guard let close = find(closer, from: index + 2) else {
                throw fail(start, statement ? "{% is not closed by %}" : "{{ is not closed by }}")
            }
            let inner = String(chars[(index + 2)..<close]).trimmingSpaces
            // A statement alone on its line takes the line with it, so loops do not leave blank lines.
            let leading = text.reversed().prefix { $0 == " " || $0 == "\t" }.count
            let aloneOnLine = statement && leading == start.column - 1
                && (close + 2 == chars.count || chars[close + 2] == "\n")
            while index < close + 2 { advance() }
            if aloneOnLine {
                text.removeLast(leading)
                if index < chars.count { advance() }
            }
            if !statement {
                flush()
                pieces.append(.fact(try fact(inner, at: start, loops: loops.map(\.variable)), at: start))
                continue
            }
            let words = inner.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
            switch words.first {
            case "for":
                guard words.count == 4 || words.count == 6, words[2] == "in", words.count == 4 || words[4] == "if" else {
                    throw fail(start, "expected {% for N in roles.ROLE.nodes %} or {% for N in roles.ROLE.nodes if N.facts.NAME %}, found {% \(inner) %}")
                }
                let variable = words[1]
                guard isName(variable), !Template.reserved.contains(variable) else {
                    throw fail(start, "\"\(variable)\" cannot name a loop variable (a name of letters, digits, _ or -, not one of \(Template.reserved.sorted().joined(separator: ", ")))")
                }
                if loops.contains(where: { $0.variable == variable }) {
                    throw fail(start, "loop variable \"\(variable)\" is already used by an enclosing loop")
                }
                let source = words[3].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
                guard source.count == 3, source[0] == "roles", isName(source[1]), source[2] == "nodes" else {
                    throw fail(start, "a loop goes over roles.ROLE.nodes, found \"\(words[3])\"")
                }
                var requiring: String?
                if words.count == 6 {
                    let condition = words[5].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
                    guard condition.count == 3, condition[0] == variable, condition[1] == "facts", isName(condition[2]) else {
                        throw fail(start, "a loop's condition is \(variable).facts.NAME (only the nodes whose fact NAME is known), found \"\(words[5])\"")
                    }
                    requiring = condition[2]
                }
                flush()
                loops.append(OpenLoop(variable: variable, role: source[1], requiring: requiring, at: start, outer: pieces))
                pieces = []
            case "endfor":
                guard words.count == 1 else { throw fail(start, "expected {% endfor %}, found {% \(inner) %}") }
                guard let open = loops.popLast() else { throw fail(start, "{% endfor %} without a {% for %}") }
                flush()
                let body = pieces
                pieces = open.outer
                pieces.append(.loop(variable: open.variable, role: open.role, body: body, at: open.at, requiring: open.requiring))
            default:
                throw fail(start, "unknown statement {% \(inner) %}: only {% for N in roles.ROLE.nodes %} and {% endfor %}")
            }
        }
        if let open = loops.last {
            throw fail(open.at, "{% for \(open.variable) in roles.\(open.role).nodes %} has no {% endfor %}")
        }
        flush()
        return pieces
    }

    func fact(_ inner: String, at start: Template.Position, loops: [String]) throws(Template.SyntaxError) -> Template.Fact {
        let parts = inner.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !inner.isEmpty, parts.allSatisfy(isName) else {
            throw fail(start, inner.isEmpty ? "{{ }} names nothing; known: \(Template.knownNames)"
                              : "\"\(inner)\" is not a name (letters, digits, _ or -, joined by dots); known: \(Template.knownNames)")
        }
        switch (parts.count, parts[0]) {
        case (1, "node"): return .node
        case (1, "address"): return .address
        case (1, "cluster"): return .cluster
        case (3, "vips") where parts[2] == "ip": return .vipIP(parts[1])
        case (2, "secrets"): return .secret(parts[1])
        case (2, let variable) where loops.contains(variable) && parts[1] == "name": return .loopName(variable: variable)
        case (2, let variable) where loops.contains(variable) && parts[1] == "address": return .loopAddress(variable: variable)
        case (3, let variable) where loops.contains(variable) && parts[1] == "facts": return .loopFact(variable: variable, name: parts[2])
        case (_, let variable) where loops.contains(variable):
            throw fail(start, "unknown name \"\(inner)\": a loop variable has .name and .address (and .facts.NAME)")
        default:
            throw fail(start, "unknown name \"\(inner)\"; known: \(Template.knownNames)")
        }
    }

    func isName(_ text: String) -> Bool {
        !text.isEmpty && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
    }

    func find(_ closer: [Character], from start: Int) -> Int? {
        var at = start
        while at + 1 < chars.count {
            if chars[at] == closer[0] && chars[at + 1] == closer[1] { return at }
            at += 1
        }
        return nil
    }

    mutating func advance() {
        if chars[index] == "\n" {
            line += 1
            column = 1
        } else {
            column += 1
        }
        index += 1
    }

    func fail(_ at: Template.Position, _ message: String) -> Template.SyntaxError {
        Template.SyntaxError(position: at, message: message)
    }
}

extension String {
    var trimmingSpaces: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
