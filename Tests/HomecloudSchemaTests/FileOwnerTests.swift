// A managed file's `owner:`: root:root by default, user:group names or numeric ids, anything else a located error.
import Testing
@testable import HomecloudSchema
@testable import HomecloudYAML

@Suite struct FileOwnerTests {
    func parse(_ files: String) -> Result<DesiredState, FileRejected> {
        DesiredStateParser.parse("""
            generation: 1
            cluster: hc
            nodes: { n1: [web] }
            roles:
              web:
                files:
            \(files)

            """, file: "d.yaml")
    }

    @Test func ownerIsRootUnlessSaid() throws {
        let document = try parse("""
                  - { path: /etc/a, content: a }
                  - { path: /etc/b, content: b, owner: "dnas:dnas" }
                  - { path: /etc/c, content: c, owner: "1000:100" }
                  - { path: /etc/d, content: d, owner: "_sync.user-1:users" }
            """).get()
        let owners = try #require(document.role(named: "web")?.files.map(\.owner))
        #expect(owners == [.root, FileOwner(user: "dnas", group: "dnas"), FileOwner(user: "1000", group: "100"),
                           FileOwner(user: "_sync.user-1", group: "users")])
        #expect(owners[1].description == "dnas:dnas")
    }

    @Test func badOwnersAreLocatedErrors() {
        for bad in ["dnas", "dnas:", ":dnas", "a:b:c", "dn as:x", "-x:y", "1x:y", "99999999999:0", "root:root\\n"] {
            let result = parse("      - { path: /etc/a, content: a, owner: \"\(bad)\" }")
            guard case .failure(let rejected) = result else { Issue.record("accepted owner \(bad)"); continue }
            let diagnostic = rejected.diagnostics.first
            #expect(diagnostic?.path == "roles.web.files[0].owner")
            #expect(diagnostic?.line == 7)
            #expect(diagnostic?.message.contains("expected user:group") == true)
        }
    }

    @Test func thePlanSaysAnOwnerOtherThanRoot() throws {
        let document = try parse("      - { path: /etc/b, content: b, owner: \"dnas:dnas\" }").get()
        #expect(DocumentChanges.fileChanges(of: "n1", from: nil, to: document) == ["+ file /etc/b (mode 0644, owner dnas:dnas)"])
    }
}
