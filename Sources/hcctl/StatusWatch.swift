// `hcctl status --watch`: asks the agent every second and redraws only when what it would print changed; on a
// terminal the screen is cleared first, into a pipe or file each new status follows a separator line. Ctrl-C
// ends it with status 0. An agent that stops answering is shown as such and watched on.
#if canImport(Glibc)
import Glibc
#endif
import HomecloudSchema

struct StatusWatch {
    /// Between two requests: often enough to catch a VIP moving, rare enough to cost the agent nothing.
    static let interval = Duration.seconds(1)

    var connection: ConnectionOptions
    var json: Bool

    func run() -> Never {
        // Ctrl-C is how a watch ends: not an error. Screens are written unbuffered, so nothing is lost.
        signal(SIGINT) { _ in _exit(0) }
        let terminal = isatty(STDOUT_FILENO) == 1
        var shown: String?
        while true {
            let screen = Self.screen(of: fetch(), json: json)
            if screen != shown {
                var out = terminal ? Self.clearScreen : (shown == nil ? "" : Self.separator(now: Int(time(nil))))
                out += screen
                Self.writeOut(out)
                shown = screen
            }
            var pause = timespec(tv_sec: Int(Self.interval.components.seconds), tv_nsec: 0)
            var left = timespec()
            while nanosleep(&pause, &left) != 0 && errno == EINTR { pause = left }
        }
    }

    /// The agent's status, or why there is none.
    private func fetch() -> Result<StatusReport, AgentUnreachable> {
        do {
            let reply = try ControlClient(path: connection.socket).send(ControlRequest(command: .status))
            if let error = reply.error { return .failure(AgentUnreachable(description: error.message)) }
            guard let status = reply.status else { return .failure(AgentUnreachable(description: "the agent's reply has no status")) }
            return .success(status)
        } catch let error as AgentUnreachable {
            return .failure(error)
        } catch {
            return .failure(AgentUnreachable(description: "\(error)"))
        }
    }

    /// What one screen shows: clock times rather than "12s ago", so an unchanged status is an unchanged text.
    static func screen(of result: Result<StatusReport, AgentUnreachable>, json: Bool) -> String {
        switch result {
        case .success(let status): return json ? status.json.pretty + "\n" : StatusText.render(status, now: nil)
        case .failure(let error): return "hcctl: \(error.description) (asking again every second; Ctrl-C ends)\n"
        }
    }

    /// Straight to the descriptor: a screen is whole on the terminal or in the pipe when it returns.
    static func writeOut(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                // stdout gone (a closed pipe): nobody is watching any more.
                _exit(0)
            }
            bytes = bytes.dropFirst(written)
        }
    }

    /// Cursor home, then erase the screen (ANSI).
    static let clearScreen = "\u{1B}[H\u{1B}[2J"

    static func separator(now: Int) -> String {
        "--- \(StatusText.since(now, now: nil)) ---\n"
    }
}
