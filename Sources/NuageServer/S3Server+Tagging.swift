import Foundation
import Hummingbird
import HTTPTypes
import NuageCore
import NuageEngine

/// GetObjectTagging, PutObjectTagging, DeleteObjectTagging: an object's tags, changed without
/// rewriting it (the catalog replaces its metadata; the change is journaled and audited).
extension S3Server {
    func objectTagging(_ bucket: String, _ key: String, _ s3: S3Request) async throws -> Response {
        let record = try await engine.head(bucket: bucket, key: key, version: try Self.versionSelector(s3))
        var response = Self.xmlResponse(TagSet.of(record.metadata).xml())
        Self.addVersionID(record, bucket: s3.bucketRecord, to: &response.headers)
        return response
    }

    func putObjectTagging(_ bucket: String, _ key: String, _ request: Request, _ s3: S3Request) async throws -> Response {
        let tags = try TagSet(xml: try await xmlBody(request, root: "Tagging"))
        let record = try await engine.setMetadata(bucket: bucket, key: key, version: try Self.versionSelector(s3),
                                                  [TagSet.metadataKey: tags.tags.isEmpty ? nil : tags.stored])
        var fields: HTTPFields = [.contentLength: "0"]
        Self.addVersionID(record, bucket: s3.bucketRecord, to: &fields)
        return Response(status: .ok, headers: fields)
    }

    func deleteObjectTagging(_ bucket: String, _ key: String, _ s3: S3Request) async throws -> Response {
        let record = try await engine.setMetadata(bucket: bucket, key: key, version: try Self.versionSelector(s3), [TagSet.metadataKey: nil])
        var fields = HTTPFields()
        Self.addVersionID(record, bucket: s3.bucketRecord, to: &fields)
        return Response(status: .noContent, headers: fields)
    }

    /// The tags a write gives (`x-amz-tagging`), checked, in their stored form; nil without.
    static func requestedTags(_ headers: HTTPFields) throws -> String? {
        guard let header = headers[named: "x-amz-tagging"] else { return nil }
        let tags = try TagSet(header: header)
        return tags.tags.isEmpty ? nil : tags.stored
    }

    func bucketTagging(_ bucket: String) async throws -> Response {
        guard let record = try await engine.catalog.bucket(bucket) else { throw S3Error(.noSuchBucket) }
        guard let stored = record.tagging else { throw S3Error(.noSuchTagSet) }
        return Self.xmlResponse(TagSet.stored(stored).xml())
    }

    func putBucketTagging(_ bucket: String, _ request: Request) async throws -> Response {
        try await changeBucket(bucket) { record in
            let tags = try TagSet(xml: try await xmlBody(request, root: "Tagging"), maximum: TagSet.maximumBucketTags)
            record.tagging = tags.tags.isEmpty ? nil : tags.stored
        }
        return Response(status: .noContent)
    }

    func deleteBucketTagging(_ bucket: String) async throws -> Response {
        try await changeBucket(bucket) { $0.tagging = nil }
        return Response(status: .noContent)
    }
}
