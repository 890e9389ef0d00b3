// Serial restarts (a `serial: true` file): one board of the role at a time in node-name order, each waiting for
// the boards before it to publish "sr" at its generation; dead boards and agents without the rule are not waited for.
import Testing
import HomecloudSchema
import HomecloudYAML
import ReconcilerCore

@Suite struct SerialRestartsTests {
    static func document(_ generation: Int) -> DesiredState {
        try! DesiredStateParser.parse("""
            generation: \(generation)
            cluster: hc
            nodes: { s3: [k3s-server], s1: [k3s-server], s2: [k3s-server], a1: [k3s-agent] }
            roles: { k3s-server: {}, k3s-agent: {} }

            """, file: "d.yaml").get()
    }

    static func board(_ name: String, generation: Int = 2) -> SerialRestarts {
        var board = SerialRestarts(node: name)
        board.onDocument(document(generation))
        return board
    }

    /// Three boards, each its own rule, gossip carrying "sr" between them: restarts happen s1, s2, s3, never two at once.
    @Test func threeBoardsRestartOneAtATimeInNameOrder() {
        var boards = ["s1", "s2", "s3"].map { Self.board($0) }
        var done: [String: UInt64] = ["s1": 1, "s2": 1, "s3": 1, "a1": 1]
        let alive: Set<String> = ["s1", "s2", "s3", "a1"]
        for index in boards.indices { boards[index].onWritten(role: "k3s-server", units: ["k3s.service"]) }
        var restartedInOrder: [String] = []
        var underWay: String?
        for _ in 0..<6 {
            for index in boards.indices {
                let name = boards[index].node
                for action in boards[index].onStep(alive: alive, done: done) {
                    switch action {
                    case .restart(let units):
                        #expect(units == ["k3s.service"])
                        #expect(underWay == nil, "\(name) restarts while \(underWay ?? "") is under way")
                        underWay = name
                        restartedInOrder.append(name)
                    case .publish(let generation):
                        done[name] = generation
                    }
                }
                // systemd's answers: the job ends, the unit is active again; the board is then finished.
                if underWay == name {
                    boards[index].onJobDone("k3s.service")
                    boards[index].onUnitState("k3s.service", active: true)
                    underWay = nil
                    for case .publish(let generation) in boards[index].onStep(alive: alive, done: done) { done[name] = generation }
                }
            }
        }
        #expect(restartedInOrder == ["s1", "s2", "s3"])
        #expect(done == ["s1": 2, "s2": 2, "s3": 2, "a1": 1])
    }

    @Test func aBoardWaitsUntilTheOneBeforeItIsActiveAgain() {
        var s2 = Self.board("s2")
        s2.onWritten(role: "k3s-server", units: ["k3s.service", "k3s-sidecar.service"])
        // s1 still at generation 1 (its restart under way, or the document not there yet): s2 waits, says for whom.
        #expect(s2.onStep(alive: ["s1", "s2", "s3"], done: ["s1": 1, "s3": 1]).isEmpty)
        #expect(s2.waitingFor == ["s1"])
        #expect(s2.waitingUnits == ["k3s.service", "k3s-sidecar.service"])
        #expect(s2.onStep(alive: ["s1", "s2", "s3"], done: ["s1": 2, "s3": 1]) == [.restart(["k3s.service", "k3s-sidecar.service"])])
        #expect(s2.waitingFor.isEmpty)
        // The job ended, but the unit is not active yet (activating, failed): not finished, no "sr".
        s2.onJobDone("k3s.service")
        s2.onUnitState("k3s.service", active: false)
        s2.onNotRunning("k3s-sidecar.service")
        #expect(s2.onStep(alive: ["s1", "s2", "s3"], done: ["s1": 2]).isEmpty)
        #expect(s2.isRestarting("k3s.service"))
        // Active before its job ended (a stale reading) does not count either.
        var early = Self.board("s1")
        early.onWritten(role: "k3s-server", units: ["k3s.service"])
        #expect(early.onStep(alive: ["s1"], done: [:]) == [.restart(["k3s.service"])])
        early.onUnitState("k3s.service", active: true)
        #expect(early.isRestarting("k3s.service"))
        // Restart= brought it back: finished, "sr" 2.
        s2.onUnitState("k3s.service", active: true)
        #expect(s2.onStep(alive: ["s1", "s2", "s3"], done: ["s1": 2]) == [.publish(2)])
        #expect(s2.onStep(alive: ["s1", "s2", "s3"], done: ["s1": 2]).isEmpty)
    }

    @Test func deadBoardsAndAgentsWithoutTheRuleAreNotWaitedFor() {
        var s3 = Self.board("s3")
        s3.onWritten(role: "k3s-server", units: ["k3s.service"])
        // s1 dead (not alive) at generation 1, s2 alive but publishing no "sr": s3 goes.
        #expect(s3.onStep(alive: ["s2", "s3"], done: ["s1": 1]) == [.restart(["k3s.service"])])
    }

    @Test func onlyTheRolesOwnNodesCountAndAnIdleBoardPublishesItsGeneration() {
        // a1 sorts first but has another role: s1 does not wait for it.
        var s1 = Self.board("s1")
        s1.onWritten(role: "k3s-server", units: ["k3s.service"])
        #expect(s1.onStep(alive: ["a1", "s1"], done: ["a1": 1]) == [.restart(["k3s.service"])])
        // A board with nothing to restart publishes each generation once, so the boards after it need not wait.
        var s2 = Self.board("s2")
        #expect(s2.onStep(alive: ["s1", "s2"], done: ["s1": 1]) == [.publish(2)])
        s2.onDocument(Self.document(3))
        #expect(s2.onStep(alive: ["s1", "s2"], done: ["s1": 1]) == [.publish(3)])
    }

    @Test func aUnitIsQueuedOnceAndDriftAfterTheTurnGoesAtOnce() {
        var s2 = Self.board("s2")
        s2.onWritten(role: "k3s-server", units: ["k3s.service"])
        s2.onWritten(role: "k3s-server", units: ["k3s.service"])
        #expect(s2.waitingUnits == ["k3s.service"])
        #expect(s2.onStep(alive: ["s1", "s2"], done: ["s1": 2]) == [.restart(["k3s.service"])])
        s2.onJobDone("k3s.service")
        s2.onUnitState("k3s.service", active: true)
        #expect(s2.onStep(alive: ["s1", "s2"], done: ["s1": 2]) == [.publish(2)])
        // A hand edit repaired at the same generation: s1 is done with it, so s2 restarts at once.
        s2.onWritten(role: "k3s-server", units: ["k3s.service"])
        #expect(s2.onStep(alive: ["s1", "s2"], done: ["s1": 2]) == [.restart(["k3s.service"])])
    }

    @Test func aSerialFilesUnitsAreNotRestartedAtOnce() throws {
        let document = try DesiredStateParser.parse("""
            generation: 1
            cluster: hc
            nodes: { s1: [k3s-server] }
            roles:
              k3s-server:
                files:
                  - { path: /etc/rancher/k3s/config.yaml, serial: true, restart: [k3s.service], reload: [log.service], content: a }
                  - { path: /etc/other.conf, restart: [k3s.service, side.service], content: b }

            """, file: "d.yaml").get()
        let files = try #require(document.role(named: "k3s-server")?.files)
        #expect(files.map(\.serial) == [true, false])
        var core = ManagedFilesCore(node: "s1")
        core.onDocument(document, address: nil)
        _ = core.onObserved([("/etc/rancher/k3s/config.yaml", .missing), ("/etc/other.conf", .missing)], now: .zero)
        // k3s.service is named by both: it waits for its turn, restarted once; side.service goes at once.
        #expect(core.onWritten([("/etc/rancher/k3s/config.yaml", .written), ("/etc/other.conf", .written)], now: .zero)
                == [.restart(["side.service"]), .reload(["log.service"]), .serialRestart(role: "k3s-server", units: ["k3s.service"])])
    }

    @Test func serialWithoutARestartIsALocatedError() {
        let result = DesiredStateParser.parse("""
            generation: 1
            cluster: hc
            nodes: { s1: [k3s-server] }
            roles:
              k3s-server:
                files:
                  - { path: /etc/a, serial: true, content: a }
                  - { path: /etc/b, serial: maybe, restart: [k3s.service], content: b }

            """, file: "d.yaml")
        guard case .failure(let rejected) = result else { Issue.record("accepted"); return }
        #expect(rejected.diagnostics.map(\.path) == ["roles.k3s-server.files[0].serial", "roles.k3s-server.files[1].serial"])
        #expect(rejected.diagnostics.first?.message.contains("restarts no unit") == true)
        #expect(rejected.diagnostics.first?.line == 7)
    }
}
