// A command's inputs on pipes (the https webhook's curl reads its config on descriptor 3 and the event on its
// stdin): each descriptor gets exactly its bytes then the end; without inputs stdin is empty; too much is a
// failure said at once, never a blocked loop.
import HomecloudSchema
import NIOPosix
import Testing
@testable import Probes
@testable import ProbesCore

@Suite struct CommandInputsTests {
    let checks = ProbeChecks(loop: ProbeChecksTests.loop, channels: MultiThreadedEventLoopGroup.singleton) { _ in nil }

    private func run(_ script: String, inputs: [Int32: [UInt8]]) async -> ProbeHysteresis.Result {
        (try? await checks.startCommand(["sh", "-c", script], environment: [], inputs: inputs, timeout: .seconds(5)).get()) ?? .fail("no result")
    }

    @Test func stdinAndDescriptorThreeGetTheirBytes() async {
        let script = #"test "$(cat)" = '{"kind":"member-dead"}' && test "$(cat <&3)" = 'url = "https://h/"'"#
        let result = await run(script, inputs: [0: Array(#"{"kind":"member-dead"}"#.utf8), 3: Array(#"url = "https://h/""#.utf8)])
        #expect(result == .pass)
    }

    @Test func withoutInputsStdinIsEmpty() async {
        #expect(await run(#"test -z "$(cat)""#, inputs: [:]) == .pass)
    }

    @Test func moreThanAPipeHoldsFailsAtOnce() async {
        guard case .fail(let why) = await run("cat >/dev/null", inputs: [0: Array(repeating: 65, count: 1 << 20)]) else {
            Issue.record("1 MiB on stdin was taken")
            return
        }
        #expect(why.contains("do not fit in a pipe"), "\(why)")
    }
}
