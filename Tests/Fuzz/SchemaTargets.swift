// The schema's decoders of outside input: control request lines, agent.yaml, the desired-state document (a
// file, an apply, or a peer's push-pull) and JSON itself.
@testable import HomecloudSchema
@testable import HomecloudYAML

/// A refusal names what is wrong and where: the file it was given, a message, a line within the text.
func requireLocated(_ refusal: FileRejected, file: String, text: String) {
    require(!refusal.diagnostics.isEmpty, "a refusal without a reason")
    // libyaml also breaks lines at \r, NEL, LS and PS.
    let lines = text.unicodeScalars.count(where: { [0x0A, 0x0D, 0x85, 0x2028, 0x2029].contains($0.value) }) + 1
    for diagnostic in refusal.diagnostics {
        require(diagnostic.file == file && !diagnostic.message.isEmpty, "a diagnostic without its file or message: \(diagnostic)")
        if let line = diagnostic.line { require(line >= 1 && line <= lines, "a diagnostic outside the text: \(diagnostic)") }
    }
}

let schemaTargets: [FuzzTarget] = [
    // A control socket line: refused with a message, or a request that reads back from its own line; a
    // request that lacks an argument says which.
    FuzzTarget(name: "control-request", run: { bytes in
        switch ControlRequest.parse(bytes) {
        case .failure(let refusal):
            require(!refusal.error.message.isEmpty, "a refused request without a reason")
        case .success(let request):
            let line = request.json.serialized
            require(!line.utf8.contains(0x0A), "a request's line holds a newline")
            require((try? ControlRequest.parse(Array(line.utf8)).get()) == request, "a request does not round-trip")
            if let missing = request.missingArgument { require(!missing.message.isEmpty, "a missing argument without a message") }
        }
    }, seeds: {
        [ControlRequest(command: .status, id: 1), ControlRequest(command: .apply, document: "generation: 2\ncluster: lab\n", file: "d.yaml"),
         ControlRequest(command: .handover, vip: "front", to: "n2"), ControlRequest(command: .keysInstall, key: Base64.encode([UInt8](repeating: 7, count: 32)))]
            .map { Array($0.json.serialized.utf8) } + [Array(#"{"v":2,"command":"status"}"#.utf8)]
    }),

    // agent.yaml: a configuration or located errors.
    FuzzTarget(name: "agent-config", run: { bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        if case .failure(let refusal) = AgentConfig.parse(text, file: "agent.yaml", hostname: "fuzz-n1") {
            requireLocated(refusal, file: "agent.yaml", text: text)
        }
    }, seeds: {
        ["node: n1\nbind: 10.0.0.1:7964\njoin: [10.0.0.2:7964]\ninterface: eth0\n", "bind: [::1]:7964\nmetrics: off\n", "nodes: {}\n"].map { Array($0.utf8) }
    }),

    // desired.yaml, from a file, an apply or a peer: a document or located errors. A document's generation
    // can be renumbered as apply does, and the renumbered text is the same document with that generation.
    FuzzTarget(name: "desired-document", run: { bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        switch DesiredStateParser.parse(text, file: "desired.yaml") {
        case .failure(let refusal):
            requireLocated(refusal, file: "desired.yaml", text: text)
        case .success(let document):
            guard document.generation < .max, let renumbered = DesiredStateParser.settingGeneration(of: text, to: document.generation + 1) else { return }
            var expected = document
            expected.generation += 1
            guard case .success(let again) = DesiredStateParser.parse(renumbered, file: "desired.yaml") else {
                require(false, "a renumbered document is refused")
                return
            }
            require(again == expected, "renumbering changed more than the generation")
        }
    }, seeds: {
        ["generation: 3\ncluster: lab\nnodes: { n1: [web], n2: [web, db] }\nroles:\n  web: { units: [ { name: nginx.service, state: running, enabled: true } ] }\n  db: { units: [ { name: postgresql.service, state: running, placement: one } ] }\n",
         "generation: 1\ncluster: lab\nnodes: {}\n"].map { Array($0.utf8) }
    }),

    // JSON as the control socket and gossip metadata read it: a value that writes back on one line and reads
    // back the same, or an error.
    FuzzTarget(name: "json", run: { bytes in
        guard let value = try? JSONValue.parse(bytes) else { return }
        let text = value.serialized
        require(!text.utf8.contains(0x0A) && !text.utf8.contains(0x0D), "JSON written over more than one line")
        require((try? JSONValue.parse(Array(text.utf8))) == value, "JSON does not round-trip")
    }, seeds: {
        [#"{"v":1,"id":1,"command":"status"}"#, #"[1,-2.5e3,true,false,null,"\u00e9\n\"",{}]"#, #"{"a":{"b":[[[]]]}}"#].map { Array($0.utf8) }
    }),
]
