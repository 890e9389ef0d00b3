// Reading what gossip's last run kept in state_dir (incarnation, peers, keyring rotations): a damaged file
// (garbage, truncated, binary) is ignored with one warning, never a crash; gossip starts without it.
import HomecloudSchema
import HomecloudYAML
import Logging

public enum GossipStateFiles {
    /// The last incarnation used, 0 when there is none or the file is damaged: the cluster's memory of a
    /// higher one is then refuted as usual. A value that cannot be bumped is damage too.
    public static func lastIncarnation(at path: String, logger: Logger) -> UInt64 {
        guard let text = try? TextFile.read(path) else {
            if TextFile.stamp(path) != nil { logger.warning("ignoring \(path): not readable text; starting from incarnation 1") }
            return 0
        }
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).first ?? ""
        guard let value = UInt64(line), value < UInt64.max else {
            logger.warning("ignoring \(path): not an incarnation number; starting from incarnation 1")
            return 0
        }
        return value
    }

    /// The peers the last run knew ("NAME ADDRESS:PORT" lines); damaged lines are skipped, with one warning.
    public static func peers(at path: String, logger: Logger) -> [GossipAddress] {
        var peers: [GossipAddress] = []
        for (_, peer) in namedPeers(at: path, logger: logger) where !peers.contains(peer) { peers.append(peer) }
        return peers
    }

    /// The same lines with their names (PeerBook keeps them for the next start).
    public static func namedPeers(at path: String, logger: Logger) -> [(name: String, address: GossipAddress)] {
        guard let text = try? TextFile.read(path) else {
            if TextFile.stamp(path) != nil { logger.warning("ignoring \(path): not readable text; joining the configured peers only") }
            return []
        }
        var peers: [(name: String, address: GossipAddress)] = []
        var damaged = 0
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 2, let address = HostPort(String(fields[1])), let host = IPAddress(address.host),
                  let peer = GossipAddress(host: host.bytes, port: UInt16(address.port)) else {
                damaged += 1
                continue
            }
            peers.append((String(fields[0]), peer))
        }
        if damaged > 0 { logger.warning("ignoring \(damaged) damaged line\(damaged == 1 ? "" : "s") of \(path)") }
        return peers
    }

    /// The keyring kept by `hcctl keys` rotations, or nil when there is none or it is damaged (then key_file
    /// alone is used: a rotation since may have to be repeated on this board).
    public static func keptKeyring(at path: String, logger: Logger) -> GossipKeyring? {
        let text: String
        do {
            text = try TextFile.read(path)
        } catch {
            if TextFile.stamp(path) != nil { logger.warning("ignoring the kept keyring: \(error); using key_file alone") }
            return nil
        }
        do {
            return try GossipKeyring.parse(text, file: path)
        } catch {
            // The error names the file and line, never a key.
            logger.warning("ignoring the kept keyring, it is damaged (\(error)); using key_file alone")
            return nil
        }
    }
}
