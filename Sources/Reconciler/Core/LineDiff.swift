// A line diff for hcctl plan: the lines a write removes (-) and adds (+), from a longest common subsequence.

public enum LineDiff {
    /// `- old` and `+ new` lines, unchanged ones left out; past `limit` lines on either side only a count (the
    /// table is lines × lines, and a plan is read by a person).
    public static func changes(from old: String, to new: String, limit: Int = 2000) -> [String] {
        // An empty text has no lines (a missing file), not one empty line.
        let a = old.isEmpty ? [] : old.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let b = new.isEmpty ? [] : new.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard a.count <= limit, b.count <= limit else { return ["(\(a.count) lines before, \(b.count) after: too long to compare)"] }
        // common[i][j]: the longest common subsequence of a[i...] and b[j...].
        var common = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                common[i][j] = a[i] == b[j] ? common[i + 1][j + 1] + 1 : max(common[i + 1][j], common[i][j + 1])
            }
        }
        var result: [String] = []
        var i = 0, j = 0
        while i < a.count || j < b.count {
            if i < a.count, j < b.count, a[i] == b[j] {
                i += 1
                j += 1
            } else if j < b.count, i == a.count || common[i][j + 1] > common[i + 1][j] {
                result.append("+ \(b[j])")
                j += 1
            } else {
                result.append("- \(a[i])")
                i += 1
            }
        }
        return result
    }
}
