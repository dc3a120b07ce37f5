import Crypto
import Foundation
import Hummingbird
import HTTPTypes
import NuageCatalog
import NuageSigV4

extension S3Server {
    /// Who sent a request, and what its body's signature chain starts from.
    struct Caller: Sendable {
        let key: AccessKeyRecord
        let signing: SigV4SigningContext
        /// `x-amz-content-sha256` (header auth) or `UNSIGNED-PAYLOAD` (presigned).
        let payloadHash: String
        /// An unsigned request, let in only by a bucket policy's Allow to `*` (with
        /// `[server] allow-public-buckets`). Its key is a placeholder whose scope covers nothing.
        var isAnonymous = false
        /// Where the request came from (set once authenticated).
        var connection = Connection(address: nil, secure: false)
        /// The request's bucket as read with the key, in the same catalog read (`.some(nil)`:
        /// no such bucket); nil when it was not read.
        var bucketRead: BucketRecord?? = nil

        static let anonymous = Caller(key: AccessKeyRecord(id: "anonymous", name: "anonymous", sealedSecret: [], readOnly: true,
                                                           buckets: ["-"], created: Date(timeIntervalSince1970: 0)),
                                      signing: .unsigned, payloadHash: "UNSIGNED-PAYLOAD", isAnonymous: true)
    }

    /// Verifies the SigV4 signature (header or presigned URL) against the access key's secret.
    func authenticate(_ request: Request, _ s3: S3Request) async throws -> Caller {
        let headers = request.headers
        let authorization: SigV4Authorization
        let payloadHash: String
        var query = s3.query
        do {
            if let header = headers[named: "authorization"] {
                authorization = try SigV4Authorization.parse(header: header, timestamp: headers[named: "x-amz-date"])
                guard let hash = headers[named: "x-amz-content-sha256"] else {
                    throw S3Error(.invalidRequest, "Missing required header for this request: x-amz-content-sha256")
                }
                payloadHash = hash
            } else if s3.has("AWSAccessKeyId") && s3.has("Signature") && s3.has("Expires") {
                return try await authenticateV2Presigned(request, s3)
            } else if s3.has("X-Amz-Algorithm") {
                authorization = try SigV4Authorization.parse(query: s3.query)
                query.removeAll { $0.name == "X-Amz-Signature" }
                payloadHash = headers[named: "x-amz-content-sha256"] ?? "UNSIGNED-PAYLOAD"
            } else if options.allowPublicBuckets && s3.bucket != nil && s3.bucket != Self.adminBucket {
                return .anonymous
            } else {
                throw S3Error(.accessDenied, "Anonymous requests are not allowed; sign requests with an access key.")
            }
        } catch let error as SigV4Error {
            throw Self.s3Error(error, presigned: headers[named: "authorization"] == nil)
        }
        try checkScope(authorization.scope, presigned: authorization.expires != nil)
        let (found, bucket) = try await engine.catalog.accessKey(id: authorization.accessKey, bucket: s3.bucket)
        guard let key = found else { throw S3Error(.invalidAccessKeyId) }
        let secret = try engine.openSecret(key.sealedSecret, accessKey: key.id)
        var fields: [(name: String, value: String)] = [("host", s3.host)]
        for field in headers { fields.append((field.name.canonicalName, field.value)) }
        let input = SigV4.CanonicalInput(method: s3.method, path: s3.path, query: query, headers: fields,
                                         signedHeaders: authorization.signedHeaders, payloadHash: payloadHash)
        let signing: SigV4SigningContext
        do {
            signing = try authorization.verify(input, secret: secret, now: options.now())
        } catch {
            throw Self.s3Error(error, presigned: authorization.expires != nil)
        }
        try Self.checkAllSigned(headers, signedHeaders: authorization.signedHeaders)
        return Caller(key: key, signing: signing, payloadHash: payloadHash, bucketRead: s3.bucket == nil ? nil : .some(bucket))
    }

    /// A signature is accepted for this server only: service `s3`, the server's region.
    func checkScope(_ scope: SigV4.Scope, presigned: Bool) throws {
        let code: S3Error.Code = presigned ? .authorizationQueryParametersError : .authorizationHeaderMalformed
        let lead = presigned ? "Error parsing the X-Amz-Credential parameter" : "The authorization header is malformed"
        guard scope.service == "s3" else {
            throw S3Error(code, "\(lead); incorrect service \"\(scope.service.prefix(40))\". This endpoint belongs to \"s3\".")
        }
        guard scope.region == options.region else {
            throw S3Error(code, "\(lead); the region '\(scope.region.prefix(40))' is wrong; expecting '\(options.region)'",
                          details: [("Region", options.region)])
        }
    }

    /// Every `x-amz-*` header must be signed, or an unsigned one could change what a signed
    /// request does (a presigned PUT turned into a copy by `x-amz-copy-source`, metadata added).
    /// `x-amz-content-sha256` is covered anyway: its value is the canonical request's payload hash.
    static func checkAllSigned(_ headers: HTTPFields, signedHeaders: [String]) throws {
        let signed = Set(signedHeaders)
        var unsigned: [String] = []
        for field in headers {
            let name = field.name.canonicalName
            if name.hasPrefix("x-amz-") && name != "x-amz-content-sha256" && !signed.contains(name) && !unsigned.contains(name) {
                unsigned.append(name)
            }
        }
        guard unsigned.isEmpty else {
            throw S3Error(.accessDenied, "There were headers present in the request which were not signed",
                          details: [("HeadersNotSigned", unsigned.joined(separator: ", "))])
        }
    }

    /// Presigned URLs of signature version 2, which awscli 1 (`aws s3 presign`) and boto3 still
    /// make by default: `Base64(HMAC-SHA1(secret, VERB \n Content-MD5 \n Content-Type \n
    /// Expires \n x-amz-headers resource))`.
    func authenticateV2Presigned(_ request: Request, _ s3: S3Request) async throws -> Caller {
        guard let id = s3.queryValue("AWSAccessKeyId"), let signature = s3.queryValue("Signature"),
              let expiresText = s3.queryValue("Expires"), let expires = Double(expiresText) else {
            throw S3Error(.authorizationQueryParametersError, "Malformed signature version 2 query.")
        }
        let now = options.now()
        guard now.timeIntervalSince1970 <= expires else { throw S3Error(.accessDenied, "Request has expired") }
        guard expires - now.timeIntervalSince1970 <= Double(SigV4Authorization.maximumExpiry) else {
            throw S3Error(.authorizationQueryParametersError, "Presigned URLs may last at most seven days.")
        }
        guard let key = try await engine.catalog.accessKey(id: id) else { throw S3Error(.invalidAccessKeyId) }
        let secret = try engine.openSecret(key.sealedSecret, accessKey: key.id)
        // Sub-resources and response overrides are signed, so none can be added to a URL.
        let signed = s3.query.filter { Self.signatureV2Subresources.contains($0.name) }.sorted { $0.name < $1.name }
            .map { $0.value.isEmpty ? $0.name : "\($0.name)=\($0.value)" }
        let subresources = signed.isEmpty ? "" : "?" + signed.joined(separator: "&")
        // botocore signs a bucket as `/bucket/` and sends `/bucket`: both name the same resource.
        var paths = [s3.rawPath]
        if s3.key == nil, s3.bucket != nil, !s3.rawPath.hasSuffix("/") { paths.append(s3.rawPath + "/") }
        let headers = request.headers
        let amz = headers.map { ($0.name.canonicalName, $0.value) }.filter { $0.0.hasPrefix("x-amz-") }
            .sorted { $0.0 < $1.0 }.map { "\($0.0):\($0.1)\n" }.joined()
        let matches = paths.map { path in
            let text = "\(s3.method)\n\(headers[named: "content-md5"] ?? "")\n\(headers[named: "content-type"] ?? "")\n\(expiresText)\n\(amz)\(path)\(subresources)"
            let expected = Data(HMAC<Insecure.SHA1>.authenticationCode(for: Array(text.utf8), using: SymmetricKey(data: Array(secret.utf8))))
                .base64EncodedString()
            return Self.constantTimeEqual(expected, signature)
        }
        guard matches.contains(true) else { throw S3Error(.signatureDoesNotMatch) }
        let context = SigV4SigningContext.unsigned
        return Caller(key: key, signing: context, payloadHash: "UNSIGNED-PAYLOAD")
    }

    /// The query parameters signature version 2 signs (botocore's `QSAOfInterest`, which AWS
    /// checks against). Every parameter that selects an operation here is among them.
    static let signatureV2Subresources: Set<String> = [
        "accelerate", "acl", "cors", "defaultObjectAcl", "location", "logging", "partNumber", "policy", "requestPayment",
        "torrent", "versioning", "versionId", "versions", "website", "uploads", "uploadId", "response-content-type",
        "response-content-language", "response-expires", "response-cache-control", "response-content-disposition",
        "response-content-encoding", "delete", "lifecycle", "tagging", "restore", "storageClass", "notification",
        "replication", "analytics", "metrics", "inventory", "select", "select-type", "object-lock",
    ]

    static func s3Error(_ error: SigV4Error, presigned: Bool) -> S3Error {
        switch error {
        case .malformed(let why): S3Error(presigned ? .authorizationQueryParametersError : .authorizationHeaderMalformed, why)
        case .signatureMismatch, .payloadMismatch: S3Error(.signatureDoesNotMatch)
        case .expired: S3Error(.accessDenied, "Request has expired")
        case .skewed: S3Error(.requestTimeTooSkewed)
        }
    }

    /// What a key's scope refuses: its owner's buckets only, and it may be limited to reads and to
    /// some of them.
    /// - Parameter record: the bucket's record: another owner's bucket is outside every key's scope.
    static func scopeRefusal(_ key: AccessKeyRecord, _ operation: S3Operation, _ bucket: String?, record: BucketRecord?) -> S3Error? {
        if let record, record.owner != key.owner {
            return S3Error(.accessDenied, "Bucket \(record.name) belongs to another owner.")
        }
        if key.readOnly && !operation.isRead {
            return S3Error(.accessDenied, "This access key is read-only.")
        }
        if !key.buckets.isEmpty, let bucket, !key.buckets.contains(bucket) {
            return S3Error(.accessDenied, "This access key may not use bucket \(bucket).")
        }
        if !key.buckets.isEmpty, bucket == nil, operation != .listBuckets {
            return S3Error(.accessDenied)
        }
        return nil
    }
}
