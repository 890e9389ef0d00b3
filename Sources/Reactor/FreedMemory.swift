// Hands the heap's freed pages back to the kernel after a burst of allocation (parsing a large document).
import CLinuxEvents

public enum FreedMemory {
    /// glibc keeps what a burst freed in its arenas (one per thread that allocated), so a 1 MiB document's parse
    /// tree would stay in the agent's RSS long after it is gone; malloc_trim returns those pages. It walks the
    /// free lists (well under a millisecond): call it after rare, large work, not per request.
    public static func release() {
        _ = malloc_trim(0)
    }
}
