// Durations as people write them in YAML (100ms, 2s, 1.5s, 5m, 1h), parsed exactly to milliseconds.

public enum DurationText {
    /// Parses a number with a unit; nil for anything else (a bare number is refused: its unit would be a guess).
    public static func parse(_ text: String) -> Duration? {
        let units: [(suffix: String, milliseconds: Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        for unit in units where text.hasSuffix(unit.suffix) {
            let number = text.dropLast(unit.suffix.count)
            guard let millis = milliseconds(of: number, scale: unit.milliseconds) else { continue }
            return .milliseconds(millis)
        }
        return nil
    }

    /// Formats a duration the way parse reads it: whole seconds as `2s`, the rest as `150ms`.
    public static func format(_ duration: Duration) -> String {
        let millis = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if millis % 1000 == 0 { return "\(millis / 1000)s" }
        return "\(millis)ms"
    }

    private static func milliseconds(of number: Substring, scale: Int64) -> Int64? {
        let parts = number.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = parts.first, !whole.isEmpty,
              whole.allSatisfy(\.isASCII), let wholeValue = Int64(whole), wholeValue >= 0, wholeValue < 1_000_000_000
        else { return nil }
        var millis = wholeValue * scale
        if parts.count == 2 {
            let fraction = parts[1]
            guard !fraction.isEmpty, fraction.count <= 3, fraction.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let fractionValue = Int64(fraction) else { return nil }
            var divisor: Int64 = 1
            for _ in 0..<fraction.count { divisor *= 10 }
            guard (fractionValue * scale) % divisor == 0 else { return nil }  // finer than a millisecond
            millis += fractionValue * scale / divisor
        }
        return millis
    }
}
