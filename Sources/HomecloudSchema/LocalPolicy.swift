// agent.yaml's `policy:`: what the shared document may do on this board (units, exec probes, files); read, and
// checked against a document, in HomecloudYAML (LocalPolicyReading.swift).

public struct LocalPolicy: Sendable, Equatable {
    /// Unit name globs, e.g. `k3s*.service`, `syncthing@*.service`.
    public var units: [String]
    /// Commands an `exec:` probe may run.
    public var exec: [ExecRule]
    /// File globs managed files may be written at (a role's `files:`).
    public var paths: [String]
    /// File globs this board may read and publish to the whole cluster as shared secrets (`secrets:` naming it).
    public var secrets: [String] = []

    public init(units: [String] = [], exec: [ExecRule] = [], paths: [String] = [], secrets: [String] = []) {
        self.units = units
        self.exec = exec
        self.paths = paths
        self.secrets = secrets
    }

    /// One allowed command: argument globs matched one for one against the WHOLE argv, so `/bin/sh` allows
    /// `/bin/sh` alone, not `/bin/sh -c anything`. A last word `...` allows any further arguments.
    public struct ExecRule: Sendable, Equatable, CustomStringConvertible {
        public var words: [String]
        public var moreArguments: Bool

        public init(words: [String], moreArguments: Bool = false) {
            self.words = words
            self.moreArguments = moreArguments
        }

        public static let ellipsis = "..."

        public func allows(_ argv: [String]) -> Bool {
            guard argv.count == words.count || (moreArguments && argv.count > words.count) else { return false }
            return zip(words, argv).allSatisfy { Glob.matches($0, $1) }
        }

        public var description: String { (words + (moreArguments ? [Self.ellipsis] : [])).joined(separator: " ") }
    }

    public func allowsUnit(_ name: String) -> Bool { units.contains { Glob.matches($0, name) } }
    public func allowsExec(_ argv: [String]) -> Bool { exec.contains { $0.allows(argv) } }
    public func allowsPath(_ path: String) -> Bool { paths.contains { Glob.matches($0, path) } }
    public func allowsSecret(_ path: String) -> Bool { secrets.contains { Glob.matches($0, path) } }

    public var summary: String {
        "\(units.count) unit glob\(units.count == 1 ? "" : "s"), \(exec.count) exec rule\(exec.count == 1 ? "" : "s"), \(paths.count) path glob\(paths.count == 1 ? "" : "s")"
    }
}
