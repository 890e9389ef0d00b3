// This board's drained state (hcctl drain, hcctl undrain): published to VRRP and gossip, kept in
// state_dir/drained (written atomically) so that it survives a restart of the agent. A state_dir that cannot
// keep it is a problem of the agent's (status, one log line), retried every few seconds, never a stop.
import Gossip
import HomecloudSchema
import HomecloudYAML
import Logging
import PartWiring
import PartLifecycle
import Synchronization

/// The text of state_dir/drained. Pure.
public enum DrainFile {
    public static func text(drained: Bool) -> String { drained ? "drained\n" : "in service\n" }

    /// True or false, or nil when the text is neither (a damaged file).
    public static func parse(_ text: String) -> Bool? {
        switch text.split(whereSeparator: \.isNewline).first.map(String.init) ?? "" {
        case "drained": true
        case "in service": false
        default: nil
        }
    }
}

public final class DrainKeeper: Service, Sendable {
    /// The part name of its problems (hcctl status).
    public static let part = "drain"
    /// Whether this board is drained: followed by VRRP (priority 1, VIPs handed over) and gossip (metadata).
    public let drained: LatestValue<Bool>
    let path: String
    let problems: PartProblems
    let logger: Logger
    /// Set while the last change is not in state_dir yet (retried by `run`).
    private let unsaved = Mutex(false)
    /// This board's name, and what other boards ask of it (gossip); nil: nothing is followed.
    let node: String
    let asks: LatestValue<DrainAsk?>?

    /// Reads what the last run kept: a missing file is in service; a damaged one is in service too, with a
    /// problem that says so (a drain or undrain writes it again).
    public init(stateDir: String, problems: PartProblems, logger: Logger, node: String = "", asks: LatestValue<DrainAsk?>? = nil) {
        path = stateDir + "/drained"
        self.node = node
        self.asks = asks
        self.problems = problems
        self.logger = logger
        var value = false
        if TextFile.stamp(path) != nil {
            do {
                if let kept = DrainFile.parse(try TextFile.read(path)) {
                    value = kept
                } else {
                    problems.report(Self.part, "\(path) is neither \"drained\" nor \"in service\": taken as in service; hcctl drain or undrain writes it again")
                }
            } catch {
                problems.report(Self.part, "cannot read \(error): taken as in service; hcctl drain or undrain writes it again")
            }
        }
        if value { logger.notice("this board is drained (kept in \(path)); hcctl undrain puts it back in service") }
        drained = LatestValue(value)
    }

    public var isDrained: Bool { drained.value ?? false }

    /// hcctl drain or undrain: published at once (VRRP and gossip act on it), then kept in state_dir.
    public func set(_ value: Bool, node: String) -> String {
        let changed = unsaved.withLock { unsaved -> Bool in
            let changed = drained.publishIfChanged(value)
            if changed || unsaved { unsaved = !save(value) }
            return changed
        }
        if changed { logger.notice(value ? "drained by hcctl drain" : "back in service by hcctl undrain") }
        let kept = unsaved.withLock { $0 } ? " (not kept in state_dir: a restart of the agent would forget it; see hcctl status)" : ""
        if value {
            return (changed ? "\(node) drained" : "\(node) was already drained")
                + ": its VIPs go to other boards (make before break), its `one` units move off it\(kept)"
        }
        return (changed ? "\(node) back in service" : "\(node) was not drained") + ": VIP priorities and placement as the document says\(kept)"
    }

    /// Writes the state; a failure is the "drain" problem, a success clears it.
    private func save(_ value: Bool) -> Bool {
        do {
            try TextFile.writeAtomically(path, DrainFile.text(drained: value))
            problems.clear(Self.part, message: "\(path) is kept again")
            return true
        } catch {
            problems.report(Self.part, "cannot keep the drained state in state_dir (\(error.reason)): running on what is in memory; a restart now would forget it")
            return false
        }
    }

    /// Retries an unsaved change every few seconds, and carries out what other boards ask (hcctl drain NODE
    /// there) once per change of what they ask (a board undrained here later is not drained again by the same
    /// request), until the agent stops.
    public func run() async throws {
        let asks = self.asks, node = self.node
        await withDiscardingTaskGroup { group in
            if let asks {
                group.addTask {
                    for await ask in asks.follow() {
                        guard let ask else { continue }
                        self.logger.notice("\(ask.by.joined(separator: ", ")) asked this board \(ask.drained ? "to drain" : "to come back in service")")
                        _ = self.set(ask.drained, node: node)
                    }
                }
            }
            try? await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    try await AlignedTick.sleep(every: .seconds(5))
                    self.unsaved.withLock { unsaved in
                        if unsaved { unsaved = !self.save(self.isDrained) }
                    }
                }
            }
            group.cancelAll()
        }
    }
}
