// Keeps `systemctl status` (STATUS=) current as the reconciler's convergence changes; the document keeper
// updates it itself for documents.
import PartWiring
import Reconciler
import ServiceLifecycle

struct StatusLineService: Service {
    let keeper: DocumentKeeper
    let convergence: LatestValue<ReconcileCore.Convergence>
    let notifier: SystemdNotifier

    func run() async throws {
        let changes = convergence.follow()
        let keeper = self.keeper, notifier = self.notifier
        await cancelWhenGracefulShutdown {
            for await _ in changes { notifier.status(await keeper.statusLine) }
        }
    }
}
