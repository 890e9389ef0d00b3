// apply's renumbering: the generation's value changes and every other byte stays, whatever the line breaks.
import Testing
import HomecloudSchema
import HomecloudYAML

@Suite struct SettingGenerationTests {
    @Test func onlyTheGenerationChanges() {
        let text = "# the house\ngeneration: 9 # bumped by apply\ncluster: lab\nnodes: {}\n"
        #expect(DesiredStateParser.settingGeneration(of: text, to: 10) == "# the house\ngeneration: 10 # bumped by apply\ncluster: lab\nnodes: {}\n")
        #expect(DesiredStateParser.settingGeneration(of: "generation: \"9\"\n", to: 10) == nil, "a quoted generation is not plain")
        #expect(DesiredStateParser.settingGeneration(of: "cluster: lab\n", to: 10) == nil)
    }

    /// Found with the fuzzer's desired-document property: YAML also breaks lines at a lone \r (and NEL, LS,
    /// PS), which splitting at \n missed, so the renumbering replaced a "1" on another line and the document
    /// kept its old generation.
    @Test func linesEndAsYAMLEndsThem() throws {
        let text = "cluster: lab\rgeneration: 1\nnodes: {} # 1\n"
        #expect(DesiredStateParser.settingGeneration(of: text, to: 2) == "cluster: lab\rgeneration: 2\nnodes: {} # 1\n")
        #expect(DesiredStateParser.settingGeneration(of: "cluster: lab\r\ngeneration: 1\r\nnodes: {}\r\n", to: 2)
                == "cluster: lab\r\ngeneration: 2\r\nnodes: {}\r\n")
        #expect(DesiredStateParser.settingGeneration(of: "cluster: lab\u{2028}generation: 7\nnodes: {} # 7\n", to: 8)
                == "cluster: lab\u{2028}generation: 8\nnodes: {} # 7\n")
        // Columns count characters, after a byte order mark.
        #expect(DesiredStateParser.settingGeneration(of: "\u{FEFF}generation: 5\n", to: 6) == "\u{FEFF}generation: 6\n")
        #expect(DesiredStateParser.settingGeneration(of: "{ cluster: ééé, generation: 5 }", to: 6) == "{ cluster: ééé, generation: 6 }")
        let renumbered = try #require(DesiredStateParser.settingGeneration(of: text, to: 2))
        #expect(try DesiredStateParser.parse(renumbered, file: "f").get().generation == 2)
    }
}
