// Control protocol values with every field set (and some with every optional field absent), for round trips and goldens.
import HomecloudSchema

enum ControlProtocolFixtures {
    static let diagnostics = [
        Diagnostic(file: "d.yaml", mark: SourceMark(line: 2, column: 5), path: "roles.x", message: "bad \"thing\"\tand\\ a tab"),
        Diagnostic(file: "d.yaml", mark: nil, path: "", message: "older"),
    ]

    static var member: MemberStatus {
        var member = MemberStatus(name: "n2", address: "10.0.0.2:7964", state: "suspect", incarnation: 18_446_744_073_709_551_615,
                                  since: 1_764_000_000, roles: ["nas", "edge"], version: "0.4.0", generation: 7, convergence: "converging",
                                  probes: 3, failingProbes: ["web", "dns"], vips: ["front"])
        member.identity = "refused (a forged signature)"
        member.drained = true
        return member
    }

    static var vip: VIPStatus {
        var vip = VIPStatus(name: "front", address: "fd00::1/64", state: "master", holder: "n1", priority: 254, since: 1_764_000_001,
                            reason: "handover from n3")
        vip.priorityReason = "drained: priority 1, master only as the last live board"
        vip.addresses = ["fd00::1/64", "fd00::2/64"]
        vip.group = "edge"
        return vip
    }
    static let file = FileStatus(path: "/etc/samba/smb.conf", role: "dnas", state: "degraded",
                                 reason: "validate refused the new content, the old file stays: testparm exited with 1", writes: 2)
    static let unit = UnitStatus(name: "k3s.service", desired: "running", active: "failed", state: "degraded", reason: "failed 5 times")
    /// A unit held back by wait_for, every field set (beside the goldens' units, which predate waitingFor).
    static let waitingUnit = UnitStatus(name: "k3s-agent.service", desired: "running", active: "inactive", state: "converging",
                                        reason: "waiting: probe k3s-api on role k3s-init", waitingFor: ["probe k3s-api on role k3s-init"],
                                        waitingForTurn: ["hc1-n2"])
    static let probe = ProbeStatus(name: "web", state: "failing", last: "connect: refused", latencyMs: 12, passes: 40, failures: 3,
                                   since: 1_764_000_002)

    static var desired: DesiredSummary {
        DesiredSummary(generation: 7, file: "/etc/homecloud/desired.yaml", rejected: diagnostics, signedBy: "admin-1a2b",
                       trustedKeys: ["admin-1a2b", "admin-ffff"], policy: "3 unit globs, 1 exec rule, 0 path globs",
                       refused: [DocumentRefusal(reason: "signature", generation: 9, source: "gossip from n3", messages: diagnostics),
                                 DocumentRefusal(reason: "invalid", generation: nil, source: "apply", messages: [])])
    }

    /// Every field of the status and of its parts set.
    static var status: StatusReport {
        var status = StatusReport(node: "n1", cluster: "hc1", version: "0.4.0", desired: desired,
                                  members: [member, MemberStatus(name: "n1", address: "10.0.0.1:7964", state: "alive")],
                                  vips: [vip, VIPStatus(name: "back", address: "10.0.0.250/24", state: "backup", holder: nil)],
                                  units: [unit, UnitStatus(name: "smbd.service", desired: "running", active: "unknown")],
                                  convergence: "degraded",
                                  probes: [probe, ProbeStatus(name: "dns", state: "unknown", last: nil, latencyMs: nil, passes: 0, failures: 0, since: 0)])
        status.problems = [PartProblem(part: "vrrp", reason: "no CAP_NET_ADMIN: VIPs are off"), PartProblem(part: "state_dir", reason: "read-only")]
        status.files = [file]
        status.headline = "attention: vrrp: no CAP_NET_ADMIN: VIPs are off (and 1 more part) — hcctl status"
        status.drained = true
        status.secrets = [SecretStatus(name: "k3s-token", from: "n3", state: "held", fingerprint: "0123456789abcdef", madeAt: 1764000003,
                                       age: 60, reason: "waiting for /var/lib/rancher/k3s/server/node-token to appear")]
        status.restart = .coordinating(id: "n1-abc", target: "server", units: ["k3s.service"], rolling: true, boards: ["n2"], done: 1, total: 3)
        status.facts = [FactStatus(name: "syncthing-id", node: "n1", state: "known", value: "MFZWI3D-BONSGYC-YLTMRWG-C43ENR5-QXGG2HE-FTMMJLI-OYL4CMV-GZ7IQ7T",
                                   since: 1764000004, age: 12, reason: "not a certificate: no PEM block; publishing its last value"),
                        FactStatus(name: "syncthing-id", node: "n2", state: "waiting", reason: "not published by n2 yet")]
        return status
    }

    /// The full status as an agent before hcctl drain sent it: none of drain's fields.
    static var statusBeforeDrain: StatusReport {
        var status = self.status
        status.drained = nil
        for index in status.members.indices { status.members[index].drained = nil }
        for index in status.vips.indices {
            status.vips[index].priorityReason = nil
            // Nor VIP addresses and groups (multivip).
            status.vips[index].addresses = nil
            status.vips[index].group = nil
        }
        // Nor files nor headline nor secrets: older still.
        status.files = nil
        status.secrets = nil
        status.headline = nil
        status.restart = nil
        status.facts = nil
        return status
    }

    /// The smallest status: what an agent without a document, members or parts sends.
    static let emptyStatus = StatusReport(node: "n", cluster: nil, version: "0", desired: DesiredSummary(generation: nil, file: "f"))

    static let plan: PlanReport = {
        var plan = PlanReport(generation: 8, nodes: [NodePlan(node: "n1", changes: ["+ smbd.service running, placement vip:front", "- k3s.service"]),
                                                     NodePlan(node: "n2", changes: [])],
                              node: "n1", steps: ["start smbd.service"], refusals: diagnostics)
        plan.warnings = ["n2 runs hcagent 0.1.0, older than the 0.2.0 this document requires"]
        return plan
    }()

    static let replies: [ControlReply] = [
        .success(id: 4, status: status),
        .success(id: 5, status: emptyStatus),
        .success(id: 6, plan: plan),
        .success(id: 7, plan: PlanReport(generation: 1, nodes: [], node: "n", steps: nil)),
        .success(id: nil, message: "unchanged"),
        .failure(ControlError(.forbidden, "needs root"), id: 9),
        .failure(ControlError(.tooLarge, "too large")),
        {
            // A restart's verdict: the last reply of its stream.
            var verdict = ControlReply.failure(ControlError(.failed, "n2 failed: k3s.service failed after its restart; the roll stops"), id: 10)
            verdict.last = true
            return verdict
        }(),
    ]

    /// Every command, with every argument it may carry.
    static let requests: [ControlRequest] = ControlRequest.Command.allCases.map { command in
        var request = ControlRequest(command: command, id: 42, document: "generation: 1\nnodes: []\n", file: "/tmp/d \"x\".yaml", vip: "front",
                                     key: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", to: "n2", node: "n3")
        request.target = "k3s"
        request.rolling = true
        request.timeout = 90
        return request
    } + [ControlRequest(command: .status)]
}
