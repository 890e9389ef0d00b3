// The typed wiring: a channel's followers get its latest value, and control commands reach the part that owns them.
import AgentRuntime
import HomecloudSchema
import Logging
import PartWiring
import Reconciler
import Testing

@Suite struct WiringTests {
    @Test func aFollowerGetsTheLatestValueThenEveryChange() async {
        let channel = LatestValue<Set<String>>()
        channel.publish(["front"])
        channel.publish(["front", "nas"])
        var changes = channel.follow().makeAsyncIterator()
        #expect(await changes.next() == ["front", "nas"], "only the latest before following")
        #expect(!channel.publishIfChanged(["front", "nas"]), "the same value again is no change")
        #expect(channel.publishIfChanged([]))
        #expect(await changes.next() == [])
        #expect(channel.value == [])
    }

    @Test func aHandoverGoesToAnAliveMemberOnlyAndReachesVRRPsHandle() async {
        let config = AgentConfig(node: "n1", desired: "/nonexistent/desired.yaml")
        let keeper = DocumentKeeper(config: config, logger: Logger(label: "test"))
        let channels = AgentChannels()
        channels.memberView.publish(MemberView(states: ["n1": .alive, "n2": .alive, "n3": .suspect]))
        let commands = ControlCommands(keeper: keeper, channels: channels)
        func handover(to node: String) async -> ControlReply {
            let line = JSONValue.object([("v", .integer(1)), ("command", .string("handover")), ("vip", .string("front")), ("to", .string(node))])
            return await commands.reply(to: Array(line.serialized.utf8), uid: 0)
        }
        #expect(await handover(to: "n3").error == ControlError(.failed, "n3 is not an alive member (see hcctl members)"))
        #expect(await handover(to: "n9").error == ControlError(.failed, "n9 is not an alive member (see hcctl members)"))
        #expect(await handover(to: "n2").error == ControlError(.failed, "VRRP is not running on this node"))
    }

    @Test func keysReachGossipsHandle() async {
        let keeper = DocumentKeeper(config: AgentConfig(node: "n1", desired: "/nonexistent/desired.yaml"), logger: Logger(label: "test"))
        let reply = await ControlCommands(keeper: keeper).reply(to: Array(#"{"v":1,"command":"keys-list"}"#.utf8), uid: 1000)
        #expect(reply.error == ControlError(.failed, "gossip is not running on this node"))
    }

    @Test func theKeeperPublishesTheDocumentItAccepts() async throws {
        let directory = TemporaryDirectory()
        directory.write("desired.yaml", "generation: 3\ncluster: lab\n")
        var config = AgentConfig(node: "n1", stateDir: directory.path + "/state", desired: directory.path + "/desired.yaml")
        config.stateDir = directory.path + "/state"
        let keeper = DocumentKeeper(config: config, logger: Logger(label: "test"))
        #expect(await keeper.reloadDesired() == .accepted(generation: 3))
        let accepted = try #require(keeper.documents.value)
        #expect(accepted.document.generation == 3)
        #expect(accepted.text == "generation: 3\ncluster: lab\n")
    }
}
