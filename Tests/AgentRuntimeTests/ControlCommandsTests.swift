// Every request gets a reply: bad JSON, other versions, unknown commands and non-root changes are refused clearly.
import AgentRuntime
import HomecloudSchema
import Logging
import Testing

@Suite struct ControlCommandsTests {
    let directory = TemporaryDirectory()

    func commands() async -> (ControlCommands, DocumentKeeper) {
        directory.write("desired.yaml", "generation: 7\ncluster: lab\nnodes: { n1: [web] }\nroles: { web: { units: [ { name: nginx.service, state: running } ] } }\n")
        let config = AgentConfig(node: "n1", bind: HostPort(host: "10.77.0.1", port: 7964), stateDir: directory.path + "/state", desired: directory.path + "/desired.yaml")
        let state = DocumentKeeper(config: config, logger: Logger(label: "test"))
        await state.reloadDesired()
        return (ControlCommands(keeper: state), state)
    }

    func ask(_ commands: ControlCommands, _ line: String, uid: UInt32 = 0) async -> ControlReply {
        await commands.reply(to: Array(line.utf8), uid: uid)
    }

    @Test func statusCarriesTheDocumentInForce() async throws {
        let (commands, _) = await commands()
        let reply = await ask(commands, #"{"v":1,"id":4,"command":"status"}"#, uid: 1000)
        #expect(reply.ok && reply.id == 4)
        let status = try #require(reply.status)
        #expect(status.node == "n1")
        #expect(status.cluster == "lab")
        #expect(status.desired.generation == 7)
        #expect(status.members == [MemberStatus(name: "n1", address: "10.77.0.1:7964", state: "alive")])
        // Before the reconciler reads systemd, the unknown says why; the headline opens with the first thing to look at.
        #expect(status.units == [UnitStatus(name: "nginx.service", desired: "running", active: "unknown", reason: "not read from systemd yet")])
        #expect(status.headline == StatusHeadline.line(for: status))
    }

    @Test func malformedRequestsGetErrorReplies() async {
        let (commands, _) = await commands()
        #expect(await ask(commands, "not json").error?.code == .badRequest)
        #expect(await ask(commands, "[1,2]").error?.code == .badRequest)
        #expect(await ask(commands, String(decoding: [0xFF, 0xFE, 0x00], as: UTF8.self)).error?.code == .badRequest)
        #expect(await ask(commands, #"{"v":2,"id":1,"command":"status"}"#) == .failure(
            ControlError(.unsupportedVersion, "this agent speaks protocol version 1; the request has 2"), id: 1))
        #expect(await ask(commands, #"{"command":"status"}"#).error?.code == .unsupportedVersion)
        #expect(await ask(commands, #"{"v":1,"command":"fly"}"#).error == ControlError(.unknownCommand, "unknown command \"fly\"; known: status, reload, plan, apply, handover, keys-list, keys-install, keys-use, keys-remove, drain, undrain, events, restart"))
    }

    @Test func handoverNamesItsVIPAndNeedsVRRP() async {
        let (commands, _) = await commands()
        #expect(await ask(commands, #"{"v":1,"command":"handover"}"#).error == ControlError(.badRequest, "handover needs \"vip\": the VIP's name"))
        #expect(await ask(commands, #"{"v":1,"command":"handover","vip":"front"}"#, uid: 1000).error?.code == .forbidden)
        #expect(await ask(commands, #"{"v":1,"command":"handover","vip":"front"}"#).error == ControlError(.failed, "VRRP is not running on this node"))
    }

    @Test func keyCommandsCheckTheirKeyAndNeedGossip() async {
        let (commands, _) = await commands()
        #expect(await ask(commands, #"{"v":1,"command":"keys-install","key":"c2hvcnQ="}"#).error == ControlError(.badRequest, "keys-install needs \"key\": 32 bytes in base64"))
        #expect(await ask(commands, #"{"v":1,"command":"keys-list"}"#, uid: 1000).error == ControlError(.failed, "gossip is not running on this node"))
        #expect(await ask(commands, #"{"v":1,"command":"keys-remove","key":"c2hvcnQ="}"#, uid: 1000).error?.code == .forbidden)
    }

    @Test func changesNeedRoot() async {
        let (commands, _) = await commands()
        #expect(await ask(commands, #"{"v":1,"command":"reload"}"#, uid: 1000).error == ControlError(.forbidden, "reload changes the agent's state and needs root"))
        #expect(await ask(commands, #"{"v":1,"command":"reload"}"#, uid: 0) == .success(id: nil, message: "unchanged"))
    }

    @Test func drainAndUndrainNeedRootAndShowInStatus() async throws {
        let (_, keeper) = await commands()
        let drain = DrainKeeper(stateDir: directory.path, problems: keeper.problems, logger: Logger(label: "test"))
        var handles = PartHandles.notRunning
        handles.drain = drain
        let commands = ControlCommands(keeper: keeper, channels: AgentChannels(), handles: handles)
        #expect(await ask(commands, #"{"v":1,"command":"drain"}"#, uid: 1000).error == ControlError(.forbidden, "drain changes the agent's state and needs root"))
        #expect(try #require(await ask(commands, #"{"v":1,"command":"status"}"#, uid: 1000).status).drained == false)
        #expect(await ask(commands, #"{"v":1,"command":"drain"}"#).message?.hasPrefix("n1 drained") == true)
        #expect(try #require(await ask(commands, #"{"v":1,"command":"status"}"#, uid: 1000).status).drained == true)
        #expect(await ask(commands, #"{"v":1,"command":"undrain"}"#, uid: 1000).error?.code == .forbidden)
        #expect(await ask(commands, #"{"v":1,"command":"undrain"}"#).message?.hasPrefix("n1 back in service") == true)
        // Another board is asked through gossip, and only an alive member.
        #expect(await ask(commands, #"{"v":1,"command":"drain","node":"n9"}"#).error == ControlError(.failed, "n9 is not an alive member (see hcctl members)"))
        #expect(await ask(commands, #"{"v":1,"command":"drain","node":"n9"}"#, uid: 1000).error?.code == .forbidden)
        #expect(try #require(await ask(commands, #"{"v":1,"command":"status"}"#, uid: 1000).status).drained == false)
        // Without a drain keeper (control commands alone) the request fails clearly.
        #expect(await ask(ControlCommands(keeper: keeper), #"{"v":1,"command":"drain"}"#).error == ControlError(.failed, "this agent keeps no drained state"))
    }

    @Test func aRefusedReloadReportsLocatedErrorsAndKeepsTheDocument() async throws {
        let (commands, state) = await commands()
        directory.write("desired.yaml", "generation: 8\ncluster: lab\nnodes: { n1: [nope] }\n")
        let reply = await ask(commands, #"{"v":1,"command":"reload"}"#)
        #expect(reply.error?.code == .failed)
        #expect(reply.error?.message == "\(directory.path)/desired.yaml:3:15: nodes.n1[0]: unknown role \"nope\" (roles is empty)")
        let status = await state.status()
        #expect(status.desired.generation == 7)
        #expect(status.desired.rejected.count == 1)
    }

    @Test func planShowsPerNodeChangesAndChangesNothing() async throws {
        let (commands, state) = await commands()
        let next = "generation: 1\ncluster: lab\nnodes: { n1: [web], n2: [web] }\nroles: { web: { units: [ { name: nginx.service, state: running, enabled: true } ] } }\n"
        let reply = await ask(commands, request("plan", next, file: "next.yaml"), uid: 1000)
        let plan = try #require(reply.plan)
        #expect(plan.generation == 8)
        #expect(plan.nodes == [
            NodePlan(node: "n1", changes: ["~ nginx.service running, enabled (was nginx.service running)"]),
            NodePlan(node: "n2", changes: ["+ nginx.service running, enabled"]),
        ])
        #expect(plan.steps == nil)  // no reconciler in this test
        #expect(await state.status().desired.generation == 7)
    }

    @Test func applyNeedsRootTakesTheNextGenerationAndReportsErrors() async throws {
        let (commands, state) = await commands()
        let apply = request("apply", "generation: 1\ncluster: lab\n", file: "a.yaml")
        #expect(await ask(commands, apply, uid: 1000).error?.code == .forbidden)
        #expect(await ask(commands, apply) == .success(id: nil, message: "generation 8 accepted"))
        #expect(await state.status().desired.generation == 8)
        let bad = request("apply", "generation: 1\ncluster: [\n", file: "a.yaml")
        #expect(await ask(commands, bad).error?.message.hasPrefix("a.yaml:3:1: ") == true)
        #expect(await ask(commands, #"{"v":1,"command":"apply"}"#).error?.code == .badRequest)
    }

    func request(_ command: String, _ document: String, file: String) -> String {
        JSONValue.object([("v", .integer(1)), ("command", .string(command)), ("file", .string(file)), ("document", .string(document))]).serialized
    }
}
