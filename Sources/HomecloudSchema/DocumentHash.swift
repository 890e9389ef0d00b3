// A document's content hash (FNV-1a, 64 bits): equal generations with different texts resolve to the same
// winner on every board, and a peer's metadata says in 16 hex digits which text it runs.

public enum DocumentHash {
    public static func of(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }
}
