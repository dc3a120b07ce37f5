import Foundation
import NuageCatalog
import NuageCore

/// Copying one catalog into another (`nuage catalog migrate`): the recoverable state and the
/// journal's blobs, checked after the copy.
public enum CatalogMigration {
    /// - Returns: what was copied, in words.
    /// - Throws: `invalidArgument` while uploads are in progress or writes in flight, or when
    ///   the destination is not empty; `integrity` when the copy reads back differently.
    public static func copy(from source: any Catalog, to destination: any Catalog) async throws -> String {
        guard try await source.intents(before: .distantFuture).isEmpty else {
            throw NuageError(.invalidArgument, "writes are in flight (stop every gateway first; `nuage gc` gives up what a crash left)")
        }
        var uploads = 0
        for bucket in try await source.listBuckets() {
            uploads += try await source.listUploads(bucket: bucket.name, prefix: "", after: nil, limit: 1).count
        }
        guard uploads == 0 else {
            throw NuageError(.invalidArgument, "multipart uploads are in progress: complete or abort them first (ListMultipartUploads lists them)")
        }
        let state = try await source.snapshot(), blobs = try await source.journalBlobs()
        try await destination.restore(state, blobs: blobs)
        let copied = try await destination.snapshot()
        guard copied == state, try await destination.journalBlobs().count == blobs.count else {
            throw NuageError(.integrity, "the copy reads back differently from the source; the source is unchanged")
        }
        return "\(state.buckets.count) bucket(s), \(state.objects.count) object(s), \(state.versions.count) older version(s) and delete marker(s), "
            + "\(state.accessKeys.count) access key(s), \(state.kmsKeys.count) KMS key(s), \(blobs.count) journal blob(s)"
    }
}
