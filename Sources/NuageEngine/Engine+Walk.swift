import NuageCatalog

extension Engine {
    /// Every stored version (current and noncurrent, not delete markers), a page at a time,
    /// bucket after bucket: what drain, scrub, repair and exposure reports must cover.
    func forEachVersionPage(_ body: ([ObjectRecord]) async throws -> Void) async throws {
        for bucket in try await catalog.listBuckets() {
            var after: (key: String, versionID: [UInt8]?)?
            while true {
                let page = try await catalog.listVersions(bucket: bucket.name, prefix: "", after: after, limit: 500)
                try await body(page.map(\.record).filter { !$0.deleteMarker })
                guard let last = page.last, page.count == 500 else { break }
                after = (last.record.key, last.record.versionID)
            }
        }
    }

    /// Every part of every multipart upload in progress, with its upload.
    func forEachUploadedPart(_ body: (UploadRecord, PartRecord) async throws -> Void) async throws {
        for bucket in try await catalog.listBuckets() {
            var marker: (key: String, id: String?)?
            while true {
                let uploads = try await catalog.listUploads(bucket: bucket.name, prefix: "", after: marker, limit: 500)
                for upload in uploads {
                    for part in try await catalog.parts(uploadID: upload.id) { try await body(upload, part) }
                }
                guard let last = uploads.last, uploads.count == 500 else { break }
                marker = (last.key, last.id)
            }
        }
    }
}
