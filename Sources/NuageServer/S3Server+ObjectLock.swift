import Foundation
import Hummingbird
import HTTPTypes
import NuageCatalog
import NuageCore
import NuageEngine

/// Object Lock: a bucket's configuration, versions' retention and legal holds, the lock headers
/// of writes, and who may bypass GOVERNANCE retention. The catalog refuses to remove or weaken
/// what is locked whoever asks; these handlers give S3's answers.
extension S3Server {
    static let lockHeaders = [ObjectLock.modeKey, ObjectLock.retainUntilKey, ObjectLock.legalHoldKey]

    /// The lock a new version gets (stored metadata entries): the write's `x-amz-object-lock-*`
    /// headers, else the bucket's default retention.
    func lockMetadata(_ headers: HTTPFields, bucket record: BucketRecord?, now: Date, requireDigest: Bool) throws -> [String: String] {
        let mode = headers[named: ObjectLock.modeKey], until = headers[named: ObjectLock.retainUntilKey]
        let hold = headers[named: ObjectLock.legalHoldKey]
        let asked = mode != nil || until != nil || hold != nil
        guard let record else {
            if asked { throw S3Error(.noSuchBucket) }
            return [:]
        }
        guard let configuration = try record.objectLock.map(ObjectLockConfiguration.init(stored:)) else {
            if asked { throw S3Error(.invalidRequest, "Bucket is missing ObjectLockConfiguration") }
            return [:]
        }
        if requireDigest && (mode != nil || hold != nil)
            && !headers.contains(where: { ["content-md5", "x-amz-trailer", "x-amz-sdk-checksum-algorithm"].contains($0.name.canonicalName)
                                       || $0.name.canonicalName.hasPrefix("x-amz-checksum-") }) {
            throw S3Error(.invalidRequest, "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters")
        }
        var metadata: [String: String] = [:]
        switch (mode, until) {
        case (nil, nil):
            if let (mode, until) = configuration.defaultRetention(from: now) {
                metadata[ObjectLock.modeKey] = mode.rawValue
                metadata[ObjectLock.retainUntilKey] = ObjectLock.formatDate(until)
            }
        case let (mode?, until?):
            let (parsedMode, date) = try Self.retention(mode: mode, until: until, now: now)
            metadata[ObjectLock.modeKey] = parsedMode.rawValue
            metadata[ObjectLock.retainUntilKey] = ObjectLock.formatDate(date)
        default:
            throw S3Error(.invalidArgument, "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied")
        }
        if let hold { metadata[ObjectLock.legalHoldKey] = try Self.legalHold(hold) }
        return metadata
    }

    static func retention(mode: String, until: String, now: Date) throws -> (ObjectLock.Mode, Date) {
        guard let mode = ObjectLock.Mode(rawValue: mode) else { throw S3Error(.invalidArgument, "Unknown wormMode directive.") }
        guard let date = ObjectLock.parseDate(until) else {
            throw S3Error(.invalidArgument, "The retain until date must be provided in ISO 8601 format")
        }
        guard date > now else { throw S3Error(.invalidArgument, "The retain until date must be in the future!") }
        return (mode, date)
    }

    static func legalHold(_ status: String) throws -> String {
        guard ["ON", "OFF"].contains(status) else { throw S3Error(.invalidArgument, "Legal Hold must be either of 'ON' or 'OFF'") }
        return status
    }

    /// Whether the request bypasses GOVERNANCE retention (`x-amz-bypass-governance-retention:
    /// true`). Only a key that may write the bucket may, and a bucket policy can deny it
    /// (`s3:BypassGovernanceRetention`); asking without the right is AccessDenied.
    func bypassesGovernance(_ caller: Caller, _ request: Request, bucket: String, key: String?, record: BucketRecord?) throws -> Bool {
        guard request.headers[named: "x-amz-bypass-governance-retention"]?.lowercased() == "true" else { return false }
        let refused = S3Error(.accessDenied, "This key may not bypass governance retention.")
        guard !caller.isAnonymous, !caller.key.readOnly, Self.scopeRefusal(caller.key, .deleteObject, bucket, record: record) == nil else { throw refused }
        if let text = record?.policy {
            let policy = try Self.storedPolicy(text, bucket: bucket)
            let asked = BucketPolicy.Request(accessKey: caller.key.id, owner: caller.key.owner, action: S3Operation.bypassGovernance,
                                             resource: "arn:aws:s3:::\(bucket)" + (key.map { "/\($0)" } ?? ""),
                                             context: Self.connectionContext(caller.connection))
            if case .denied = policy.evaluate(asked) { throw refused }
        }
        return true
    }

    // MARK: Bucket configuration

    func objectLockConfiguration(_ s3: S3Request) throws -> Response {
        guard let record = s3.bucketRecord else { throw S3Error(.noSuchBucket) }
        guard let stored = record.objectLock else { throw S3Error(.noSuchObjectLockConfiguration) }
        return Self.xmlResponse(try ObjectLockConfiguration(stored: stored).xml())
    }

    func putObjectLockConfiguration(_ bucket: String, _ request: Request) async throws -> Response {
        let configuration = try ObjectLockConfiguration(xml: try await xmlBody(request, root: "ObjectLockConfiguration"))
        try await changeBucket(bucket) { record in
            guard record.objectLock != nil else {
                throw S3Error(.invalidBucketState, "Object Lock configuration cannot be enabled on existing buckets (create the bucket with x-amz-bucket-object-lock-enabled: true).")
            }
            record.objectLock = configuration.stored
        }
        return Response(status: .ok, headers: [.contentLength: "0"])
    }

    // MARK: Retention and legal hold

    func objectRetention(_ bucket: String, _ key: String, _ s3: S3Request) async throws -> Response {
        let record = try await engine.head(bucket: bucket, key: key, version: try Self.versionSelector(s3))
        guard let mode = record.metadata[ObjectLock.modeKey], let until = record.metadata[ObjectLock.retainUntilKey] else {
            throw S3Error(.noSuchObjectLockRetention)
        }
        var xml = XMLWriter()
        xml.open("Retention", namespace: true)
        xml.element("Mode", mode)
        xml.element("RetainUntilDate", until)
        xml.close("Retention")
        return Self.xmlResponse(xml)
    }

    func putObjectRetention(_ bucket: String, _ key: String, _ request: Request, _ s3: S3Request, _ caller: Caller) async throws -> Response {
        guard s3.bucketRecord?.objectLock != nil else { throw S3Error(.invalidRequest, "Bucket is missing Object Lock Configuration") }
        let root = try await xmlBody(request, root: "Retention")
        for child in root.children where !["Mode", "RetainUntilDate"].contains(child.name) { throw S3Error(.malformedXML) }
        var entries: [String: String?] = [ObjectLock.modeKey: nil, ObjectLock.retainUntilKey: nil]
        switch (root.value("Mode"), root.value("RetainUntilDate")) {
        case (nil, nil): break  // removes retention: only once it ended, or bypassing GOVERNANCE
        case let (mode?, until?):
            let (mode, date) = try Self.retention(mode: mode, until: until, now: Date())
            entries = [ObjectLock.modeKey: mode.rawValue, ObjectLock.retainUntilKey: ObjectLock.formatDate(date)]
        default: throw S3Error(.malformedXML)
        }
        let bypass = try bypassesGovernance(caller, request, bucket: bucket, key: key, record: s3.bucketRecord)
        let record = try await engine.setMetadata(bucket: bucket, key: key, version: try Self.versionSelector(s3), entries, bypassGovernance: bypass)
        var fields: HTTPFields = [.contentLength: "0"]
        Self.addVersionID(record, bucket: s3.bucketRecord, to: &fields)
        return Response(status: .ok, headers: fields)
    }

    func objectLegalHold(_ bucket: String, _ key: String, _ s3: S3Request) async throws -> Response {
        let record = try await engine.head(bucket: bucket, key: key, version: try Self.versionSelector(s3))
        guard let status = record.metadata[ObjectLock.legalHoldKey] else { throw S3Error(.noSuchObjectLockRetention) }
        var xml = XMLWriter()
        xml.open("LegalHold", namespace: true)
        xml.element("Status", status)
        xml.close("LegalHold")
        return Self.xmlResponse(xml)
    }

    func putObjectLegalHold(_ bucket: String, _ key: String, _ request: Request, _ s3: S3Request) async throws -> Response {
        guard s3.bucketRecord?.objectLock != nil else { throw S3Error(.invalidRequest, "Bucket is missing Object Lock Configuration") }
        let root = try await xmlBody(request, root: "LegalHold")
        guard root.children.count == 1, let status = root.value("Status") else { throw S3Error(.malformedXML) }
        let record = try await engine.setMetadata(bucket: bucket, key: key, version: try Self.versionSelector(s3),
                                                  [ObjectLock.legalHoldKey: try Self.legalHold(status)])
        var fields: HTTPFields = [.contentLength: "0"]
        Self.addVersionID(record, bucket: s3.bucketRecord, to: &fields)
        return Response(status: .ok, headers: fields)
    }
}
