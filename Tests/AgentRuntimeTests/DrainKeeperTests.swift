// hcctl drain's state on one board: published at once, kept in state_dir/drained across a restart, a damaged
// file taken as in service with a problem, and an unwritable state_dir a problem, never a failure.
@testable import AgentRuntime
import HomecloudSchema
import HomecloudYAML
import Logging
import PartWiring
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct DrainKeeperTests {
    @Test func theFileTextReadsBack() {
        #expect(DrainFile.parse(DrainFile.text(drained: true)) == true)
        #expect(DrainFile.parse(DrainFile.text(drained: false)) == false)
        #expect(DrainFile.parse("drained") == true)
        #expect(DrainFile.parse("") == nil)
        #expect(DrainFile.parse("yes\n") == nil)
    }

    @Test func aDrainIsPublishedAndSurvivesARestart() throws {
        let directory = TemporaryDirectory()
        let log = CapturedLog()
        let problems = PartProblems(logger: log.logger)
        let keeper = DrainKeeper(stateDir: directory.path, problems: problems, logger: log.logger)
        #expect(!keeper.isDrained)
        #expect(keeper.set(true, node: "n1").hasPrefix("n1 drained: "))
        #expect(keeper.drained.value == true)
        #expect(try TextFile.read(directory.path + "/drained") == "drained\n")
        #expect(keeper.set(true, node: "n1").hasPrefix("n1 was already drained"))
        let restarted = DrainKeeper(stateDir: directory.path, problems: problems, logger: log.logger)
        #expect(restarted.isDrained)
        #expect(restarted.set(false, node: "n1").hasPrefix("n1 back in service"))
        #expect(DrainKeeper(stateDir: directory.path, problems: problems, logger: log.logger).isDrained == false)
        #expect(problems.all.isEmpty)
    }

    @Test func aDamagedFileIsInServiceWithAProblemUntilWrittenAgain() {
        let directory = TemporaryDirectory()
        directory.write("drained", "\u{1}garbage")
        let log = CapturedLog()
        let problems = PartProblems(logger: log.logger)
        let keeper = DrainKeeper(stateDir: directory.path, problems: problems, logger: log.logger)
        #expect(!keeper.isDrained)
        #expect(problems.reason(of: DrainKeeper.part)?.contains("taken as in service") == true)
        _ = keeper.set(true, node: "n1")
        #expect(problems.reason(of: DrainKeeper.part) == nil)
    }

    @Test func anUnwritableStateDirIsAProblemAndTheDrainStillHolds() {
        let directory = TemporaryDirectory()
        let log = CapturedLog()
        let problems = PartProblems(logger: log.logger)
        // A state_dir that is a file: nothing can be written under it, as root or not.
        directory.write("file", "x")
        let keeper = DrainKeeper(stateDir: directory.path + "/file", problems: problems, logger: log.logger)
        let reply = keeper.set(true, node: "n1")
        #expect(keeper.isDrained)
        #expect(reply.contains("not kept in state_dir"))
        #expect(problems.reason(of: DrainKeeper.part)?.contains("cannot keep the drained state") == true)
    }
}
