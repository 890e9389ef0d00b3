// Reads keepalived.conf's syntax into statements: words per line, `{ }` blocks, "quoted" words, # and ! comments.

/// One line of keepalived.conf: its first word, the words after it, and the block that follows, if any.
public struct KeepalivedStatement: Sendable, Equatable {
    public var keyword: String
    public var arguments: [String]
    public var block: [KeepalivedStatement]?
    /// 1-based, for the warnings.
    public var line: Int

    public init(keyword: String, arguments: [String] = [], block: [KeepalivedStatement]? = nil, line: Int) {
        self.keyword = keyword
        self.arguments = arguments
        self.block = block
        self.line = line
    }

    /// Every word of the line, the keyword first (list blocks such as `unicast_peer { a b }` put several on one line).
    public var words: [String] { [keyword] + arguments }
}

public enum KeepalivedConfig {
    public struct SyntaxError: Error, Equatable, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(line): \(message)" }
        public init(line: Int, message: String) {
            self.line = line
            self.message = message
        }
    }

    private enum Token: Equatable {
        case word(String)
        case open, close, newline
    }

    /// The statements of a keepalived.conf text, or the first place its braces or quotes do not add up.
    public static func parse(_ text: String) throws(SyntaxError) -> [KeepalivedStatement] {
        let tokens = try tokenize(text)
        var index = 0
        let statements = try block(tokens, &index, depth: 0)
        return statements
    }

    private static func tokenize(_ text: String) throws(SyntaxError) -> [(Token, Int)] {
        var tokens: [(Token, Int)] = []
        var line = 1
        var word = ""
        var inQuote = false
        var inComment = false
        func flush() {
            if !word.isEmpty { tokens.append((.word(word), line)) }
            word = ""
        }
        for character in text {
            if character == "\n" {
                if inQuote { throw SyntaxError(line: line, message: "a quoted word does not end on its line") }
                flush()
                inComment = false
                tokens.append((.newline, line))
                line += 1
                continue
            }
            if inComment { continue }
            if inQuote {
                if character == "\"" { inQuote = false; tokens.append((.word(word), line)); word = "" } else { word.append(character) }
                continue
            }
            switch character {
            case "\"": flush(); inQuote = true
            case "#", "!": flush(); inComment = true
            case "{": flush(); tokens.append((.open, line))
            case "}": flush(); tokens.append((.close, line))
            case " ", "\t", "\r": flush()
            default: word.append(character)
            }
        }
        if inQuote { throw SyntaxError(line: line, message: "a quoted word does not end") }
        flush()
        return tokens
    }

    private static func block(_ tokens: [(Token, Int)], _ index: inout Int, depth: Int) throws(SyntaxError) -> [KeepalivedStatement] {
        var statements: [KeepalivedStatement] = []
        while index < tokens.count {
            let (token, line) = tokens[index]
            switch token {
            case .newline:
                index += 1
            case .close:
                guard depth > 0 else { throw SyntaxError(line: line, message: "a } closes no block") }
                index += 1
                return statements
            case .open:
                throw SyntaxError(line: line, message: "a { opens a block with no keyword before it")
            case .word(let keyword):
                index += 1
                var arguments: [String] = []
                while index < tokens.count, case .word(let argument) = tokens[index].0 {
                    arguments.append(argument)
                    index += 1
                }
                // The block may open on the keyword's line or on a line of its own below it.
                var look = index
                while look < tokens.count, tokens[look].0 == .newline { look += 1 }
                var body: [KeepalivedStatement]?
                if look < tokens.count, tokens[look].0 == .open {
                    index = look + 1
                    body = try block(tokens, &index, depth: depth + 1)
                }
                statements.append(KeepalivedStatement(keyword: keyword, arguments: arguments, block: body, line: line))
            }
        }
        if depth > 0 { throw SyntaxError(line: tokens.last?.1 ?? 1, message: "a block is not closed (a } is missing)") }
        return statements
    }
}
