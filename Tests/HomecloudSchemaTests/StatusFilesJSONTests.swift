// `files` in hcctl status --json: absent while a board has no managed files (the goldens stay as they were),
// pinned here when it has some, and read back to the same value.
import Testing
import HomecloudSchema

@Suite struct StatusFilesJSONTests {
    typealias F = ControlProtocolFixtures

    @Test func aStatusWithoutFilesHasNoFilesKey() {
        #expect(!F.emptyStatus.json.pretty.contains("\"files\""))
    }

    @Test func filesPrintAndReadBack() throws {
        var status = F.emptyStatus
        status.files = [
            FileStatus(path: "/etc/samba/smb.conf", role: "dnas", state: "degraded",
                       reason: "validate refused the new content, the old file stays: testparm exited with 1", writes: 2),
            FileStatus(path: "/etc/hosts.d/web", role: "web", state: "converged"),
        ]
        let text = status.json.pretty
        #expect(text.contains(Self.files))
        #expect(try StatusReport(json: status.json) == status)
    }

    static let files = #"""
  "files" : [
    {
      "path" : "/etc/samba/smb.conf",
      "reason" : "validate refused the new content, the old file stays: testparm exited with 1",
      "role" : "dnas",
      "state" : "degraded",
      "writes" : 2
    },
    {
      "path" : "/etc/hosts.d/web",
      "role" : "web",
      "state" : "converged",
      "writes" : 0
    }
  ],
"""#
}
