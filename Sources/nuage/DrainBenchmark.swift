import Foundation
import NuageCatalog
import NuageConfig
import NuageCore
import NuageCrypto
import NuageEngine
import NuageLocalS3
import Synchronization

/// `nuage bench drain`: how fast a provider is drained, and what a drain costs client reads,
/// in one run over seven providers in seven countries (4+2: six remain after a drain).
///
/// 1. GET latency with a provider marked draining and no drain running (the baseline);
/// 2. the same GETs while that provider is drained as `nuage serve` drains it (its default rate
///    and parallelism): p99 during against p99 without, and the drain's MB/s;
/// 3. another provider drained flat out (rebuilt from `k` shards each: read amplification `k`);
/// 4. a third drained flat out with `copyFromSource` (one read per shard);
/// 5. with directory providers, a plain copy of the third provider's files (the physical
///    limit of moving the same bytes on this disk).
struct DrainBenchmark {
    /// Bytes of objects stored before the drains.
    let total: Int64
    let objectSize: Int
    /// Seven local `rclone serve s3` providers instead of the demo's directories.
    let s3: Bool
    /// GETs in the baseline phase.
    let reads: Int
    /// The background drain's settings (`[storage] drain-rate` and `drain-parallel` defaults).
    let rate: Int64
    let parallel: Int

    struct Drain {
        var seconds: Double
        var report: Engine.DrainReport
        var mbps: Double { Double(report.writtenBytes) / seconds / 1e6 }
        var amplification: Double { Double(report.readBytes) / Double(max(1, report.writtenBytes)) }
    }

    struct Result {
        var baseline: S3PipelineBenchmark.Phase
        var during: S3PipelineBenchmark.Phase
        var paced: Drain
        var rebuild: Drain
        var copy: Drain
        /// MB/s of a plain file copy of the same provider's blobs (directory providers only).
        var fileCopy: Double?
        var putMBps: Double
    }

    func run() async throws -> Result {
        let root = NSTemporaryDirectory() + "nuage-bench-drain-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        var fleet: LocalS3Fleet?
        defer { fleet?.stop() }
        let engine: Engine
        if s3 {
            let started = try await LocalS3Fleet.start(countries: LocalS3Fleet.sixCountries + ["AU"])
            fleet = started
            engine = try Engine(catalog: try SQLiteCatalog(path: root + "/catalog.sqlite"),
                                providers: started.engineEntries,
                                policy: try PlacementPolicy(), masterKey: try MasterKey(bytes: .random(count: 32)))
        } else {
            let directory = DataDirectory(path: root + "/data")
            try directory.initialize()
            engine = try await directory.openEngine()
        }
        let eligible = engine.placement.providers.filter { engine.placement.exclusions[$0.name] == nil }.map(\.name)
        guard eligible.count >= 7 else { throw NuageError(.configuration, "the drain benchmark needs seven eligible providers") }
        let (paced, flat, copied) = (eligible[3], eligible[4], eligible[5])

        try await engine.createBucket("bench")
        let count = max(1, Int(total / Int64(objectSize)))
        let data = [UInt8].random(count: objectSize)
        let putStart = ContinuousClock.now
        for index in 0..<count {
            try await engine.put(bucket: "bench", key: "object-\(index)", size: Int64(objectSize), body: BytesBody(data))
        }
        let putMBps = Double(objectSize * count) / seconds(since: putStart) / 1e6

        func get(_ engine: Engine) async throws -> Double {
            let began = ContinuousClock.now
            var read = 0
            for try await piece in try await engine.get(bucket: "bench", key: "object-\(Int.random(in: 0..<count))") { read += piece.count }
            guard read == objectSize else { throw NuageError(.integrity, "read \(read) of \(objectSize) bytes") }
            return seconds(since: began)
        }

        // 1 and 2: the gateway restarted with `paced` draining, before and during its drain.
        let gateway = try engine.marking(draining: [paced])
        for _ in 0..<5 { _ = try await get(gateway) }
        var baseline: [Double] = []
        for _ in 0..<reads { baseline.append(try await get(gateway)) }
        let done = Atomic<Bool>(false)
        let drainStart = ContinuousClock.now
        let drain = Task {
            defer { done.store(true, ordering: .releasing) }
            return try await gateway.drain(provider: paced, parallel: parallel, bytesPerSecond: rate)
        }
        var during: [Double] = []
        while !done.load(ordering: .acquiring) { during.append(try await get(gateway)) }
        let pacedReport = try await drain.value
        let pacedDrain = Drain(seconds: seconds(since: drainStart), report: pacedReport)

        // 3: flat out, rebuilding (the drained provider is never read).
        var fileCopy: Double?
        let rebuild = try await timedDrain(engine.marking(draining: [flat]), flat, copyFromSource: false)
        // 5 then 4: the files a directory provider holds, copied plainly; then the same drained by copying.
        if !s3 { fileCopy = try copyFiles(of: copied, in: root + "/data/providers", to: root + "/copy") }
        let copy = try await timedDrain(engine.marking(draining: [copied]), copied, copyFromSource: true)
        for report in [pacedDrain.report, rebuild.report, copy.report] where !report.failed.isEmpty {
            throw NuageError(.integrity, "drain of \(report.provider) failed: \(report.failed[0])")
        }
        for index in 0..<count {
            var read = 0
            for try await piece in try await engine.get(bucket: "bench", key: "object-\(index)") { read += piece.count }
            guard read == objectSize else { throw NuageError(.integrity, "object-\(index) read back \(read) bytes") }
        }
        return Result(baseline: .init(name: "no drain", latencies: baseline.sorted()),
                      during: .init(name: "during a drain", latencies: during.sorted()),
                      paced: pacedDrain, rebuild: rebuild, copy: copy, fileCopy: fileCopy, putMBps: putMBps)
    }

    private func timedDrain(_ engine: Engine, _ provider: String, copyFromSource: Bool) async throws -> Drain {
        let start = ContinuousClock.now
        let report = try await engine.drain(provider: provider, copyFromSource: copyFromSource, parallel: parallel)
        return Drain(seconds: seconds(since: start), report: report)
    }

    /// MB/s of copying a provider directory's files (read, write, fsync each), as `cp` and a sync would.
    private func copyFiles(of provider: String, in providers: String, to target: String) throws -> Double {
        let source = providers + "/" + provider
        var files: [String] = []
        if let walker = FileManager.default.enumerator(atPath: source) {
            for case let path as String in walker {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: source + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue { files.append(path) }
            }
        }
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        var bytes = 0
        let start = ContinuousClock.now
        for (index, path) in files.enumerated() {
            let contents = try Data(contentsOf: URL(fileURLWithPath: source + "/" + path))
            let out = target + "/\(index)"
            try contents.write(to: URL(fileURLWithPath: out))
            let fd = open(out, O_RDONLY)
            if fd >= 0 { fsync(fd); close(fd) }
            bytes += contents.count
        }
        return Double(bytes) / seconds(since: start) / 1e6
    }
}
