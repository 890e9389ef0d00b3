// No input crashes the parsers: random bytes, truncations and deep nesting give errors, never a trap.
import Testing
import HomecloudSchema
import HomecloudYAML

@Suite struct YAMLRobustnessTests {
    @Test(arguments: [1, 2, 3])
    func mutatedExamplesNeverCrash(seed: UInt64) throws {
        let example = Array(try readTextFile(examplePath("desired.yaml")).utf8)
        var random = SplitMix64(seed: seed)
        for _ in 0..<300 {
            var bytes = example
            switch Int.random(in: 0..<3, using: &random) {
            case 0: bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &random)))
            case 1:
                for _ in 0..<Int.random(in: 1...8, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            default:
                let punctuation = Array("{}[]:,-'\"&*!|>#\n ".utf8)
                for _ in 0..<Int.random(in: 1...8, using: &random) {
                    bytes.insert(punctuation.randomElement(using: &random)!, at: Int.random(in: 0..<bytes.count, using: &random))
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            switch DesiredStateParser.parse(text, file: "f") {
            case .success(let state): #expect(state.cluster.isEmpty == false)
            case .failure(let rejected): #expect(!rejected.diagnostics.isEmpty)
            }
        }
    }

    /// Found by the fuzzer (desired-document, agent-config): at the end of a text without a final line break,
    /// libyaml puts its error on a line after the last one, so an editor found nothing there.
    @Test func anErrorAtTheEndOfTheTextIsOnItsLastLine() {
        guard case .failure(let rejected) = DesiredStateParser.parse("genmration: 1\ncluster", file: "f") else {
            Issue.record("accepted")
            return
        }
        #expect(rejected.description == "f:2:8: could not find expected ':' while scanning a simple key")
        guard case .failure(let config) = AgentConfig.parse("bind: 10.0.0.1:7964\nnode é", file: "agent.yaml", hostname: "h") else {
            Issue.record("accepted")
            return
        }
        #expect(config.description == "agent.yaml:2:7: could not find expected ':' while scanning a simple key")
        // With its final line break, the end of the text is the start of the line after it, as libyaml says.
        guard case .failure(let ended) = DesiredStateParser.parse("genmration: 1\ncluster\n", file: "f") else {
            Issue.record("accepted")
            return
        }
        #expect(ended.description == "f:3:1: could not find expected ':' while scanning a simple key")
        // The same for a node libyaml starts there (found with the fuzzer's YAML dictionary): an empty document.
        guard case .failure(let empty) = DesiredStateParser.parse("---", file: "f") else {
            Issue.record("accepted")
            return
        }
        #expect(empty.diagnostics.allSatisfy { $0.line == 1 }, "\(empty.description)")
    }

    @Test func deepNestingIsAnErrorNotACrash() {
        let deep = String(repeating: "[", count: 100_000)
        guard case .failure(let rejected) = DesiredStateParser.parse(deep, file: "f") else {
            Issue.record("accepted")
            return
        }
        #expect(rejected.description == "f:1:65: nested more than 64 levels deep")
    }
}
