import Foundation
import NuageCatalog
import NuageCore
import NuageProviders

extension Engine {
    /// What a garbage collection did.
    public struct GCReport: Sendable, Hashable {
        /// Write intents older than the grace period, given up (crashed or abandoned puts).
        public var abandonedIntents = 0
        /// Multipart uploads older than their expiry, aborted.
        public var expiredUploads = 0
        /// Blobs deleted from the garbage list (replaced, deleted or abandoned versions).
        public var deletedGarbage = 0
        /// Blobs on providers that nothing referenced, deleted.
        public var deletedOrphans = 0
        /// Leftovers of puts that never finished (a directory's temporary files), removed.
        public var removedAbandonedWrites = 0
        /// Blobs that could not be deleted now (provider unavailable), kept for the next run.
        public var failed = 0
        /// KMS keys whose scheduled destruction was due, destroyed.
        public var destroyedKMSKeys = 0
        /// Objects under destroyed KMS keys (crypto-shredded, unreadable), removed with their blobs.
        public var shreddedObjects = 0
        public init() {}
    }

    /// Deletes blobs nothing needs: those of versions replaced or deleted, those of writes that
    /// crashed (intents older than `grace`, and what their unfinished writes left on providers,
    /// untouched for `grace`), the parts of multipart uploads older than `uploadExpiry`, and
    /// orphans found by listing every provider.
    ///
    /// Safe while puts run, here or in other gateways: an intent is recorded before any blob
    /// is written, and references are read after each provider is listed, so a blob of a write
    /// in progress is always referenced. `grace` must exceed the longest put.
    /// - Parameter deleteDelay: overrides ``deleteDelay`` for the blobs of replaced versions
    ///   (zero when no read can be in progress, such as with no gateway running).
    public func collectGarbage(grace: Duration = .seconds(3600), uploadExpiry: Duration? = nil,
                               deleteDelay: Duration? = nil) async throws -> GCReport {
        var report = GCReport()
        report.destroyedKMSKeys = try await destroyDueKMSKeys().count
        report.shreddedObjects = try await removeShreddedObjects()
        if let uploadExpiry { report.expiredUploads = try await expireUploads(olderThan: uploadExpiry) }
        let cutoff = Date().addingTimeInterval(-Double(grace.components.seconds))
        for intent in try await catalog.intents(before: cutoff) {
            try await catalog.abandonIntent(intent.id)
            report.abandonedIntents += 1
        }
        let (deleted, failed) = try await collectDueGarbage(delay: deleteDelay)
        report.deletedGarbage += deleted
        report.failed += failed
        for (name, provider) in providers.sorted(by: { $0.key < $1.key }) where !neverContacted.contains(name) {
            if let removed = try? await provider.removeAbandonedWrites(olderThan: grace) {
                report.removedAbandonedWrites += removed
            } else {
                report.failed += 1
            }
            guard let blobs = try? await provider.listAll() else {
                report.failed += 1
                continue
            }
            let referenced = try await catalog.referencedBlobs(provider: name)
            for blob in blobs where !referenced.contains(blob.name) {
                do {
                    try await provider.delete(blob.name)
                    report.deletedOrphans += 1
                } catch {
                    report.failed += 1
                }
            }
        }
        return report
    }

    /// Deletes every object with a part under a destroyed KMS key: it can never be read again
    /// (crypto-shredded), and its blobs go to the garbage list. An object overwritten meanwhile is left alone.
    /// - Returns: how many were deleted.
    public func removeShreddedObjects() async throws -> Int {
        let destroyed = Set(try await catalog.kmsKeys().filter { $0.state == .destroyed }.map(\.id))
        guard !destroyed.isEmpty else { return 0 }
        var shredded: [ObjectRecord] = []
        try await forEachVersionPage { page in
            shredded += page.filter { $0.parts.contains { $0.kmsKeyID.map(destroyed.contains) == true } }
        }
        var removed = 0
        for object in shredded {
            // Object Lock holds even an unreadable version until its retention ends.
            let deleted = await tolerating("remove a crypto-shredded version", metadata: ["object": "\(object.bucket)/\(object.key)"]) {
                try await catalog.deleteVersion(bucket: object.bucket, key: object.key, versionID: object.versionID, bypassGovernance: false, now: Date())
            }
            if case .some(.some) = deleted { removed += 1 }
        }
        if removed > 0 { try await journalDurable() }
        return removed
    }
}
