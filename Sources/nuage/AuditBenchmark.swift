import Foundation
import NuageAudit

/// `nuage bench audit`: what the audit log costs per record (time to append one, as a request
/// waits for it, and bytes on disk) and what a checkpoint costs over the whole log.
struct AuditBenchmark {
    let records: Int

    struct Result {
        var appendMicroseconds: Double
        var bytesPerRecord: Double
        var checkpointSeconds: Double
        var verifySeconds: Double
    }

    func run() async throws -> Result {
        let root = NSTemporaryDirectory() + "nuage-bench-audit-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let log = try AuditLog(path: root + "/audit.sqlite", keyPath: root + "/audit.key")
        let start = ContinuousClock.now
        for index in 0..<records {
            try await log.append(AuditEntry(action: "s3:PutObject", actor: "s3", accessKey: "NUABCDEFGHIJKLMNOPQR", address: "192.0.2.17",
                                            bucket: "backups", key: "2026/12/06/host-\(index % 97)/chunk-\(index).bin"))
        }
        let append = seconds(since: start) / Double(records) * 1e6
        let checkpointStart = ContinuousClock.now
        try await log.checkpoint()
        let checkpoint = seconds(since: checkpointStart)
        let verifyStart = ContinuousClock.now
        let result = AuditVerifier.verify(records: try await log.recordBytes(), notes: try await log.checkpointNotes(), key: log.key.publicKey)
        let verify = seconds(since: verifyStart)
        guard result.problems.isEmpty else { throw AuditBenchmarkError.notIntact(result.problems) }
        var bytes = 0
        for suffix in ["", "-wal"] {
            bytes += ((try? FileManager.default.attributesOfItem(atPath: root + "/audit.sqlite" + suffix)[.size]) as? Int) ?? 0
        }
        return Result(appendMicroseconds: append, bytesPerRecord: Double(bytes) / Double(records),
                      checkpointSeconds: checkpoint, verifySeconds: verify)
    }

    enum AuditBenchmarkError: Error { case notIntact([String]) }
}
