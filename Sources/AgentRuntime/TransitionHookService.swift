// Runs the VIPs' `notify:` hooks: follows VRRP's transitions and the document, asks the rule (TransitionHooks)
// what to run, and runs it on the probes' loop (as exec probes run), never on VRRP's thread, so a slow hook
// never delays an advertisement. Failures are logged, counted and shown in hcctl status; never retried.
import HomecloudSchema
import Logging
import Metrics
import PartWiring
import Probes
import PartLifecycle
import VRRP

struct TransitionHookService: Service {
    enum Input: Sendable {
        case document(DesiredState)
        case transition(VIPTransition)
        case finished(TransitionHooks.Run, failure: String?)
    }

    let node: String
    let policy: LocalPolicy?
    let policyFile: String
    let documents: LatestValue<AcceptedDocument>
    let transitions: AsyncStream<VIPTransition>
    let probes: ProbeHandle
    let problems: PartProblems
    let logger: Logger

    /// hcagent_hook_runs_total{result}: ok, failed (an exit status, a signal, a missing command), timeout
    /// (killed at its timeout), refused (not allowed by the local policy), dropped (too many waiting).
    private static let results = ["ok", "failed", "timeout", "refused", "dropped"]
    private let counters = Dictionary(uniqueKeysWithValues: results.map {
        ($0, Counter(label: "hcagent_hook_runs_total", dimensions: [("result", $0)]))
    })

    init(node: String, policy: LocalPolicy?, policyFile: String, documents: LatestValue<AcceptedDocument>,
         transitions: AsyncStream<VIPTransition>, probes: ProbeHandle, problems: PartProblems, logger: Logger) {
        self.node = node
        self.policy = policy
        self.policyFile = policyFile
        self.documents = documents
        self.transitions = transitions
        self.probes = probes
        self.problems = problems
        self.logger = logger
    }

    func run() async throws {
        let (inputs, sink) = AsyncStream.makeStream(of: Input.self)
        let accepted = documents.follow(), transitions = self.transitions
        var rule = TransitionHooks(node: node, policy: policy, policyFile: policyFile)
        var known: DesiredState?
        let documents = self.documents
        await withDiscardingTaskGroup { group in
            group.addTask { for await document in accepted { sink.yield(.document(document.document)) } }
            group.addTask { for await transition in transitions { sink.yield(.transition(transition)) } }
            await withGracefulShutdownHandler {
                for await input in inputs {
                    let actions: [TransitionHooks.Action]
                    switch input {
                    case .document(let document):
                        guard document != known else { continue }
                        known = document
                        actions = rule.onDocument(document.vips)
                    case .transition(let transition):
                        // VRRP ran the document before this transition; its hooks may not have come here yet.
                        var before: [TransitionHooks.Action] = []
                        if let latest = documents.value?.document, latest != known {
                            known = latest
                            before = rule.onDocument(latest.vips)
                        }
                        actions = before + rule.onTransition(transition)
                    case .finished(let run, let failure):
                        record(run, failure: failure)
                        actions = rule.onFinished(id: run.id, vip: run.vip)
                    }
                    for action in actions { carryOut(action, group: &group, sink: sink) }
                }
            } onGracefulShutdown: {
                sink.finish()
            }
            group.cancelAll()
        }
    }

    private func carryOut(_ action: TransitionHooks.Action, group: inout DiscardingTaskGroup, sink: AsyncStream<Input>.Continuation) {
        switch action {
        case .start(let run):
            logger.notice("VIP \(run.vip): running its \(run.state) hook: \(run.argv.joined(separator: " "))")
            let probes = self.probes
            group.addTask {
                let failure = await probes.runCommand(run.argv, environment: run.environment, timeout: run.timeout)
                sink.yield(.finished(run, failure: failure))
            }
        case .refuse(let vip, let state, _, let why):
            counters["refused"]?.increment()
            let message = "VIP \(vip): its \(state) hook was not run: \(why)"
            logger.error("\(message)")
            problems.report("hook:\(vip)", message, alreadyLogged: true)
        case .drop(let run):
            counters["dropped"]?.increment()
            logger.warning("VIP \(run.vip): its \(run.state) hook was dropped: more than \(TransitionHooks.maxWaiting) transitions waited behind a running hook")
        }
    }

    private func record(_ run: TransitionHooks.Run, failure: String?) {
        guard let failure else {
            counters["ok"]?.increment()
            problems.clear("hook:\(run.vip)")
            return
        }
        counters[failure.hasPrefix("timed out") ? "timeout" : "failed"]?.increment()
        let message = "VIP \(run.vip): its \(run.state) hook failed (not retried): \(failure)"
        logger.error("\(message)")
        problems.report("hook:\(run.vip)", message, alreadyLogged: true)
    }
}
