// Shell-style globs for agent.yaml's policy: `*` and `?` stay within one path segment, `**` crosses `/`.

public enum Glob {
    enum Token: Equatable { case character(Unicode.Scalar), one, segment, any }

    /// Whether `text` matches `pattern` as a whole. `*` matches any run of characters but `/`, `**` any run at
    /// all, `?` one character but `/`; every other character stands for itself (no classes, no escapes).
    public static func matches(_ pattern: String, _ text: String) -> Bool {
        var tokens: [Token] = []
        let scalars = Array(pattern.unicodeScalars)
        var index = 0
        while index < scalars.count {
            switch scalars[index] {
            case "*":
                if index + 1 < scalars.count && scalars[index + 1] == "*" {
                    tokens.append(.any)
                    index += 1
                } else {
                    tokens.append(.segment)
                }
            case "?": tokens.append(.one)
            default: tokens.append(.character(scalars[index]))
            }
            index += 1
        }
        let characters = Array(text.unicodeScalars)
        // matched[t][c]: tokens[t...] match characters[c...]; filled from the end, |tokens|·|text| steps at most.
        var after = [Bool](repeating: false, count: characters.count + 1)
        after[characters.count] = true
        for token in tokens.reversed() {
            var row = [Bool](repeating: false, count: characters.count + 1)
            for c in stride(from: characters.count, through: 0, by: -1) {
                switch token {
                case .character(let scalar): row[c] = c < characters.count && characters[c] == scalar && after[c + 1]
                case .one: row[c] = c < characters.count && characters[c] != "/" && after[c + 1]
                case .segment: row[c] = after[c] || (c < characters.count && characters[c] != "/" && row[c + 1])
                case .any: row[c] = after[c] || (c < characters.count && row[c + 1])
                }
            }
            after = row
        }
        return after[0]
    }
}
