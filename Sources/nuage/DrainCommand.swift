import ArgumentParser
import Foundation
import NuageAudit
import NuageCore
import NuageEngine
import NuageGateway
import Synchronization

extension Providers {
    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move every shard off a provider (set state = \"draining\" on it first); run again to resume.",
            discussion: """
                Each shard is rebuilt from k shards on the other providers (the drained provider is never \
                read), written where the placement rules allow, and swapped into its object in one catalog \
                transaction. Reads in progress keep the old blobs until [storage] delete-delay. Run it with \
                the gateway stopped, or while a gateway that already has the provider as draining serves: \
                both work on the catalog transaction by transaction. Exit status 1 when something could \
                not be moved (run it again).
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The provider to empty.") var name: String
        @Flag(help: "Only say what would move: shards, bytes read from and written to each provider.") var dryRun = false
        @Flag(help: "The report as JSON.") var json = false
        @Flag(help: "What is left to move (as --dry-run), and the progress of the drain that runs or ran last (here or in `nuage serve`, which drains providers marked draining in the background).")
        var status = false
        @Option(help: "Write at most this many MB/s of shards.") var rate: Double?
        @Option(help: "Versions moved at once (default: [storage] drain-parallel).") var parallel: Int?
        @Flag(help: "Copy each shard from the drained provider itself, checking every chunk (k times less to read, but it is contacted); a shard that cannot be copied is rebuilt from the others.")
        var copyFromSource = false

        func run() async throws {
            if let rate, rate <= 0 { throw NuageError(.invalidArgument, "--rate must be positive") }
            if let parallel, !(1...64).contains(parallel) { throw NuageError(.invalidArgument, "--parallel must be between 1 and 64") }
            let engine = try await global.directory.engine()
            let parallel = try parallel ?? global.directory.directory.configuration().drainParallel
            let plan = try await engine.drain(provider: name, dryRun: true, copyFromSource: copyFromSource)
            let data = global.directory.directory.path
            var report = plan
            if !dryRun && !status {
                let progress = Progress(label: "drain \(name)", total: plan.writtenBytes)
                let journal = DrainJournal.Writer(data: data, provider: name, runner: "nuage providers drain", logger: cliLogger)
                let shown = Mutex<Int64>(0)
                report = try await engine.drain(provider: name, copyFromSource: copyFromSource, parallel: parallel, bytesPerSecond: rate.map { Int64($0 * 1e6) }) { so in
                    let delta = shown.withLock { shown in
                        defer { shown = so.writtenBytes }
                        return so.writtenBytes - shown
                    }
                    progress.add(Int(delta))
                    journal.update(so)
                }
                journal.finish(report)
                progress.finish()
                await AuditTrail.record(global.directory.directory, engine, AuditEntry(
                    action: "provider.drain", actor: "cli", outcome: report.failed.isEmpty ? "ok" : "\(report.failed.count) not moved",
                    detail: "\(name): \(report.shards) shard(s) of \(report.versions) version(s) moved"))
            }
            let journal = status ? DrainJournal.load(data: data, provider: name) : nil
            if json {
                struct Status: Encodable {
                    var left: Engine.DrainReport
                    var run: DrainJournal?
                    var running: Bool
                }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                encoder.dateEncodingStrategy = .iso8601
                print(String(decoding: status ? try encoder.encode(Status(left: report, run: journal, running: journal?.running ?? false))
                                              : try encoder.encode(report), as: UTF8.self))
            } else {
                print(Self.describe(report))
                if status { print("  " + (journal?.describe(left: report) ?? "no drain of \(name) has run on this data directory")) }
            }
            if !report.failed.isEmpty { throw ExitCode.failure }
        }

        static func describe(_ r: Engine.DrainReport) -> String {
            func mb(_ bytes: Int64) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }
            let amplification = r.writtenBytes > 0 ? String(format: " (%.1f× the bytes written)", Double(r.readBytes) / Double(r.writtenBytes)) : ""
            var lines = ["\(r.dryRun ? "left to drain on" : "drained") \(r.provider): \(r.versions) version(s), \(r.shards) shard(s); "
                         + "\(mb(r.writtenBytes)) written, \(mb(r.readBytes)) read\(amplification)"]
            for (provider, bytes) in r.written.sorted(by: { $0.key < $1.key }) { lines.append("  write to   \(provider.rightPadded(14))  \(mb(bytes))") }
            for (provider, bytes) in r.read.sorted(by: { $0.key < $1.key }) { lines.append("  read from  \(provider.rightPadded(14))  \(mb(bytes))") }
            if r.copied > 0 { lines.append("  \(r.copied) shard(s) \(r.dryRun ? "to copy" : "copied") from \(r.provider), every chunk checked") }
            for line in r.notCopied { lines.append("  not copied: \(line)") }
            if r.uploadShards > 0 {
                lines.append("  \(r.uploadShards) shard(s) of multipart uploads in progress stay until they are completed (then drain again) or aborted")
            }
            lines.append("  new objects can be placed without it: \(r.placeableWithout ? "yes" : "no (nuage policy check says why)")")
            for failure in r.failed { lines.append("  not moved: \(failure)") }
            if !r.dryRun && r.failed.isEmpty {
                lines.append("  no object references \(r.provider) any more; \(r.blobsDeleted) old blob(s) deleted from it")
                lines.append(r.blobsLeft.isEmpty ? "  \(r.provider) is empty: it can be removed from nuage.toml"
                             : "  left on \(r.provider): " + r.blobsLeft.joined(separator: "; "))
            }
            return lines.joined(separator: "\n")
        }
    }
}
