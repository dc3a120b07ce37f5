import NuageCore

/// An S3 error response: a code from the table, the status it maps to, and a message.
/// The one table of codes lives here (MinIO's `api-errors.go` is the model).
public struct S3Error: Error, Sendable, CustomStringConvertible {
    public let code: String
    public let status: Int
    public let message: String
    /// The bucket or key the error is about, if any.
    public var resource: String?
    /// Further elements of the error document, as AWS adds them (`Region`, `HeadersNotSigned`).
    public var details: [(name: String, value: String)] = []
    /// Response headers the error carries (`x-amz-delete-marker` on a deleted key).
    public var headers: [(name: String, value: String)] = []

    public init(_ code: Code, _ message: String? = nil, resource: String? = nil, details: [(name: String, value: String)] = []) {
        self.code = code.rawValue
        self.status = code.status
        self.message = message ?? code.defaultMessage
        self.resource = resource
        self.details = details
    }

    public var description: String { "\(code): \(message)" }

    /// Every S3 error code Nuage answers with.
    public enum Code: String, Sendable, CaseIterable {
        case accessControlListNotSupported = "AccessControlListNotSupported"
        case accessDenied = "AccessDenied"
        case accessForbidden = "AccessForbidden"
        case authorizationHeaderMalformed = "AuthorizationHeaderMalformed"
        case authorizationQueryParametersError = "AuthorizationQueryParametersError"
        case badDigest = "BadDigest"
        case badRequest = "BadRequest"
        case bucketAlreadyExists = "BucketAlreadyExists"
        case bucketAlreadyOwnedByYou = "BucketAlreadyOwnedByYou"
        case bucketNotEmpty = "BucketNotEmpty"
        case entityTooLarge = "EntityTooLarge"
        case entityTooSmall = "EntityTooSmall"
        case illegalLocationConstraint = "IllegalLocationConstraintException"
        case incompleteBody = "IncompleteBody"
        case internalError = "InternalError"
        case invalidAccessKeyId = "InvalidAccessKeyId"
        case invalidArgument = "InvalidArgument"
        case invalidBucketAclWithObjectOwnership = "InvalidBucketAclWithObjectOwnership"
        case invalidBucketName = "InvalidBucketName"
        case invalidDigest = "InvalidDigest"
        case invalidEncryptionAlgorithm = "InvalidEncryptionAlgorithmError"
        case invalidPart = "InvalidPart"
        case invalidPolicyDocument = "InvalidPolicyDocument"
        case invalidPartNumber = "InvalidPartNumber"
        case invalidPartOrder = "InvalidPartOrder"
        case invalidRange = "InvalidRange"
        case invalidRequest = "InvalidRequest"
        case invalidStorageClass = "InvalidStorageClass"
        case invalidTag = "InvalidTag"
        case keyTooLong = "KeyTooLongError"
        case kmsDisabled = "KMS.DisabledException"
        case kmsInvalidState = "KMS.KMSInvalidStateException"
        case kmsNotFound = "KMS.NotFoundException"
        case malformedPOSTRequest = "MalformedPOSTRequest"
        case malformedPolicy = "MalformedPolicy"
        case malformedXML = "MalformedXML"
        case metadataTooLarge = "MetadataTooLarge"
        case methodNotAllowed = "MethodNotAllowed"
        case missingContentLength = "MissingContentLength"
        case missingSecurityHeader = "MissingSecurityHeader"
        case noSuchBucket = "NoSuchBucket"
        case noSuchBucketPolicy = "NoSuchBucketPolicy"
        case noSuchCORSConfiguration = "NoSuchCORSConfiguration"
        case noSuchLifecycleConfiguration = "NoSuchLifecycleConfiguration"
        case noSuchKey = "NoSuchKey"
        case noSuchUpload = "NoSuchUpload"
        case noSuchVersion = "NoSuchVersion"
        case invalidBucketState = "InvalidBucketState"
        case noSuchObjectLockConfiguration = "ObjectLockConfigurationNotFoundError"
        case noSuchObjectLockRetention = "NoSuchObjectLockConfiguration"
        case noSuchTagSet = "NoSuchTagSet"
        case notImplemented = "NotImplemented"
        case preconditionFailed = "PreconditionFailed"
        case requestTimeout = "RequestTimeout"
        case requestTimeTooSkewed = "RequestTimeTooSkewed"
        case serviceUnavailable = "ServiceUnavailable"
        case signatureDoesNotMatch = "SignatureDoesNotMatch"
        case slowDown = "SlowDown"
        case xAmzContentSHA256Mismatch = "XAmzContentSHA256Mismatch"

        public var status: Int {
            switch self {
            case .accessDenied, .accessForbidden, .invalidAccessKeyId, .requestTimeTooSkewed, .signatureDoesNotMatch: 403
            case .bucketAlreadyExists, .bucketAlreadyOwnedByYou, .bucketNotEmpty, .invalidBucketState: 409
            case .noSuchBucket, .noSuchKey, .noSuchUpload, .noSuchVersion, .noSuchObjectLockConfiguration, .noSuchObjectLockRetention, .noSuchTagSet, .noSuchBucketPolicy, .noSuchCORSConfiguration,
                 .noSuchLifecycleConfiguration: 404
            case .internalError: 500
            case .notImplemented: 501
            case .methodNotAllowed: 405
            case .missingContentLength: 411
            case .preconditionFailed: 412
            case .invalidRange, .invalidPartNumber: 416
            case .serviceUnavailable, .slowDown: 503
            default: 400
            }
        }

        public var defaultMessage: String {
            switch self {
            case .accessControlListNotSupported: "The bucket does not allow ACLs"
            case .accessDenied: "Access Denied"
            case .accessForbidden: "CORSResponse: This CORS request is not allowed."
            case .authorizationHeaderMalformed: "The authorization header is malformed."
            case .authorizationQueryParametersError: "Error parsing the X-Amz-Credential parameter."
            case .badRequest: "Bad Request"
            case .badDigest: "The Content-MD5 or checksum you specified did not match what we received."
            case .bucketAlreadyExists: "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
            case .bucketAlreadyOwnedByYou: "Your previous request to create the named bucket succeeded and you already own it."
            case .bucketNotEmpty: "The bucket you tried to delete is not empty."
            case .entityTooLarge: "Your proposed upload exceeds the maximum allowed object size."
            case .entityTooSmall: "Your proposed upload is smaller than the minimum allowed object size."
            case .illegalLocationConstraint: "The location constraint is incompatible with the region of this endpoint."
            case .incompleteBody: "You did not provide the number of bytes specified by the Content-Length HTTP header."
            case .internalError: "We encountered an internal error. Please try again."
            case .invalidAccessKeyId: "The AWS Access Key Id you provided does not exist in our records."
            case .invalidArgument: "Invalid Argument"
            case .invalidBucketAclWithObjectOwnership: "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"
            case .invalidBucketName: "The specified bucket is not valid."
            case .invalidDigest: "The Content-MD5 you specified is not valid."
            case .invalidEncryptionAlgorithm: "The encryption request you specified is not valid. The valid value is AES256."
            case .invalidPolicyDocument: "The content of the form does not meet the conditions specified in the policy document."
            case .invalidPart: "One or more of the specified parts could not be found."
            case .invalidPartNumber: "The requested partnumber is not satisfiable"
            case .invalidPartOrder: "The list of parts was not in ascending order."
            case .invalidRange: "The requested range is not satisfiable"
            case .invalidRequest: "Invalid Request"
            case .invalidStorageClass: "The storage class you specified is not valid"
            case .invalidTag: "The tag provided was not a valid tag."
            case .keyTooLong: "Your key is too long"
            case .kmsDisabled: "The KMS key is disabled."
            case .kmsInvalidState: "The KMS key is not in a state that allows this request."
            case .kmsNotFound: "Invalid keyId"
            case .malformedPOSTRequest: "The body of your POST request is not well-formed multipart/form-data."
            case .malformedPolicy: "Policies must be valid JSON and the first byte must be '{'"
            case .malformedXML: "The XML you provided was not well-formed or did not validate against our published schema."
            case .metadataTooLarge: "Your metadata headers exceed the maximum allowed metadata size."
            case .methodNotAllowed: "The specified method is not allowed against this resource."
            case .missingContentLength: "You must provide the Content-Length HTTP header."
            case .missingSecurityHeader: "Your request was missing a required header."
            case .noSuchBucket: "The specified bucket does not exist"
            case .noSuchBucketPolicy: "The bucket policy does not exist"
            case .noSuchCORSConfiguration: "The CORS configuration does not exist"
            case .noSuchLifecycleConfiguration: "The lifecycle configuration does not exist"
            case .noSuchKey: "The specified key does not exist."
            case .noSuchUpload: "The specified upload does not exist."
            case .noSuchVersion: "The specified version does not exist."
            case .invalidBucketState: "The request is not valid with the current state of the bucket."
            case .noSuchObjectLockConfiguration: "Object Lock configuration does not exist for this bucket"
            case .noSuchObjectLockRetention: "The specified object does not have a ObjectLock configuration"
            case .noSuchTagSet: "The TagSet does not exist"
            case .notImplemented: "A header or query you provided implies functionality that is not implemented."
            case .preconditionFailed: "At least one of the pre-conditions you specified did not hold"
            case .requestTimeout: "Your socket connection to the server was not read from or written to within the timeout period."
            case .requestTimeTooSkewed: "The difference between the request time and the server's time is too large."
            case .serviceUnavailable: "Please reduce your request rate."
            case .signatureDoesNotMatch: "The request signature we calculated does not match the signature you provided. Check your key and signing method."
            case .slowDown: "Please reduce your request rate."
            case .xAmzContentSHA256Mismatch: "The provided 'x-amz-content-sha256' header does not match what was computed."
            }
        }
    }

    /// The S3 error for an engine error.
    public init(_ error: NuageError, resource: String?) {
        let code: Code = switch error.code {
        case .noSuchBucket: .noSuchBucket
        case .noSuchKey: .noSuchKey
        case .bucketAlreadyExists: .bucketAlreadyOwnedByYou
        case .bucketNotEmpty: .bucketNotEmpty
        case .invalidBucketName: .invalidBucketName
        case .keyTooLong: .keyTooLong
        case .invalidKey: .invalidArgument
        case .noSuchUpload: .noSuchUpload
        case .invalidPart: .invalidPart
        case .invalidPartOrder: .invalidPartOrder
        case .entityTooSmall: .entityTooSmall
        case .invalidArgument: .invalidArgument
        case .incompleteBody: .incompleteBody
        case .preconditionFailed: .preconditionFailed
        case .insufficientShards, .policyUnsatisfiable, .keyUnavailable: .serviceUnavailable
        case .customerKeyRequired, .customerKeyNotApplicable: .invalidRequest
        case .customerKeyMismatch: .accessDenied
        case .kmsNotFound: .kmsNotFound
        case .kmsDisabled: .kmsDisabled
        case .kmsInvalidState: .kmsInvalidState
        case .objectLocked: .accessDenied
        case .noSuchVersion: .noSuchVersion
        case .deleteMarker: .methodNotAllowed
        default: .internalError
        }
        // Internal details stay in the server log; clients get S3's wording.
        // A failed precondition says so as S3 does, naming no object.
        let message = error.code == .objectLocked ? "Access Denied because object protected by object lock (\(error.message))." : error.message
        self.init(code, code == .internalError || code == .preconditionFailed ? nil : message, resource: resource)
    }

    /// `<Error><Code>…</Code><Message>…</Message><Resource>…</Resource><RequestId>…</RequestId></Error>`.
    public func xml(requestID: String) -> String {
        var xml = XMLWriter()
        xml.open("Error")
        xml.element("Code", code)
        xml.element("Message", message)
        if let resource { xml.element("Resource", resource) }
        for (name, value) in details { xml.element(name, value) }
        xml.element("RequestId", requestID)
        xml.close("Error")
        return xml.document
    }
}
