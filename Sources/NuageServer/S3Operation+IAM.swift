/// The IAM action each operation is authorized as (`s3:NAME` in bucket policies), as AWS names
/// them, and whether it acts on an object (resource `arn:aws:s3:::BUCKET/KEY`) or on the bucket.
extension S3Operation {
    var iamAction: String {
        switch self {
        case .listBuckets: "ListAllMyBuckets"
        case .createBucket: "CreateBucket"
        case .deleteBucket: "DeleteBucket"
        case .headBucket, .listObjects, .listObjectsV2: "ListBucket"
        case .getBucketLocation: "GetBucketLocation"
        case .getBucketVersioning: "GetBucketVersioning"
        case .putBucketVersioning: "PutBucketVersioning"
        case .listObjectVersions: "ListBucketVersions"
        case .getObjectLockConfiguration: "GetBucketObjectLockConfiguration"
        case .putObjectLockConfiguration: "PutBucketObjectLockConfiguration"
        case .getObjectRetention: "GetObjectRetention"
        case .putObjectRetention: "PutObjectRetention"
        case .getObjectLegalHold: "GetObjectLegalHold"
        case .putObjectLegalHold: "PutObjectLegalHold"
        case .getBucketEncryption: "GetEncryptionConfiguration"
        case .putBucketEncryption, .deleteBucketEncryption: "PutEncryptionConfiguration"
        case .getBucketPolicy: "GetBucketPolicy"
        case .putBucketPolicy: "PutBucketPolicy"
        case .deleteBucketPolicy: "DeleteBucketPolicy"
        case .getBucketPolicyStatus: "GetBucketPolicyStatus"
        case .getBucketLifecycleConfiguration: "GetLifecycleConfiguration"
        case .putBucketLifecycleConfiguration, .deleteBucketLifecycle: "PutLifecycleConfiguration"
        case .getBucketCors: "GetBucketCORS"
        case .putBucketCors, .deleteBucketCors: "PutBucketCORS"
        case .listMultipartUploads: "ListBucketMultipartUploads"
        case .deleteObjects, .deleteObject: "DeleteObject"
        case .putObject, .copyObject, .createMultipartUpload, .uploadPart, .uploadPartCopy, .completeMultipartUpload: "PutObject"
        case .getObject, .headObject: "GetObject"
        case .abortMultipartUpload: "AbortMultipartUpload"
        case .listParts: "ListMultipartUploadParts"
        case .getBucketAcl: "GetBucketAcl"
        case .putBucketAcl: "PutBucketAcl"
        case .getObjectAcl: "GetObjectAcl"
        case .putObjectAcl: "PutObjectAcl"
        case .getBucketOwnershipControls: "GetBucketOwnershipControls"
        case .putBucketOwnershipControls: "PutBucketOwnershipControls"
        case .getBucketTagging: "GetBucketTagging"
        case .putBucketTagging, .deleteBucketTagging: "PutBucketTagging"
        case .getObjectAttributes: "GetObjectAttributes"
        case .getObjectTagging: "GetObjectTagging"
        case .putObjectTagging: "PutObjectTagging"
        case .deleteObjectTagging: "DeleteObjectTagging"
        }
    }

    /// The action of a request that names a version (`versionId`), as AWS authorizes it:
    /// `s3:GetObjectVersion`, `s3:DeleteObjectVersion`, `s3:PutObjectVersionTagging`…
    func iamAction(naming version: Bool) -> String {
        guard version, let versioned = Self.versionActions[self] else { return iamAction }
        return versioned
    }

    private static let versionActions: [S3Operation: String] = [
        .getObject: "GetObjectVersion", .headObject: "GetObjectVersion", .deleteObject: "DeleteObjectVersion",
        .getObjectTagging: "GetObjectVersionTagging", .putObjectTagging: "PutObjectVersionTagging",
        .deleteObjectTagging: "DeleteObjectVersionTagging", .getObjectAttributes: "GetObjectVersionAttributes",
        .getObjectAcl: "GetObjectVersionAcl", .putObjectAcl: "PutObjectVersionAcl",
    ]

    /// Whether the operation only reads (what a read-only key may do).
    var isRead: Bool { iamAction.hasPrefix("Get") || iamAction.hasPrefix("List") }

    /// Every action a policy may name, `s3:`-prefixed.
    static let iamActions: Set<String> = Set(allCases.map { "s3:" + $0.iamAction })
        .union(versionActions.values.map { "s3:" + $0 }).union([bypassGovernance])

    /// What a request with `x-amz-bypass-governance-retention: true` is also authorized as.
    static let bypassGovernance = "s3:BypassGovernanceRetention"

    /// The bucket's policy can never take these from a key whose scope covers the bucket, as
    /// AWS's account root user keeps them: no policy can lock its bucket for good.
    static let policyManagement: Set<S3Operation> = [.getBucketPolicy, .putBucketPolicy, .deleteBucketPolicy]
}
