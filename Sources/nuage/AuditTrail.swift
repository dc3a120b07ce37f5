import Foundation
import NuageAudit
import NuageConfig
import NuageEngine
import NuageGateway

extension AuditTrail {
    /// Records an administrative change a command made, then signs a checkpoint and sends it to
    /// providers. A failure is said on stderr (the change itself is done).
    static func record(_ directory: DataDirectory, _ engine: Engine, _ entry: AuditEntry) async {
        do {
            let log = try open(directory)
            try await log.append(entry)
            try await checkpointAndShip(log, engine)
        } catch {
            note("nuage: the audit log could not record \(entry.action): \(error)")
        }
    }
}
