import ArgumentParser
import Foundation
import NuageAudit
import NuageCore
import NuageEngine
import NuageGateway

struct Recover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rebuild the catalog from the journal at the providers, with nuage.toml and master.key.",
        discussion: """
            For a lost, damaged or stale catalog.sqlite: buckets, objects (their sizes, ETags, metadata \
            and parts) and access keys come back as of the last change the journal holds; every change \
            that was acknowledged is there. Stop every gateway on this data first. An existing catalog is \
            kept beside the new one as catalog.sqlite.replaced-TIME. Exit status 1 when objects are \
            unreadable (fewer than k shards at the providers that answered) or the journal has a gap.
            """)
    @OptionGroup var global: GlobalOptions
    @Flag(help: "The report as JSON.") var json = false

    func run() async throws {
        let directory = global.directory.directory
        let inToken = try directory.isInitialized && directory.configuration().masterKey != .file
        guard directory.isInitialized, inToken || FileManager.default.fileExists(atPath: directory.masterKeyPath) else {
            throw NuageError(.configuration, "\(directory.path) needs nuage.toml and master.key to recover from")
        }
        let manager = FileManager.default
        if manager.fileExists(atPath: directory.catalogPath) {
            let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
            let kept = directory.catalogPath + ".replaced-" + stamp
            for suffix in ["", "-wal", "-shm"] where manager.fileExists(atPath: directory.catalogPath + suffix) {
                try manager.moveItem(atPath: directory.catalogPath + suffix, toPath: kept + suffix)
            }
            note("the old catalog is kept as \(kept)")
        }
        let engine = try await directory.openEngine()
        let start = ContinuousClock.now
        let report = try await engine.recover { done, total in
            if isatty(2) != 0 && (done == total || done % 50 == 0) {
                FileHandle.standardError.write(Data("\rrecover: journal blobs \(done) / \(total)\(done == total ? "\n" : "")".utf8))
            }
        }
        let elapsed = max(1e-3, seconds(since: start))
        // The recovered state becomes the journal's new starting point.
        try await engine.snapshotCatalog()
        await AuditTrail.record(directory, engine, AuditEntry(
            action: "catalog.recover", actor: "cli", outcome: report.problems.isEmpty && report.unreadable.isEmpty ? "ok" : "incomplete",
            detail: "\(report.objects) object(s), \(report.buckets) bucket(s) as of change \(report.seq)"))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            var object = try JSONSerialization.jsonObject(with: encoder.encode(report)) as? [String: Any] ?? [:]
            object["seconds"] = elapsed
            object["objectsPerSecond"] = Double(report.objects) / elapsed
            printJSON(object)
        } else {
            print("recovered \(report.buckets) bucket(s), \(report.objects) object(s) (\(report.bytes) bytes), \(report.accessKeys) access key(s) "
                  + "as of change \(report.seq), in \(String(format: "%.1f", elapsed)) s (\(String(format: "%.0f", Double(report.objects) / elapsed)) objects/s)")
            print("  from the snapshot of change \(report.snapshotSeq) and \(report.changesReplayed) change(s) in \(report.segmentsRead) segment(s); "
                  + "\(report.providersListed) provider(s) listed")
            for line in report.unreachable { print("  not listed: \(line)") }
            if report.missingShards > 0 { print("  \(report.missingShards) shard(s) not found: noted for repair (nuage repair)") }
            for line in report.unreadable { print("  unreadable now: \(line)") }
            for line in report.problems { print("  problem: \(line)") }
        }
        if !report.unreadable.isEmpty || !report.problems.isEmpty { throw ExitCode.failure }
    }
}
