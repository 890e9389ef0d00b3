// The system calls of an in-place restart: which file to execute again, and execve() with every descriptor
// closed and the signal state a fresh start expects.
#if canImport(Glibc)
import Glibc
#endif

enum InPlaceExec {
    /// The path this process was started from. After a package replaced the file, /proc/self/exe still names
    /// the old, deleted inode ("PATH (deleted)"): executing PATH runs the new binary.
    static func executablePath() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        var path = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let deleted = " (deleted)"
        if path.hasSuffix(deleted) { path.removeLast(deleted.count) }
        return path
    }

    /// Replaces this process with `path` (same PID, so systemd's Type=notify unit keeps it as its main process).
    /// Returns only if execve failed, with the reason; this process then runs on as before.
    static func exec(path: String, arguments: [String]) -> String {
        // Every socket, epoll and netlink descriptor closes at the exec (most are O_CLOEXEC already; this makes
        // sure): the new process binds its own. stdin, stdout and stderr (the journal's streams) stay.
        markDescriptorsCloseOnExec()
        // Dispositions set to SIG_IGN and blocked signals survive execve. The stop signals get their default
        // back so a stop during the new process's start still stops it; the mask is emptied as at a first start.
        var oldTerm = sigaction(), oldInt = sigaction(), fallback = sigaction()
        fallback.__sigaction_handler.sa_handler = SIG_DFL
        sigaction(SIGTERM, &fallback, &oldTerm)
        sigaction(SIGINT, &fallback, &oldInt)
        var empty = sigset_t(), oldMask = sigset_t()
        sigemptyset(&empty)
        pthread_sigmask(SIG_SETMASK, &empty, &oldMask)

        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        execve(path, &argv, environ)
        let reason = String(cString: strerror(errno))

        pthread_sigmask(SIG_SETMASK, &oldMask, nil)
        sigaction(SIGTERM, &oldTerm, nil)
        sigaction(SIGINT, &oldInt, nil)
        for pointer in argv { free(pointer) }
        return reason
    }

    private static func markDescriptorsCloseOnExec() {
        guard let directory = opendir("/proc/self/fd") else { return }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let fd = Int32(name), fd > 2 else { continue }
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0, flags & FD_CLOEXEC == 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }
}
