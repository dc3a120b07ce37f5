import Foundation
import Logging
import NuageEngine
import Synchronization

/// A drain's progress as it runs, kept in `DATA/drains/PROVIDER.json` (rewritten at most once a
/// second) so that `nuage providers drain NAME --status`, in another process, can show what a
/// foreground drain or a serving gateway has moved, at what rate, and whether it is still running.
public struct DrainJournal: Codable, Sendable {
    public var provider: String
    /// `nuage serve` or `nuage providers drain`.
    public var runner: String
    public var pid: Int32
    public var started: Date
    public var updated: Date
    /// Set when the run ended (whether or not everything moved).
    public var finished: Date?
    public var shards = 0
    public var bytesWritten: Int64 = 0
    public var failed: [String] = []

    public static func path(data: String, provider: String) -> String { "\(data)/drains/\(provider).json" }

    public static func load(data: String, provider: String) -> DrainJournal? {
        guard let bytes = FileManager.default.contents(atPath: path(data: data, provider: provider)) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(DrainJournal.self, from: bytes)
    }

    /// Whether the run that wrote it is still going (not finished, and its process is alive).
    public var running: Bool { finished == nil && kill(pid, 0) == 0 }

    /// Shard bytes written per second over the run.
    public var rate: Double {
        let seconds = (finished ?? updated).timeIntervalSince(started)
        return seconds > 0 ? Double(bytesWritten) / seconds : 0
    }

    public func describe(left: Engine.DrainReport) -> String {
        let time = ISO8601DateFormatter()
        let moved = "moved \(shards) shard(s), \(String(format: "%.1f MB at %.1f MB/s", Double(bytesWritten) / 1e6, rate / 1e6))"
            + (failed.isEmpty ? "" : ", \(failed.count) not moved yet (e.g. \(failed[0]))")
        if running {
            let eta = rate > 0 && left.writtenBytes > 0 ? String(format: "; about %.0f s to go at that rate", Double(left.writtenBytes) / rate) : ""
            return "running: \(runner) (pid \(pid)) since \(time.string(from: started)): \(moved)\(eta)"
        }
        if let finished { return "last run: \(runner), \(time.string(from: started)) to \(time.string(from: finished)): \(moved)" }
        return "interrupted: \(runner) (pid \(pid)) stopped after \(time.string(from: updated)): \(moved); run the drain again to resume"
    }

    /// Keeps the journal of one run up to date.
    public final class Writer: Sendable {
        private let path: String
        private let logger: Logger
        private let state: Mutex<(journal: DrainJournal, written: Date)>

        /// - Parameter logger: where a journal that cannot be written is said (the drain goes on).
        public init(data: String, provider: String, runner: String, logger: Logger) {
            path = DrainJournal.path(data: data, provider: provider)
            self.logger = logger
            let now = Date()
            state = Mutex((DrainJournal(provider: provider, runner: runner, pid: getpid(), started: now, updated: now), .distantPast))
            try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            save(force: true)
        }

        public func update(_ report: Engine.DrainReport) {
            state.withLock {
                $0.journal.shards = report.shards
                $0.journal.bytesWritten = report.writtenBytes
                $0.journal.failed = report.failed
                $0.journal.updated = Date()
            }
            save(force: false)
        }

        public func finish(_ report: Engine.DrainReport) {
            update(report)
            state.withLock { $0.journal.finished = Date() }
            save(force: true)
        }

        private func save(force: Bool) {
            let journal: DrainJournal? = state.withLock { state in
                guard force || state.journal.updated.timeIntervalSince(state.written) >= 1 else { return nil }
                state.written = state.journal.updated
                return state.journal
            }
            guard let journal else { return }
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            do {
                try encoder.encode(journal).write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                logger.warning("cannot write the drain journal (the drain goes on)", metadata: ["path": "\(path)", "error": "\(error)"])
            }
        }
    }
}
