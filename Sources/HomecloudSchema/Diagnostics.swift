// Located error messages for configuration files: FILE:LINE:COLUMN: key.path: what is wrong.

/// One thing wrong with a file, with where it is.
public struct Diagnostic: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var column: Int?
    /// The key path, e.g. `roles.dnas.units[1].placement`; empty for the whole file.
    public var path: String
    public var message: String

    public init(file: String, mark: SourceMark?, path: String, message: String) {
        self.file = file
        self.line = mark?.line
        self.column = mark?.column
        self.path = path
        self.message = message
    }

    public var description: String {
        var location = file
        if let line {
            location += ":\(line)"
            if let column { location += ":\(column)" }
        }
        return path.isEmpty ? "\(location): \(message)" : "\(location): \(path): \(message)"
    }
}

/// Every error found in one file; a file is refused as a whole, never half taken.
public struct FileRejected: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]
    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// A position in the document's key tree, rendered as `roles.dnas.units[1]`.
public struct KeyPath: Sendable, CustomStringConvertible {
    public private(set) var description: String
    public init(_ text: String = "") { self.description = text }
    public func key(_ key: String) -> KeyPath {
        KeyPath(description.isEmpty ? key : "\(description).\(key)")
    }
    public func index(_ index: Int) -> KeyPath { KeyPath("\(description)[\(index)]") }
}

/// Where a node starts in its file (the YAML reader marks each node); lines and columns count from 1.
public struct SourceMark: Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }
    public var description: String { "\(line):\(column)" }
}
