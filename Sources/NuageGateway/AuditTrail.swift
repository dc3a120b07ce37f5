import Foundation
import NuageAudit
import NuageConfig
import NuageCore
import NuageEngine

/// The data directory's audit log (`audit.sqlite`, signed with `audit.key`), as commands and the
/// gateway write to it, and its copies at providers.
public enum AuditTrail {
    public static func open(_ directory: DataDirectory) throws -> AuditLog {
        try AuditLog(path: directory.path + "/audit.sqlite", keyPath: directory.path + "/audit.key")
    }

    /// Signs a checkpoint over the records not yet covered and keeps the records since the last
    /// copy, with it, at providers; `whole`: the whole log as one copy under the active master
    /// key, replacing every older copy (a rotation).
    public static func checkpointAndShip(_ log: AuditLog, _ engine: Engine, whole: Bool = false) async throws {
        try await log.checkpoint()
        let first = whole ? 0 : try await log.shippedSize()
        let records = try await log.recordBytes(from: first)
        guard !records.isEmpty || whole, let note = try await log.checkpointNotes().last else {
            if whole { throw NuageError(.internalError, "the audit log has no checkpoint to send") }
            return
        }
        let copy = Array(try JSONEncoder().encode(AuditCopy(first: first, records: records, note: note)))
        if whole { try await engine.replaceAuditCopies(with: copy) } else { try await engine.storeAuditCopy(copy) }
        try await log.noteShipped(size: first + records.count)
    }

    /// The copies at providers, decoded.
    public static func copies(_ engine: Engine) async -> (copies: [AuditCopy], problems: [String]) {
        let (blobs, problems) = await engine.auditCopies()
        var copies: [AuditCopy] = [], more = problems
        for bytes in blobs {
            if let copy = try? JSONDecoder().decode(AuditCopy.self, from: Data(bytes)) { copies.append(copy) } else {
                more.append("a copy at providers is not an audit log copy")
            }
        }
        return (copies, more)
    }
}
