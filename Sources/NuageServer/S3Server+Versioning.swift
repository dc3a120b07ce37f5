import Foundation
import Hummingbird
import HTTPTypes
import NuageCatalog
import NuageCore
import NuageEngine

/// PutBucketVersioning, GetBucketVersioning, ListObjectVersions, and what every object
/// operation needs to name a version and say which one it acted on.
extension S3Server {
    static let versionIDHeader = HTTPField.Name("x-amz-version-id")!
    static let deleteMarkerHeader = HTTPField.Name("x-amz-delete-marker")!

    /// The version a request's `versionId` names.
    static func versionSelector(_ s3: S3Request) throws -> VersionSelector {
        do { return try VersionSelector(s3: s3.queryValue("versionId")) } catch { throw S3Error(.invalidArgument, "Invalid version id specified") }
    }

    /// `x-amz-version-id`, on answers about a version of a bucket that has (or had) versioning.
    static func addVersionID(_ record: ObjectRecord, bucket: BucketRecord?, to fields: inout HTTPFields) {
        if record.versioned || bucket?.versioning != nil { fields[versionIDHeader] = record.s3VersionID }
    }

    /// The version a read names. A delete marker answers as at AWS, with `x-amz-delete-marker`
    /// and its `x-amz-version-id`: 404 NoSuchKey when it is the newest version, 405
    /// MethodNotAllowed when named by id.
    func readableVersion(_ bucket: String, _ key: String, _ s3: S3Request) async throws -> ObjectRecord {
        let selector = try Self.versionSelector(s3)
        guard let record = try await engine.lookup(bucket: bucket, key: key, version: selector) else {
            throw selector == .current ? S3Error(.noSuchKey) : S3Error(.noSuchVersion)
        }
        guard !record.deleteMarker else {
            var error = selector == .current ? S3Error(.noSuchKey) : S3Error(.methodNotAllowed)
            error.headers = [("x-amz-delete-marker", "true"), ("x-amz-version-id", record.s3VersionID)]
            throw error
        }
        return record
    }

    // MARK: Bucket versioning

    func bucketVersioning(_ bucket: String, _ s3: S3Request) async throws -> Response {
        guard let record = s3.bucketRecord else { throw S3Error(.noSuchBucket) }
        var xml = XMLWriter()
        xml.open("VersioningConfiguration", namespace: true)
        if let status = record.versioning { xml.element("Status", status.rawValue) }
        xml.close("VersioningConfiguration")
        return Self.xmlResponse(xml)
    }

    func putBucketVersioning(_ bucket: String, _ request: Request, _ s3: S3Request) async throws -> Response {
        let root = try await xmlBody(request, root: "VersioningConfiguration")
        for child in root.children where !["Status", "MfaDelete"].contains(child.name) { throw S3Error(.malformedXML) }
        switch root.value("MfaDelete") {
        case nil, "Disabled": break
        case "Enabled": throw S3Error(.notImplemented, "MFA delete is not implemented: Nuage has no MFA devices (Object Lock protects versions instead).")
        default: throw S3Error(.malformedXML)
        }
        let status = try root.value("Status").map { text in
            guard let status = VersioningStatus(rawValue: text) else { throw S3Error(.malformedXML) }
            return status
        }
        try await changeBucket(bucket) { record in
            guard let status else { return }
            if record.objectLock != nil && status != .enabled {
                throw S3Error(.invalidBucketState, "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.")
            }
            record.versioning = status
        }
        return Response(status: .ok, headers: [.contentLength: "0"])
    }

    // MARK: ListObjectVersions

    func listObjectVersions(_ bucket: String, _ s3: S3Request) async throws -> Response {
        let (prefix, delimiter, maxKeys, urlEncoding) = try Self.listingParameters(s3)
        let keyMarker = s3.queryValue("key-marker").flatMap { $0.isEmpty ? nil : $0 }
        let versionMarkerText = s3.queryValue("version-id-marker").flatMap { $0.isEmpty ? nil : $0 }
        if versionMarkerText != nil && keyMarker == nil {
            throw S3Error(.invalidArgument, "A version-id marker cannot be specified without a key marker.")
        }
        let versionMarker: VersionSelector
        do { versionMarker = try VersionSelector(s3: versionMarkerText) } catch { throw S3Error(.invalidArgument, "Invalid version id specified") }
        let page = try await engine.listVersions(bucket: bucket, prefix: prefix, delimiter: delimiter, keyMarker: keyMarker,
                                                 versionMarker: versionMarker, limit: maxKeys)
        let encode: (String) -> String = { urlEncoding ? Self.urlEncode($0) : $0 }
        var xml = XMLWriter()
        xml.open("ListVersionsResult", namespace: true)
        xml.element("Name", bucket)
        xml.element("Prefix", encode(prefix))
        xml.element("KeyMarker", encode(keyMarker ?? ""))
        xml.element("VersionIdMarker", versionMarkerText ?? "")
        if page.isTruncated {
            if let next = page.nextKeyMarker { xml.element("NextKeyMarker", encode(next)) }
            if let next = page.nextVersionIDMarker { xml.element("NextVersionIdMarker", next) }
        }
        xml.element("MaxKeys", String(maxKeys))
        if let delimiter { xml.element("Delimiter", encode(delimiter)) }
        if urlEncoding { xml.element("EncodingType", "url") }
        xml.element("IsTruncated", page.isTruncated ? "true" : "false")
        for entry in page.versions {
            let record = entry.record
            xml.open(record.deleteMarker ? "DeleteMarker" : "Version")
            xml.element("Key", encode(record.key))
            xml.element("VersionId", record.s3VersionID)
            xml.element("IsLatest", entry.isLatest ? "true" : "false")
            xml.element("LastModified", Self.iso8601(record.modified))
            if !record.deleteMarker {
                xml.element("ETag", "\"\(record.etag)\"")
                xml.element("Size", String(record.size))
                xml.element("StorageClass", "STANDARD")
            }
            Self.writeOwner(&xml, s3.bucketOwner)
            xml.close(record.deleteMarker ? "DeleteMarker" : "Version")
        }
        for common in page.commonPrefixes {
            xml.open("CommonPrefixes")
            xml.element("Prefix", encode(common))
            xml.close("CommonPrefixes")
        }
        xml.close("ListVersionsResult")
        return Self.xmlResponse(xml)
    }
}
