// The reconciler's managed files: reads them, writes what differs (ManagedFileIO), restarts and reloads the
// units the written files name, watches for drift on a short timer, and says in hcctl plan what would change.
import HomecloudSchema
import Logging

extension ReconcileDriver {
    /// How often the files are read again while the document names any: a hand edit is repaired within it.
    static let filesPollInterval = Duration.milliseconds(200)

    /// The shared secrets this board holds, by name: what `wait_for: [{ secret: NAME }]` is evaluated against.
    var secretNames: Set<String> { Set(files.secrets.keys) }

    /// Reads every managed file, writes those that differ; returns the restarts and reloads to make once the
    /// units of the same step are carried out.
    func syncFiles() async -> [ManagedFilesCore.Action] {
        let paths = files.paths
        guard !paths.isEmpty else { return [] }
        let writes = files.onObserved(paths.map { (path: $0, file: ManagedFileIO.read($0)) }, now: .now)
        var outcomes: [(path: String, outcome: ManagedFilesCore.WriteOutcome)] = []
        // A validate command may quote the new file: whatever it says goes to the log and status without secrets.
        let secrets = SharedSecretValues(files.secrets)
        for case .write(let file, let reason) in writes {
            var outcome = await ManagedFileIO.write(file)
            switch outcome {
            case .refused(let why): outcome = .refused(secrets.redacted(why))
            case .failed(let why): outcome = .failed(secrets.redacted(why))
            case .written: break
            }
            outcomes.append((file.path, outcome))
            switch outcome {
            case .written:
                filesWritten.increment()
                fileProblemLogged[file.path] = nil
                if reason.hasPrefix("drift") {
                    logger.notice("\(file.path) repaired (\(reason))")
                } else {
                    logger.info("\(file.path) written (\(reason))")
                }
            case .refused(let why):
                filesRefused.increment()
                logger.warning("\(file.path) not written, the old file stays: validate refused the new content: \(why)")
            case .failed(let why):
                if fileProblemLogged[file.path] != why { logger.error("\(file.path) not written: \(why)") }
                fileProblemLogged[file.path] = why
            }
        }
        if outcomes.isEmpty { return [] }
        let notify = files.onWritten(outcomes, now: .now)
        publish()
        return notify
    }

    func notifyUnits(_ actions: [ManagedFilesCore.Action]) async {
        for action in actions {
            switch action {
            case .restart(let units):
                for unit in units {
                    logger.info("restarting \(unit) (if it runs): a file it reads was written")
                    do { try await bus.tryRestartUnit(unit) } catch { logger.error("try-restart \(unit): \(error)") }
                }
            case .reload(let units):
                for unit in units {
                    logger.info("reloading \(unit) (if it runs): a file it reads was written")
                    do { try await bus.reloadOrTryRestartUnit(unit) } catch { logger.error("reload \(unit): \(error)") }
                }
            case .serialRestart(let role, let units):
                serial.onWritten(role: role, units: units)
            case .write:
                break
            }
        }
    }

    /// Reads the files again every filesPollInterval while the document names any (cheap: a few small reads).
    func followFiles() {
        if files.paths.isEmpty {
            filesTimer?.cancel()
            filesTimer = nil
            return
        }
        guard filesTimer == nil else { return }
        let sink = self.sink, interval = Self.filesPollInterval
        filesTimer = Task {
            var open = true
            while open && !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if Task.isCancelled { return }
                open = filesTimerYield(sink)
            }
        }
    }

    /// hcctl plan: the files applying `document` would write here now, each with its line diff.
    func fileSteps(_ document: DesiredState) async -> [String] {
        var copy = files
        copy.onDocument(document, address: address)
        let observed = copy.paths.map { (path: $0, file: ManagedFileIO.read($0)) }
        let old = Dictionary(observed.map { ($0.path, $0.file) }, uniquingKeysWith: { first, _ in first })
        var steps: [String] = []
        for case .write(let file, let reason) in copy.onObserved(observed, now: .now) {
            steps.append("write \(file.path) (\(reason))")
            var before: String
            if case .present(let bytes, _, _, _) = old[file.path] { before = String(decoding: bytes, as: UTF8.self) } else { before = "" }
            // The plan is rendered again with secrets as placeholders, so no secret's value is ever shown.
            let newFile = document.roles(of: node).lazy.compactMap { document.role(named: $0)?.files.first { $0.path == file.path } }.first
            let shown = newFile.flatMap { try? TemplateRenderer.render($0.content, facts: copy.facts!, secretPlaceholder: true).get() }
            // The file on disk holds secret values: its old side is the document in force's placeholders when
            // the disk is as that document wrote it, else not shown at all (it may hold an older value).
            if case .present(let bytes, _, _, _) = old[file.path], newFile?.content.usesSecret == true || files.placeholderText(at: file.path) != nil {
                if let inForce = files.desired(at: file.path), inForce.bytes == bytes, let placeholders = files.placeholderText(at: file.path) {
                    before = placeholders
                } else {
                    before = ""
                    steps.append("    (the file on disk is not shown: it may hold secrets)")
                }
            }
            if let shown, shown != before {
                steps += LineDiff.changes(from: before, to: shown).prefix(200).map { "    \($0)" }
            }
            if !file.restart.isEmpty { steps.append("    then restart (if running): \(file.restart.joined(separator: " "))") }
            if !file.reload.isEmpty { steps.append("    then reload (if running): \(file.reload.joined(separator: " "))") }
        }
        for report in copy.report() {
            if report.state == "degraded" {
                steps.append("cannot write \(report.path): \(report.reason ?? "")")
            } else if let reason = report.reason, reason.hasPrefix("waiting for secret") {
                steps.append("wait \(report.path): \(reason)")
            }
        }
        return steps
    }
}

/// Asks the reconciler's loop to read the files again; false once the loop has ended.
private func filesTimerYield(_ sink: AsyncStream<ReconcilerService.Input>.Continuation) -> Bool {
    if case .terminated = sink.yield(.filesTimer) { return false }
    return true
}
