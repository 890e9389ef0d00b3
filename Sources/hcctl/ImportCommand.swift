// hcctl import keepalived: prints the vips and probes of a document made from keepalived.conf files.
import ArgumentParser
import HomecloudYAML
import KeepalivedImport

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn another tool's configuration into parts of a desired-state document.",
        subcommands: [ImportKeepalived.self])
}

struct ImportKeepalived: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keepalived",
        abstract: "Print the vips: and probes: for keepalived.conf files, one per board; warnings go to stderr.",
        discussion: """
            Give each board's file as NODE=FILE (the node's name in the document) to merge their priorities, or one \
            FILE alone. Paste the output into the document beside generation, cluster and nodes, read the \
            warnings, then check it with hcctl plan.
            """)
    @Argument(help: "keepalived.conf files, each NODE=FILE or FILE.") var files: [String]

    func run() throws {
        var boards: [KeepalivedImport.Board] = []
        for argument in files {
            var node: String?
            var path = argument
            if let equals = argument.firstIndex(of: "="), !argument[..<equals].contains("/") {
                node = String(argument[..<equals])
                path = String(argument[argument.index(after: equals)...])
            }
            let text: String
            do { text = try TextFile.read(path) } catch {
                printError("hcctl: \(error)")
                throw ExitCode(Exit.refused)
            }
            boards.append(.init(node: node, file: path, text: text))
        }
        do {
            let result = try KeepalivedImport.convert(boards)
            print("# from hcctl import keepalived \(files.joined(separator: " "))")
            print(result.yaml, terminator: "")
            for warning in result.warnings { printError("warning: \(warning)") }
        } catch {
            printError("hcctl: \(error)")
            throw ExitCode(Exit.refused)
        }
    }
}
