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
    /// `environment`: `NAME=VALUE` entries added to (or replacing those of) the agent's own.
    static func start(_ argv: [String], environment: [String] = [], on loop: ProbeLoop, _ outcome: Outcome) {
        guard !argv.isEmpty else { return outcome.finish(.fail("no command")) }
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
        posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&files, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&files, 1, 2)
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
