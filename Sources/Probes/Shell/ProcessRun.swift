// Runs a probe's command in a process group of its own and reaps it when its pidfd says it exited; at its
// deadline the whole group is killed, so a hung check leaves nothing behind.
import CLinuxEvents
import HomecloudSchema
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

enum ProcessRun {
    /// Spawns the command and finishes `outcome` when it exits; if the deadline comes first, its group is killed.
    /// `environment`: `NAME=VALUE` entries added to (or replacing those of) the agent's own. `inputs`: bytes the
    /// command reads on these descriptors (its stdin is 0), each from a pipe filled before it starts (so a few
    /// KiB at most: the pipe's buffer), never on its command line, which every local user can read.
    static func start(_ argv: [String], environment: [String] = [], inputs: [Int32: [UInt8]] = [:], on loop: ProbeLoop, _ outcome: Outcome) {
        guard !argv.isEmpty else { return outcome.finish(.fail("no command")) }
        var pipes: [(target: Int32, readEnd: Int32)] = []
        defer { for pipe in pipes { close(pipe.readEnd) } }
        for (target, bytes) in inputs.sorted(by: { $0.key < $1.key }) {
            switch filledPipe(bytes) {
            case .success(let readEnd): pipes.append((target, readEnd))
            case .failure(let why): return outcome.finish(.fail("cannot give \(argv[0]) its input: \(why)"))
            }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // A fresh start for signals: the agent ignores SIGPIPE (and the lifecycle SIGQUIT), and whoever started it
        // may have blocked signals; a child inherits both, so `cmd | head` or `kill -TERM` would behave otherwise
        // than from a shell. Every catchable signal back to its default, none blocked.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t(), unblocked = sigset_t()
        sigfillset(&defaults)
        sigdelset(&defaults, SIGKILL)
        sigdelset(&defaults, SIGSTOP)
        sigemptyset(&unblocked)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &unblocked)
        // The check sees nothing of the agent: no stdin, no output into its journal (its sockets are CLOEXEC).
        var files = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&files)
        defer { posix_spawn_file_actions_destroy(&files) }
        if !pipes.contains(where: { $0.target == 0 }) { posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0) }
        posix_spawn_file_actions_addopen(&files, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&files, 1, 2)
        // The read ends sit at 10 or above (filledPipe): never one of the targets, so no dup2 undoes another.
        for pipe in pipes { posix_spawn_file_actions_adddup2(&files, pipe.readEnd, pipe.target) }
        var pid: pid_t = 0
        let arguments = argv.map { strdup($0) } + [nil]
        defer { for argument in arguments { free(argument) } }
        let spawned: Int32
        if environment.isEmpty {
            spawned = posix_spawnp(&pid, argv[0], &files, &attributes, arguments, environ)
        } else {
            let entries = merged(environment).map { strdup($0) } + [nil]
            defer { for entry in entries { free(entry) } }
            spawned = posix_spawnp(&pid, argv[0], &files, &attributes, arguments, entries)
        }
        guard spawned == 0 else { return outcome.finish(.fail("cannot run \(argv[0]): \(String(cString: strerror(spawned)))")) }
        let child = pid, name = argv[0]
        outcome.onCancel { kill(-child, SIGKILL) }
        // The pidfd turns readable when the child exits, and the loop reaps exactly that child: no thread per run.
        // The watch outlives a cancelled run, so the killed child is reaped too.
        let pidfd = pidfd_open(child, 0)
        if pidfd >= 0 {
            func reap() {
                var status: Int32 = 0
                switch waitpid(child, &status, WNOHANG) {
                case child:
                    loop.forget(pidfd)
                    close(pidfd)
                    outcome.finish(result(status, name: name))
                case 0:  // readable before the exit is visible to waitpid: wait again
                    if loop.arm(pidfd, reap) { return }
                    loop.forget(pidfd)
                    close(pidfd)
                    waitOnThread(child) { status in loop.execute { outcome.finish(result(status, name: name)) } }
                default:
                    if errno == EINTR { return reap() }
                    loop.forget(pidfd)
                    close(pidfd)
                    outcome.finish(.fail("\(name): waitpid: \(String(cString: strerror(errno)))"))
                }
            }
            if loop.arm(pidfd, reap) { return }
            loop.forget(pidfd)
            close(pidfd)
        }
        // waitpid blocks: on a thread of its own, never the event loop's (kernels before 5.3, no epoll).
        waitOnThread(child) { status in loop.execute { outcome.finish(result(status, name: name)) } }
    }

    /// A pipe holding `bytes` with its write end closed (the reader sees them, then the end): its read end, at
    /// descriptor 10 or above and close-on-exec. Never blocks: bytes beyond the pipe's buffer are an error.
    private static func filledPipe(_ bytes: [UInt8]) -> Result<Int32, ProcessInputError> {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { return .failure(ProcessInputError("pipe: \(String(cString: strerror(errno)))")) }
        defer { close(ends[0]); close(ends[1]) }
        // Swift's Glibc module has no pipe2; close-on-exec right after is enough here: the agent spawns its
        // commands on this loop's thread only, so no other spawn can inherit the ends meanwhile.
        _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
        _ = fcntl(ends[1], F_SETFL, fcntl(ends[1], F_GETFL) | O_NONBLOCK)
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { write(ends[1], $0.baseAddress! + written, bytes.count - written) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return .failure(ProcessInputError("\(bytes.count) bytes do not fit in a pipe")) }
            written += count
        }
        let readEnd = fcntl(ends[0], F_DUPFD_CLOEXEC, 10)
        guard readEnd >= 0 else { return .failure(ProcessInputError("fcntl: \(String(cString: strerror(errno)))")) }
        return .success(readEnd)
    }

    struct ProcessInputError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// The agent's environment with `extra`'s names replaced.
    private static func merged(_ extra: [String]) -> [String] {
        let names = Set(extra.map { String($0.prefix { $0 != "=" }) })
        var entries: [String] = []
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            if !names.contains(String(text.prefix { $0 != "=" })) { entries.append(text) }
            cursor += 1
        }
        return entries + extra
    }

    static func result(_ status: Int32, name: String) -> ProbeHysteresis.Result {
        if status == 0 { return .pass }
        if status & 0x7F != 0 { return .fail("\(name) killed by signal \(status & 0x7F)") }
        return .fail("\(name) exited with \((status >> 8) & 0xFF)")
    }

    private static func waitOnThread(_ pid: pid_t, _ done: @escaping @Sendable (Int32) -> Void) {
        final class Job: Sendable {
            let pid: pid_t
            let done: @Sendable (Int32) -> Void
            init(pid: pid_t, done: @escaping @Sendable (Int32) -> Void) {
                self.pid = pid
                self.done = done
            }
        }
        var thread = pthread_t()
        let job = Unmanaged.passRetained(Job(pid: pid, done: done)).toOpaque()
        pthread_create(&thread, nil, { raw in
            let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
            var status: Int32 = 0
            while waitpid(job.pid, &status, 0) < 0 && errno == EINTR {}
            job.done(status)
            return nil
        }, job)
        pthread_detach(thread)
    }
}
