import NuageCatalog

extension Engine {
    /// Every current object version, a page of at most 500 at a time, bucket after bucket.
    func forEachObjectPage(_ body: ([ObjectRecord]) async throws -> Void) async throws {
        for bucket in try await catalog.listBuckets() {
            var after: String?
            while true {
                let page = try await catalog.listObjects(bucket: bucket.name, prefix: "", after: after, limit: 500)
                try await body(page)
                guard let last = page.last, page.count == 500 else { break }
                after = last.key
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
