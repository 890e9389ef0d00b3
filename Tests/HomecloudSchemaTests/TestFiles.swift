// Test helpers: the repository's own files (examples/) and small string edits without Foundation.
import HomecloudSchema
import HomecloudYAML

/// A file under examples/, found from this source file's path.
func examplePath(_ name: String) -> String {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)  // Tests/HomecloudSchemaTests/TestFiles.swift
    return parts.joined(separator: "/") + "/examples/" + name
}

func readTextFile(_ path: String) throws -> String {
    try TextFile.read(path)
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        var copy = self
        if let range = copy.firstRange(of: target) { copy.replaceSubrange(range, with: replacement) }
        return copy
    }
}
