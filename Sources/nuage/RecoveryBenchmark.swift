import Foundation
import NuageCatalog
import NuageConfig
import NuageCore
import NuageCrypto
import NuageEngine
import NuageLocalS3

/// `nuage bench recover`: objects per second that `nuage recover` rebuilds, from journal
/// segments alone (every change since the first, empty snapshot) and from one snapshot, over
/// the demo directory providers or six local `rclone serve s3` providers.
struct RecoveryBenchmark {
    let objects: Int
    let objectSize: Int
    let s3: Bool
    /// Puts in flight while filling (they share journal segments).
    let concurrency: Int

    struct Result {
        var putsPerSecond: Double
        var segments: (seconds: Double, report: Engine.RecoveryReport)
        var snapshot: (seconds: Double, report: Engine.RecoveryReport)
    }

    func run() async throws -> Result {
        let root = NSTemporaryDirectory() + "nuage-bench-recover-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        var fleet: LocalS3Fleet?
        defer { fleet?.stop() }
        let key = try MasterKey(bytes: .random(count: 32))
        var entries: [Engine.ProviderEntry] = []
        let engine: Engine
        if s3 {
            let started = try await LocalS3Fleet.start()
            fleet = started
            entries = started.engineEntries
            engine = try Engine(catalog: try SQLiteCatalog(path: root + "/catalog.sqlite"), providers: entries,
                                policy: try PlacementPolicy(), masterKey: key)
        } else {
            let directory = DataDirectory(path: root + "/data")
            try directory.initialize()
            engine = try await directory.openEngine()
        }
        try await engine.createBucket("bench")
        let body = [UInt8].random(count: objectSize)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<objects {
                if index >= concurrency { try await group.next() }
                group.addTask {
                    try await engine.put(bucket: "bench", key: "object-\(index)", size: Int64(body.count), body: BytesBody(body))
                }
            }
            try await group.waitForAll()
        }
        let putsPerSecond = Double(objects) / seconds(since: start)

        var round = 0
        func recover() async throws -> (Double, Engine.RecoveryReport) {
            round += 1
            let fresh: Engine
            if s3 {
                fresh = try Engine(catalog: try SQLiteCatalog(path: root + "/recovered-\(round).sqlite"), providers: entries,
                                   policy: try PlacementPolicy(), masterKey: key)
            } else {
                let directory = DataDirectory(path: root + "/data")
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: directory.catalogPath + suffix) }
                fresh = try await directory.openEngine()
            }
            let began = ContinuousClock.now
            let report = try await fresh.recover()
            let elapsed = seconds(since: began)
            guard report.objects == objects, report.problems.isEmpty, report.unreadable.isEmpty else {
                throw NuageError(.integrity, "recovered \(report.objects) of \(objects) objects: \(report.problems) \(report.unreadable.prefix(3))")
            }
            // The next round starts from this state's snapshot (the segments it covers deleted,
            // as a serving gateway does within a minute).
            try await fresh.snapshotCatalog()
            _ = try await fresh.collectDueGarbage(delay: .zero)
            return (elapsed, report)
        }
        let fromSegments = try await recover()
        let fromSnapshot = try await recover()
        return Result(putsPerSecond: putsPerSecond, segments: fromSegments, snapshot: fromSnapshot)
    }
}
