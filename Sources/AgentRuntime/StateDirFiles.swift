// Reading the document the last run kept in state_dir: a damaged file (garbage, truncated, binary) is ignored
// with one warning, never a crash; the agent starts without it. Gossip's own files: GossipStateFiles.
import HomecloudSchema
import HomecloudYAML
import Logging

enum StateDirFiles {
    /// The text of the persisted document, or nil when there is none or it is damaged (then the agent waits
    /// for desired.yaml or a peer's document, as a new board does).
    static func persistedDocument(at path: String, logger: Logger) -> String? {
        let text: String
        do {
            text = try TextFile.read(path)
        } catch {
            if TextFile.stamp(path) != nil { logger.warning("ignoring the kept document: \(error)") }
            return nil
        }
        if case .failure(let refusal) = DesiredStateParser.parse(text, file: path) {
            let first = refusal.diagnostics.first.map { "\($0)" } ?? path
            logger.warning("ignoring the kept document, it is damaged (\(first)); waiting for desired.yaml or a peer's")
            return nil
        }
        return text
    }
}
