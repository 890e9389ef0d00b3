// Managed files on disk: read one (for drift), write one atomically (a temporary file in the same directory,
// validated, fsynced, renamed over the old, the directory fsynced), so a reader sees the old or the new, never half.
import HomecloudSchema
import ReconcilerCore
#if canImport(Glibc)
import Glibc
#endif

enum ManagedFileIO {
    /// Larger files are not compared (the document itself is at most 1 MiB): they count as different.
    static let readLimit = 2 * 1024 * 1024
    static let validateTimeout = Duration.seconds(30)

    static func errorText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    static func read(_ path: String) -> ObservedFile {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            return errno == ENOENT ? .missing : .unreadable(errorText())
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            return .unreadable(info.st_mode & S_IFMT == S_IFLNK ? "a symbolic link" : "not a regular file")
        }
        guard Int(info.st_size) <= readLimit else { return .unreadable("larger than \(readLimit) bytes") }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT { return .missing }
            // Root without CAP_DAC_READ_SEARCH reads a file of another owner only as that file's "other" may.
            let hint = code == EACCES && info.st_uid != geteuid() ? " (a file of another owner: the agent needs CAP_DAC_READ_SEARCH)" : ""
            return .unreadable(errorText(code) + hint)
        }
        defer { close(fd) }
        guard fstat(fd, &info) == 0 else { return .unreadable(errorText()) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while bytes.count <= readLimit {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { return .unreadable(errorText()) }
            if count == 0 { break }
            bytes += buffer[0..<count]
        }
        return .present(bytes: bytes, mode: UInt32(info.st_mode) & 0o7777, uid: info.st_uid, gid: info.st_gid)
    }

    /// The ids of a file owner's user and group in this board's user database (getpwnam_r, getgrnam_r).
    @Sendable static func lookupOwner(_ owner: FileOwner) -> OwnerLookup {
        var buffer = [CChar](repeating: 0, count: 4096)
        var uid = UInt32(owner.user)
        if uid == nil {
            var entry = passwd()
            var found: UnsafeMutablePointer<passwd>?
            let code = getpwnam_r(owner.user, &entry, &buffer, buffer.count, &found)
            guard code == 0 else { return .unknown("cannot look up user \"\(owner.user)\": \(errorText(code))") }
            guard found != nil else { return .unknown("no user \"\(owner.user)\" on this board") }
            uid = entry.pw_uid
        }
        var gid = UInt32(owner.group)
        if gid == nil {
            var entry = group()
            var found: UnsafeMutablePointer<group>?
            let code = getgrnam_r(owner.group, &entry, &buffer, buffer.count, &found)
            guard code == 0 else { return .unknown("cannot look up group \"\(owner.group)\": \(errorText(code))") }
            guard found != nil else { return .unknown("no group \"\(owner.group)\" on this board") }
            gid = entry.gr_gid
        }
        return .found(OwnerIDs(uid: uid!, gid: gid!))
    }

    /// Writes `file` in place of what is at its path. The new file is created beside the old (a rename only
    /// replaces atomically within one file system, and under the sandbox only the directory is writable).
    static func write(_ file: DesiredFile) async -> ManagedFilesCore.WriteOutcome {
        let slash = file.path.lastIndex(of: "/")!
        let directory = slash == file.path.startIndex ? "/" : String(file.path[..<slash])
        let name = file.path[file.path.index(after: slash)...]
        let temporary = "\(directory == "/" ? "" : directory)/.\(name).hcagent-\(getpid())"
        var fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        if fd < 0 && errno == EEXIST {
            unlink(temporary)  // left by an agent that died mid-write
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        }
        guard fd >= 0 else { return .failed("cannot create a file in \(directory): \(errorText())") }
        var closed = false
        func fail(_ what: String, _ code: Int32 = errno) -> ManagedFilesCore.WriteOutcome {
            let text = "\(what): \(errorText(code))"
            if !closed { close(fd) }
            unlink(temporary)
            return .failed(text)
        }
        var written = 0
        while written < file.bytes.count {
            let count = file.bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return fail("write \(temporary)") }
            written += count
        }
        guard fchmod(fd, mode_t(file.mode)) == 0 else { return fail("chmod \(temporary)") }
        // After the chmod: once the file is another user's, changing its mode would need CAP_FOWNER too.
        if file.ownerIDs != .root && fchown(fd, file.ownerIDs.uid, file.ownerIDs.gid) != 0 {
            let code = errno
            let hint = code == EPERM ? " (the agent needs CAP_CHOWN for owner: give CapabilityBoundingSet=CAP_CHOWN in a drop-in)" : ""
            return fail("chown \(temporary) to \(file.owner) (\(file.ownerIDs.uid):\(file.ownerIDs.gid))\(hint)", code)
        }
        guard fsync(fd) == 0 else { return fail("fsync \(temporary)") }
        close(fd)
        closed = true
        if let validate = file.validate {
            let argv = validate.map { $0 == "%s" ? temporary : $0 }
            if let refusal = await run(argv) {
                unlink(temporary)
                return .refused(refusal)
            }
        }
        guard rename(temporary, file.path) == 0 else { return fail("rename to \(file.path)") }
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
        return .written
    }

    /// Runs a validate command (argv, no shell) and waits for it; nil when it exits 0, else why not, with the
    /// first line it printed. Polled, not waited on: the reconciler's task must not block a pool thread.
    static func run(_ argv: [String]) async -> String? {
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else { return "cannot run \(argv[0]): pipe: \(errorText())" }
        // The agent's other children must not inherit the pipe; the reader must not block the pool thread.
        for fd in pipeFDs { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(pipeFDs[0], F_SETFL, fcntl(pipeFDs[0], F_GETFL) | O_NONBLOCK)
        defer { close(pipeFDs[0]) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t(), unblocked = sigset_t()
        sigfillset(&defaults)
        sigdelset(&defaults, SIGKILL)
        sigdelset(&defaults, SIGSTOP)
        sigemptyset(&unblocked)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &unblocked)
        var files = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&files)
        defer { posix_spawn_file_actions_destroy(&files) }
        posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&files, pipeFDs[1], 1)
        posix_spawn_file_actions_adddup2(&files, pipeFDs[1], 2)
        var pid: pid_t = 0
        let arguments = argv.map { strdup($0) } + [nil]
        defer { for argument in arguments { free(argument) } }
        let spawned = posix_spawnp(&pid, argv[0], &files, &attributes, arguments, environ)
        close(pipeFDs[1])
        guard spawned == 0 else { return "cannot run \(argv[0]): \(errorText(spawned))" }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        func drain() {
            while true {
                let count = buffer.withUnsafeMutableBytes { Glibc.read(pipeFDs[0], $0.baseAddress, $0.count) }
                guard count > 0 else { return }
                if output.count < 4096 { output += buffer[0..<min(count, 4096 - output.count)] }
            }
        }
        let deadline = ContinuousClock.now + validateTimeout
        var status: Int32 = 0
        var delay = Duration.milliseconds(1)
        while true {
            let done = waitpid(pid, &status, WNOHANG)
            if done == pid { break }
            if done < 0 && errno != EINTR { return "\(argv[0]): waitpid: \(errorText())" }
            drain()
            if ContinuousClock.now > deadline {
                kill(-pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                return "\(argv[0]) did not finish within \(DurationText.format(validateTimeout))"
            }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .milliseconds(20))
        }
        drain()
        let firstLine = String(decoding: output, as: UTF8.self).split(separator: "\n").first.map { ": \($0)" } ?? ""
        if status & 0x7F != 0 { return "\(argv[0]) killed by signal \(status & 0x7F)\(firstLine)" }
        let code = (status >> 8) & 0xFF
        return code == 0 ? nil : "\(argv.joined(separator: " ")) exited with \(code)\(firstLine)"
    }
}
