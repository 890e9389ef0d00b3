// Typed reading of a YAMLNode tree that collects every located error instead of stopping at the first.
import HomecloudSchema

/// Reads values out of a parsed file. Each read either returns a value or records why not and returns nil,
/// so one pass reports every problem in the file.
public struct YAMLReader: Sendable {
    public let file: String
    public private(set) var diagnostics: [Diagnostic] = []

    public init(file: String) { self.file = file }

    public mutating func fail(_ mark: SourceMark?, _ path: KeyPath, _ message: String) {
        diagnostics.append(Diagnostic(file: file, mark: mark, path: path.description, message: message))
    }

    /// Parses text and records a syntax error if there is one.
    public mutating func parse(_ text: String) -> YAMLNode? {
        do {
            return try YAMLParser.parse(text)
        } catch {
            diagnostics.append(Diagnostic(file: file, mark: error.mark, path: "", message: error.message))
            return nil
        }
    }

    /// A mapping's entries in file order. Duplicate keys and keys outside `allowed` are errors; a null node
    /// counts as an empty mapping (`roles:` with nothing under it).
    public mutating func mapping(
        _ node: YAMLNode, at path: KeyPath, allowed: [String]? = nil
    ) -> [(key: String, mark: SourceMark, value: YAMLNode)]? {
        if node.isNull { return [] }
        guard case .mapping(let pairs) = node.content else {
            fail(node.mark, path, "expected a mapping, found \(node.kindName)")
            return nil
        }
        var seen: Set<String> = []
        var entries: [(key: String, mark: SourceMark, value: YAMLNode)] = []
        for (keyNode, value) in pairs {
            guard case .scalar(let key, _) = keyNode.content else { continue }
            if !seen.insert(key).inserted {
                fail(keyNode.mark, path.key(key), "duplicate key")
                continue
            }
            if let allowed, !allowed.contains(key) {
                fail(keyNode.mark, path.key(key), "unknown key (known keys: \(allowed.joined(separator: ", ")))")
                continue
            }
            entries.append((key: key, mark: keyNode.mark, value: value))
        }
        return entries
    }

    /// A list's items; a null node counts as an empty list.
    public mutating func sequence(_ node: YAMLNode, at path: KeyPath) -> [YAMLNode]? {
        if node.isNull { return [] }
        guard case .sequence(let items) = node.content else {
            fail(node.mark, path, "expected a list, found \(node.kindName)")
            return nil
        }
        return items
    }

    public mutating func string(_ node: YAMLNode, at path: KeyPath) -> String? {
        guard case .scalar(let text, _) = node.content, !node.isNull else {
            fail(node.mark, path, "expected a text value, found \(node.kindName)")
            return nil
        }
        return text
    }

    /// A non-empty name made of letters, digits and `-_.@:`, as node, role, unit and probe names are.
    public mutating func name(_ node: YAMLNode, at path: KeyPath, what: String) -> String? {
        guard let text = string(node, at: path) else { return nil }
        return checkName(text, node.mark, path, what: what)
    }

    public mutating func checkName(_ text: String, _ mark: SourceMark, _ path: KeyPath, what: String) -> String? {
        let allowed = text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "@") || byte == UInt8(ascii: ":")
        }
        guard !text.isEmpty, text.utf8.count <= 255, allowed else {
            fail(mark, path, "\"\(text)\" is not a valid \(what) (letters, digits and -_.@: only, at most 255)")
            return nil
        }
        return text
    }

    public mutating func integer(_ node: YAMLNode, at path: KeyPath, in range: ClosedRange<Int>) -> Int? {
        guard case .scalar(let text, quoted: false) = node.content, let value = Int(text) else {
            fail(node.mark, path, "expected a whole number from \(range.lowerBound) to \(range.upperBound), found \(describe(node))")
            return nil
        }
        guard range.contains(value) else {
            fail(node.mark, path, "\(value) is out of range (\(range.lowerBound) to \(range.upperBound))")
            return nil
        }
        return value
    }

    public mutating func unsigned(_ node: YAMLNode, at path: KeyPath) -> UInt64? {
        guard case .scalar(let text, quoted: false) = node.content, let value = UInt64(text) else {
            fail(node.mark, path, "expected a whole number of at least 0, found \(describe(node))")
            return nil
        }
        return value
    }

    public mutating func bool(_ node: YAMLNode, at path: KeyPath) -> Bool? {
        if case .scalar(let text, quoted: false) = node.content {
            switch text {
            case "true", "True", "TRUE", "yes", "Yes", "on": return true
            case "false", "False", "FALSE", "no", "No", "off": return false
            default: break
            }
        }
        fail(node.mark, path, "expected true or false, found \(describe(node))")
        return nil
    }

    /// A duration written with a unit: `100ms`, `2s`, `1.5s`, `5m`.
    public mutating func duration(_ node: YAMLNode, at path: KeyPath, in range: ClosedRange<Duration>) -> Duration? {
        guard case .scalar(let text, _) = node.content, !node.isNull else {
            fail(node.mark, path, "expected a duration such as 2s or 100ms, found \(node.kindName)")
            return nil
        }
        guard let value = DurationText.parse(text) else {
            fail(node.mark, path, "\"\(text)\" is not a duration; write it with a unit: 100ms, 2s, 1.5s, 5m, 1h")
            return nil
        }
        guard range.contains(value) else {
            fail(node.mark, path, "\(text) is out of range (\(DurationText.format(range.lowerBound)) to \(DurationText.format(range.upperBound)))")
            return nil
        }
        return value
    }

    /// A list of names, also accepting a single name written without brackets.
    public mutating func names(_ node: YAMLNode, at path: KeyPath, what: String) -> [String]? {
        if case .scalar = node.content, !node.isNull {
            return name(node, at: path, what: what).map { [$0] }
        }
        guard let items = sequence(node, at: path) else { return nil }
        var result: [String] = []
        var ok = true
        for (index, item) in items.enumerated() {
            if let value = name(item, at: path.index(index), what: what) {
                if result.contains(value) {
                    fail(item.mark, path.index(index), "\"\(value)\" is listed twice")
                    ok = false
                } else {
                    result.append(value)
                }
            } else {
                ok = false
            }
        }
        return ok ? result : nil
    }

    private func describe(_ node: YAMLNode) -> String {
        if case .scalar(let text, let quoted) = node.content, !node.isNull {
            return quoted ? "the text \"\(text)\"" : "\"\(text)\""
        }
        return node.kindName
    }
}
