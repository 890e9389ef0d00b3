// Log lines for stderr that journald understands: a <N> syslog priority prefix, then label, message, metadata.
#if canImport(Glibc)
import Glibc
#endif
import Logging

/// Under systemd (JOURNAL_STREAM set) each line starts with `<N>`, which journald turns into the priority, and
/// carries no timestamp of its own; run by hand, lines carry the level name instead.
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let underJournal: Bool

    public init(label: String, level: Logger.Level = .info) {
        self.label = label
        self.logLevel = level
        self.underJournal = getenv("JOURNAL_STREAM") != nil
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = underJournal ? "<\(Self.syslogPriority(event.level))>" : "\(event.level) "
        line += "\(label): \(event.message)"
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        for key in merged.keys.sorted() {
            line += " \(key)=\(merged[key]!)"
        }
        line += "\n"
        // One write per line so lines from several threads never interleave.
        _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    }

    static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }
}
