// A document's text with a new generation written in place (hcctl apply renumbers; nothing else changes).
import HomecloudSchema

extension DesiredStateParser {
    /// The same text with its top-level `generation:` value replaced, everything else byte for byte as written;
    /// nil when the text has no plain top-level generation to replace.
    public static func settingGeneration(of text: String, to generation: UInt64) -> String? {
        guard let root = try? YAMLParser.parse(text), case .mapping(let pairs) = root.content,
              let value = pairs.first(where: { if case .scalar("generation", _) = $0.key.content { true } else { false } })?.value,
              case .scalar(let old, quoted: false) = value.content else { return nil }
        // The value's line and column as libyaml counts them: characters (after a byte order mark), lines
        // ended by \n, \r, \r\n, NEL, LS or PS. Walked in place: a document may be large.
        let scalars = text.unicodeScalars
        var position = scalars.startIndex
        if position < scalars.endIndex, scalars[position] == "\u{FEFF}" { position = scalars.index(after: position) }
        var line = 1, column = 1
        while position < scalars.endIndex, line < value.mark.line || (line == value.mark.line && column < value.mark.column) {
            let scalar = scalars[position]
            position = scalars.index(after: position)
            switch scalar {
            case "\r":
                if position < scalars.endIndex, scalars[position] == "\n" { position = scalars.index(after: position) }
                fallthrough
            case "\n", "\u{85}", "\u{2028}", "\u{2029}":
                line += 1
                column = 1
            default:
                column += 1
            }
        }
        guard line == value.mark.line, column == value.mark.column, scalars[position...].starts(with: old.unicodeScalars) else { return nil }
        let end = scalars.index(position, offsetBy: old.unicodeScalars.count)
        return String(Substring(scalars[..<position])) + String(generation) + String(Substring(scalars[end...]))
    }
}
