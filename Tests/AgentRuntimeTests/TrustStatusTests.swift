// What hcctl shows of trust and policy: an agent with trusted keys lists them, the signer of the document in
// force and its refusals, and these fields survive the agent's JSON as hcctl reads it.
import AgentRuntime
import HomecloudSchema
import Logging
import Testing
import Trust

@Suite struct TrustStatusTests {
    let directory = TemporaryDirectory()
    let admin = try! AdminSecretKey(seed: Array(repeating: 3, count: 32))

    func document(_ generation: Int, unit: String) -> String {
        "generation: \(generation)\ncluster: lab\nnodes: { n1: [web] }\nroles: { web: { units: [ { name: \(unit), state: running } ] } }\n"
    }

    func roundTrip(_ reply: ControlReply) throws -> ControlReply {
        try ControlReply(json: JSONValue.parse(Array(reply.json.serialized.utf8)))
    }

    @Test func statusAndPlanCarryKeysSignerPolicyAndRefusals() async throws {
        directory.write("desired.yaml", DocumentSignature.sign(document(3, unit: "nginx.service"), with: admin))
        var config = AgentConfig(node: "n1", stateDir: directory.path + "/state", desired: directory.path + "/desired.yaml")
        config.stateDir = directory.path + "/state"
        config.trustedAdminKeys = [admin.publicKey.line]
        config.policy = LocalPolicy(units: ["nginx.service"])
        config.policyFile = "/etc/homecloud/agent.yaml"
        let state = DocumentKeeper(config: config, logger: Logger(label: "test"))
        #expect(await state.reloadDesired() == .accepted(generation: 3))
        await state.offerFromPeer(text: document(4, unit: "nginx.service"), from: "n2")
        await state.offerFromPeer(text: DocumentSignature.sign(document(5, unit: "debug-shell.service"), with: admin), from: "n2")

        let commands = ControlCommands(keeper: state)
        let status = try #require(try roundTrip(await commands.reply(to: Array(#"{"v":1,"command":"status"}"#.utf8), uid: 0)).status)
        #expect(status.desired.generation == 3)
        #expect(status.desired.signedBy == admin.publicKey.id)
        #expect(status.desired.trustedKeys == [admin.publicKey.id])
        #expect(status.desired.policy == "1 unit glob, 0 exec rules, 0 path globs")
        #expect(status.desired.refused?.map(\.reason) == ["signature", "policy"])
        #expect(status.desired.refused?.map(\.generation) == [4, 5])
        #expect(status.desired.refused?.first?.source == "gossip from n2")

        let plan = """
            {"v":1,"command":"plan","file":"next.yaml","document":"\(document(6, unit: "sshd.service").replacingNewlines)"}
            """
        let planned = try #require(try roundTrip(await commands.reply(to: Array(plan.utf8), uid: 0)).plan)
        #expect(planned.refusals?.map(\.description) == [
            "next.yaml:4:34: roles.web.units[0].name: \"sshd.service\" is not allowed by policy.units in /etc/homecloud/agent.yaml",
        ])
    }

    @Test func aBoardWithoutKeysOrPolicySaysSo() async throws {
        let config = AgentConfig(node: "n1", stateDir: directory.path + "/state", desired: directory.path + "/none.yaml")
        let state = DocumentKeeper(config: config, logger: Logger(label: "test"))
        let status = try #require(try roundTrip(await ControlCommands(keeper: state).reply(to: Array(#"{"v":1,"command":"status"}"#.utf8), uid: 0)).status)
        #expect(status.desired.trustedKeys == [])
        #expect(status.desired.policy == nil)
        #expect(TrustSetup.warnings(for: config).count == 2)
    }
}

extension String {
    var replacingNewlines: String { split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\\n") }
}
