// Who has a role live: the document's nodes per role, kept to those gossip says are alive.
import HomecloudSchema
import Testing
@testable import AgentRuntime

@Suite struct LiveByRoleTests {
    @Test func theDocumentSaysWhoHasARoleAndGossipWhoIsAlive() throws {
        let document = try DesiredStateParser.parse("generation: 1\ncluster: c\nnodes: { a: [web, db], b: [web], c: [db] }\nroles: { web: { units: [] }, db: { units: [] } }\n", file: "d").get()
        #expect(ReconcileDriver.liveByRole(["a", "c", "stranger"], in: document) == ["web": ["a"], "db": ["a", "c"]])
        #expect(ReconcileDriver.liveByRole([], in: document).isEmpty)
    }
}
