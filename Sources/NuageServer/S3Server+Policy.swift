import Foundation
import Hummingbird
import HTTPTypes
import NuageCatalog
import NuageCore

/// Bucket policies: Get/Put/DeleteBucketPolicy, GetBucketPolicyStatus, and the access decision
/// every request goes through: an explicit Deny of the bucket's policy refuses; otherwise the
/// access key's scope (all buckets or some, read-only or not) or an Allow of the policy allows.
/// Anonymous requests exist only with `[server] allow-public-buckets`, and only an Allow to `*`
/// lets them in.
extension S3Server {
    /// Where a request came from, for the policy's `aws:SourceIp` and `aws:SecureTransport`.
    struct Connection: Sendable {
        var address: String?
        var secure: Bool
    }

    func bucketPolicy(_ bucket: String) async throws -> Response {
        guard let record = try await engine.catalog.bucket(bucket) else { throw S3Error(.noSuchBucket) }
        guard let policy = record.policy else { throw S3Error(.noSuchBucketPolicy, details: [("BucketName", bucket)]) }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: policy)))
    }

    func putBucketPolicy(_ bucket: String, _ request: Request) async throws -> Response {
        try await changeBucket(bucket) { record in
            let body = try await checkedBody(request, limit: BucketPolicy.maximumSize)
            guard let text = String(data: body, encoding: .utf8) else { throw S3Error(.malformedPolicy) }
            let policy = try BucketPolicy(json: text, bucket: bucket)
            if policy.isPublic && !options.allowPublicBuckets {
                throw S3Error(.accessDenied, "The policy grants access to everyone (Principal \"*\"), and public buckets are off: set [server] allow-public-buckets = true to allow them (AWS's BlockPublicPolicy).")
            }
            for statement in policy.statements {
                for case .key(let id) in statement.principals where try await engine.catalog.accessKey(id: id) == nil {
                    throw BucketPolicy.malformed("Invalid principal in policy: no access key \(id)")
                }
            }
            record.policy = text
        }
        return Response(status: .noContent)
    }

    func deleteBucketPolicy(_ bucket: String) async throws -> Response {
        try await changeBucket(bucket) { $0.policy = nil }
        return Response(status: .noContent)
    }

    func bucketPolicyStatus(_ bucket: String) async throws -> Response {
        guard let record = try await engine.catalog.bucket(bucket) else { throw S3Error(.noSuchBucket) }
        guard let text = record.policy else { throw S3Error(.noSuchBucketPolicy, details: [("BucketName", bucket)]) }
        var xml = XMLWriter()
        xml.open("PolicyStatus", namespace: true)
        xml.element("IsPublic", try Self.storedPolicy(text, bucket: bucket).isPublic ? "true" : "false")
        xml.close("PolicyStatus")
        return Self.xmlResponse(xml)
    }

    // MARK: The access decision

    /// Refuses the request unless `caller` may carry out `operation` on its target.
    func authorize(_ caller: Caller, _ operation: S3Operation, _ s3: S3Request, _ request: Request) async throws {
        var context = Self.connectionContext(caller.connection)
        if let prefix = s3.queryValue("prefix"), [.listObjects, .listObjectsV2].contains(operation) { context["s3:prefix"] = prefix }
        if let encryption = request.headers[named: "x-amz-server-side-encryption"] { context["s3:x-amz-server-side-encryption"] = encryption }
        if case .denied(let error) = try await access(caller, operation, bucket: s3.bucket, key: s3.key, context: context, record: s3.bucketRecord,
                                                      namingVersion: s3.queryValue("versionId") != nil) {
            throw error
        }
    }

    enum Access { case granted, denied(S3Error) }

    /// Whether `caller` may carry out `operation` on `bucket` (and `key`). DeleteObjects in a
    /// bucket with a policy is decided key by key (`mayDelete`), as at AWS.
    /// - Parameters:
    ///   - record: the bucket's record when the caller has read it already.
    ///   - namingVersion: the request names a version (`s3:GetObjectVersion`, `s3:DeleteObjectVersion`…).
    func access(_ caller: Caller, _ operation: S3Operation, bucket: String?, key: String?, context: [String: String],
                record: BucketRecord? = nil, namingVersion: Bool = false) async throws -> Access {
        var record = record
        if record == nil, let bucket, ![.createBucket, .listBuckets].contains(operation) { record = try await engine.catalog.bucket(bucket) }
        let scope = caller.isAnonymous ? S3Error(.accessDenied, "Anonymous requests are allowed only by a bucket policy.")
            : Self.scopeRefusal(caller.key, operation, bucket, record: record)
        guard let bucket, ![.createBucket, .listBuckets].contains(operation), let text = record?.policy else {
            return scope.map { .denied($0) } ?? .granted
        }
        if operation == .deleteObjects { return .granted }
        // Like AWS's account root user, a key whose scope covers the bucket keeps its policy in hand.
        if scope == nil && S3Operation.policyManagement.contains(operation) { return .granted }
        let policy = try Self.storedPolicy(text, bucket: bucket)
        if caller.isAnonymous && !options.allowPublicBuckets { return .denied(scope!) }
        var context = context
        if let key, policy.readsObjectTags {
            // A missing object has no tags; any other failure refuses (a Deny on a tag must not be skipped).
            do {
                let record = try await engine.head(bucket: bucket, key: key)
                for tag in TagSet.of(record.metadata).tags { context[BucketPolicy.existingObjectTag + tag.key] = tag.value }
            } catch let error as NuageError where error.code == .noSuchKey {}
        }
        let request = BucketPolicy.Request(accessKey: caller.isAnonymous ? nil : caller.key.id,
                                           owner: caller.isAnonymous ? nil : caller.key.owner, action: "s3:" + operation.iamAction(naming: namingVersion),
                                           resource: "arn:aws:s3:::\(bucket)" + (key.map { "/\($0)" } ?? ""), context: context)
        switch policy.evaluate(request) {
        case .denied: return .denied(S3Error(.accessDenied, "Access Denied by the bucket's policy."))
        case .allowed: return .granted
        case .notApplicable: return scope.map { .denied($0) } ?? .granted
        }
    }

    /// Whether `caller` may delete `key` of `bucket`, or a version of it (DeleteObjects asks key by key).
    func mayDelete(_ caller: Caller, bucket: String, key: String, namingVersion: Bool = false) async throws -> S3Error? {
        if case .denied(let error) = try await access(caller, .deleteObject, bucket: bucket, key: key, context: Self.connectionContext(caller.connection),
                                                      namingVersion: namingVersion) {
            return error
        }
        return nil
    }

    static func connectionContext(_ connection: Connection) -> [String: String] {
        var context = ["aws:securetransport": connection.secure ? "true" : "false"]
        if let address = connection.address { context["aws:sourceip"] = address }
        return context
    }

    /// A policy stored by PutBucketPolicy (checked then), parsed once per gateway and text.
    static func storedPolicy(_ text: String, bucket: String) throws -> BucketPolicy {
        let key = bucket + "\n" + text
        if let cached = parsedPolicies.withLock({ $0[key] }) { return cached }
        let policy: BucketPolicy
        do { policy = try BucketPolicy(json: text, bucket: bucket) } catch {
            throw S3Error(.internalError, "The bucket's stored policy cannot be read.")
        }
        parsedPolicies.withLock { cache in
            if cache.count >= 1024 { cache.removeAll() }  // bounded: a changed policy is a new key
            cache[key] = policy
        }
        return policy
    }

    private static let parsedPolicies = Locked<[String: BucketPolicy]>([:])
}
