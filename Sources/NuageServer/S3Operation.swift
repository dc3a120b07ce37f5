/// The S3 operations the gateway carries out, named as AWS names them.
///
/// A request is routed to one of them from its method, its target (service, bucket or object)
/// and its query; `S3Compatibility` then decides, before anything is read or changed, whether
/// every header and query parameter it carries is honored, accepted as a no-op, or refused.
enum S3Operation: String, CaseIterable, Sendable {
    case listBuckets = "ListBuckets"
    case createBucket = "CreateBucket"
    case deleteBucket = "DeleteBucket"
    case headBucket = "HeadBucket"
    case getBucketLocation = "GetBucketLocation"
    case getBucketVersioning = "GetBucketVersioning"
    case putBucketVersioning = "PutBucketVersioning"
    case listObjectVersions = "ListObjectVersions"
    case getObjectLockConfiguration = "GetObjectLockConfiguration"
    case putObjectLockConfiguration = "PutObjectLockConfiguration"
    case getObjectRetention = "GetObjectRetention"
    case putObjectRetention = "PutObjectRetention"
    case getObjectLegalHold = "GetObjectLegalHold"
    case putObjectLegalHold = "PutObjectLegalHold"
    case getBucketPolicy = "GetBucketPolicy"
    case putBucketPolicy = "PutBucketPolicy"
    case deleteBucketPolicy = "DeleteBucketPolicy"
    case getBucketPolicyStatus = "GetBucketPolicyStatus"
    case getBucketLifecycleConfiguration = "GetBucketLifecycleConfiguration"
    case putBucketLifecycleConfiguration = "PutBucketLifecycleConfiguration"
    case deleteBucketLifecycle = "DeleteBucketLifecycle"
    case getBucketCors = "GetBucketCors"
    case putBucketCors = "PutBucketCors"
    case deleteBucketCors = "DeleteBucketCors"
    case getBucketEncryption = "GetBucketEncryption"
    case putBucketEncryption = "PutBucketEncryption"
    case deleteBucketEncryption = "DeleteBucketEncryption"
    case listObjects = "ListObjects"
    case listObjectsV2 = "ListObjectsV2"
    case listMultipartUploads = "ListMultipartUploads"
    case deleteObjects = "DeleteObjects"
    case putObject = "PutObject"
    case copyObject = "CopyObject"
    case getObject = "GetObject"
    case headObject = "HeadObject"
    case deleteObject = "DeleteObject"
    case createMultipartUpload = "CreateMultipartUpload"
    case uploadPart = "UploadPart"
    case uploadPartCopy = "UploadPartCopy"
    case completeMultipartUpload = "CompleteMultipartUpload"
    case abortMultipartUpload = "AbortMultipartUpload"
    case listParts = "ListParts"
    case getBucketAcl = "GetBucketAcl"
    case putBucketAcl = "PutBucketAcl"
    case getObjectAcl = "GetObjectAcl"
    case putObjectAcl = "PutObjectAcl"
    case getBucketOwnershipControls = "GetBucketOwnershipControls"
    case putBucketOwnershipControls = "PutBucketOwnershipControls"
    case getBucketTagging = "GetBucketTagging"
    case putBucketTagging = "PutBucketTagging"
    case deleteBucketTagging = "DeleteBucketTagging"
    case getObjectAttributes = "GetObjectAttributes"
    case getObjectTagging = "GetObjectTagging"
    case putObjectTagging = "PutObjectTagging"
    case deleteObjectTagging = "DeleteObjectTagging"

    /// Operations that write an object's content and metadata.
    static let objectWrites: Set<S3Operation> = [.putObject, .copyObject, .createMultipartUpload]
    /// Operations whose request body is a configuration document (XML, or JSON for a policy).
    static let configurationWrites: Set<S3Operation> = [.putBucketEncryption, .putObjectTagging, .putBucketTagging, .putBucketAcl,
                                                        .putObjectAcl, .putBucketOwnershipControls, .putBucketCors, .putBucketPolicy,
                                                        .putBucketLifecycleConfiguration, .putBucketVersioning,
                                                        .putObjectLockConfiguration, .putObjectRetention, .putObjectLegalHold]
    /// Operations whose request body is object content.
    static let contentUploads: Set<S3Operation> = [.putObject, .uploadPart]
    /// Operations that read an object.
    static let objectReads: Set<S3Operation> = [.getObject, .headObject]
    static let copies: Set<S3Operation> = [.copyObject, .uploadPartCopy]

    /// Query parameters each operation reads (besides authentication parameters and SDK hints).
    var parameters: Set<String> {
        switch self {
        case .listBuckets: ["max-buckets", "continuation-token", "prefix", "bucket-region"]
        case .listObjects: ["prefix", "delimiter", "max-keys", "marker", "encoding-type"]
        case .listObjectsV2: ["list-type", "prefix", "delimiter", "max-keys", "encoding-type", "continuation-token",
                              "start-after", "fetch-owner"]
        case .listMultipartUploads: ["uploads", "prefix", "delimiter", "max-uploads", "key-marker", "upload-id-marker",
                                     "encoding-type"]
        case .getObject, .headObject: ["partNumber", "versionId", "response-content-type", "response-content-language",
                                       "response-expires", "response-cache-control", "response-content-disposition",
                                       "response-content-encoding"]
        case .getBucketLocation: ["location"]
        case .getBucketVersioning, .putBucketVersioning: ["versioning"]
        case .listObjectVersions: ["versions", "prefix", "delimiter", "max-keys", "key-marker", "version-id-marker", "encoding-type"]
        case .getObjectLockConfiguration, .putObjectLockConfiguration: ["object-lock"]
        case .getObjectRetention, .putObjectRetention: ["retention", "versionId"]
        case .getObjectLegalHold, .putObjectLegalHold: ["legal-hold", "versionId"]
        case .getBucketEncryption, .putBucketEncryption, .deleteBucketEncryption: ["encryption"]
        case .getBucketCors, .putBucketCors, .deleteBucketCors: ["cors"]
        case .getBucketLifecycleConfiguration, .putBucketLifecycleConfiguration, .deleteBucketLifecycle: ["lifecycle"]
        case .getBucketPolicy, .putBucketPolicy, .deleteBucketPolicy: ["policy"]
        case .getBucketPolicyStatus: ["policyStatus"]
        case .deleteObjects: ["delete"]
        case .createMultipartUpload: ["uploads"]
        case .uploadPart, .uploadPartCopy: ["partNumber", "uploadId"]
        case .completeMultipartUpload, .abortMultipartUpload: ["uploadId"]
        case .listParts: ["uploadId", "max-parts", "part-number-marker"]
        case .deleteObject: ["versionId"]
        case .getObjectTagging, .putObjectTagging, .deleteObjectTagging: ["tagging", "versionId"]
        case .getObjectAttributes: ["attributes", "versionId"]
        case .getBucketTagging, .putBucketTagging, .deleteBucketTagging: ["tagging"]
        case .getBucketAcl, .putBucketAcl: ["acl"]
        case .getObjectAcl, .putObjectAcl: ["acl", "versionId"]
        case .getBucketOwnershipControls, .putBucketOwnershipControls: ["ownershipControls"]
        default: []
        }
    }

    /// The operation a request asks for.
    /// - Throws: `MethodNotAllowed`, or the refusal `S3Compatibility` gives for a sub-resource, or
    ///   `NotImplemented` naming a parameter the operation does not take.
    static func route(_ s3: S3Request, hasCopySource: Bool) throws -> S3Operation {
        let operation = try candidate(s3, hasCopySource: hasCopySource)
        try S3Compatibility.checkParameters(s3, operation)
        let extra = s3.query.map(\.name).filter { !operation.parameters.contains($0) && !S3Compatibility.isAuthenticationParameter($0) }
        guard extra.isEmpty else {
            throw S3Error(.notImplemented, "\(operation.rawValue) with ?\(extra.joined(separator: "&")) is not implemented.")
        }
        return operation
    }

    private static func candidate(_ s3: S3Request, hasCopySource: Bool) throws -> S3Operation {
        let method = s3.method
        func unsupported() -> S3Error { S3Error(.notImplemented, "\(method) on this resource is not implemented.") }
        guard s3.bucket != nil else {
            guard method == "GET" else { throw S3Error(.methodNotAllowed) }
            return .listBuckets
        }
        guard s3.key != nil else {
            switch method {
            case "PUT" where s3.has("acl"): return .putBucketAcl
            case "PUT" where s3.has("ownershipControls"): return .putBucketOwnershipControls
            case "PUT" where s3.has("tagging"): return .putBucketTagging
            case "PUT" where s3.has("encryption"): return .putBucketEncryption
            case "PUT" where s3.has("cors"): return .putBucketCors
            case "PUT" where s3.has("lifecycle"): return .putBucketLifecycleConfiguration
            case "PUT" where s3.has("policy"): return .putBucketPolicy
            case "PUT" where s3.has("versioning"): return .putBucketVersioning
            case "PUT" where s3.has("object-lock"): return .putObjectLockConfiguration
            case "PUT": return .createBucket
            case "DELETE" where s3.has("tagging"): return .deleteBucketTagging
            case "DELETE" where s3.has("encryption"): return .deleteBucketEncryption
            case "DELETE" where s3.has("cors"): return .deleteBucketCors
            case "DELETE" where s3.has("lifecycle"): return .deleteBucketLifecycle
            case "DELETE" where s3.has("policy"): return .deleteBucketPolicy
            case "DELETE": return .deleteBucket
            case "HEAD": return .headBucket
            case "GET" where s3.has("location"): return .getBucketLocation
            case "GET" where s3.has("versioning"): return .getBucketVersioning
            case "GET" where s3.has("versions"): return .listObjectVersions
            case "GET" where s3.has("object-lock"): return .getObjectLockConfiguration
            case "GET" where s3.has("encryption"): return .getBucketEncryption
            case "GET" where s3.has("cors"): return .getBucketCors
            case "GET" where s3.has("lifecycle"): return .getBucketLifecycleConfiguration
            case "GET" where s3.has("policy"): return .getBucketPolicy
            case "GET" where s3.has("policyStatus"): return .getBucketPolicyStatus
            case "GET" where s3.has("tagging"): return .getBucketTagging
            case "GET" where s3.has("acl"): return .getBucketAcl
            case "GET" where s3.has("ownershipControls"): return .getBucketOwnershipControls
            case "GET" where s3.has("uploads"): return .listMultipartUploads
            case "GET" where s3.has("list-type"):
                guard s3.queryValue("list-type") == "2" else { throw S3Error(.invalidArgument, "list-type must be 2.") }
                return .listObjectsV2
            case "GET": return .listObjects
            case "POST" where s3.has("delete"): return .deleteObjects
            default: throw unsupported()
            }
        }
        let tagging = s3.has("tagging") && !s3.has("uploadId") && !s3.has("partNumber") && !s3.has("uploads")
        let acl = s3.has("acl") && !s3.has("uploadId") && !s3.has("partNumber") && !s3.has("uploads")
        switch method {
        case "GET" where acl: return .getObjectAcl
        case "GET" where s3.has("attributes"): return .getObjectAttributes
        case "GET" where s3.has("retention"): return .getObjectRetention
        case "PUT" where s3.has("retention"): return .putObjectRetention
        case "GET" where s3.has("legal-hold"): return .getObjectLegalHold
        case "PUT" where s3.has("legal-hold"): return .putObjectLegalHold
        case "PUT" where acl: return .putObjectAcl
        case "GET" where tagging: return .getObjectTagging
        case "PUT" where tagging: return .putObjectTagging
        case "DELETE" where tagging: return .deleteObjectTagging
        case "POST" where s3.has("uploads"): return .createMultipartUpload
        case "POST" where s3.has("uploadId"): return .completeMultipartUpload
        case "PUT" where s3.has("partNumber") || s3.has("uploadId"): return hasCopySource ? .uploadPartCopy : .uploadPart
        case "GET" where s3.has("uploadId"): return .listParts
        case "DELETE" where s3.has("uploadId"): return .abortMultipartUpload
        case "PUT": return hasCopySource ? .copyObject : .putObject
        case "GET": return .getObject
        case "HEAD": return .headObject
        case "DELETE": return .deleteObject
        default: throw unsupported()
        }
    }
}
