// The control commands and status of an agent whose parts do not run: the document keeper alone.
import AgentRuntime
import HomecloudSchema

extension ControlCommands {
    init(keeper: DocumentKeeper, channels: AgentChannels = AgentChannels()) {
        self.init(keeper: keeper, channels: channels, handles: .notRunning)
    }
}

extension DocumentKeeper {
    func status() async -> StatusReport {
        await AgentStatus(keeper: self, channels: AgentChannels(), probes: .notRunning).report()
    }
}
