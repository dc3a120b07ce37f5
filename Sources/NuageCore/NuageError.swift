/// The error every Nuage layer above the providers throws: a stable ``Code``, a message for
/// humans, an optional underlying cause and where it was raised.
///
/// Codes are a struct wrapping a private enum so that adding a code never breaks a caller
/// that switches over the ones it knows.
public struct NuageError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case invalidArgument, invalidBucketName, invalidKey, keyTooLong
            case noSuchBucket, bucketAlreadyExists, bucketNotEmpty, noSuchKey
            case noSuchUpload, invalidPart, invalidPartOrder, entityTooSmall
            case policyUnsatisfiable, insufficientShards, integrity
            case configuration, preconditionFailed, incompleteBody, internalError
            case customerKeyRequired, customerKeyMismatch, customerKeyNotApplicable
            case keyUnavailable
            case kmsNotFound, kmsDisabled, kmsInvalidState
            case objectLocked, noSuchVersion, deleteMarker
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The caller passed something malformed (a range, a size, an option).
        public static let invalidArgument = Code(.invalidArgument)
        /// A bucket name breaks the naming rules.
        public static let invalidBucketName = Code(.invalidBucketName)
        /// An object key is empty, holds NUL or a `..` segment.
        public static let invalidKey = Code(.invalidKey)
        /// An object key is longer than 1024 bytes of UTF-8.
        public static let keyTooLong = Code(.keyTooLong)
        public static let noSuchBucket = Code(.noSuchBucket)
        public static let bucketAlreadyExists = Code(.bucketAlreadyExists)
        public static let bucketNotEmpty = Code(.bucketNotEmpty)
        public static let noSuchKey = Code(.noSuchKey)
        /// A multipart upload that does not exist (never created, completed, aborted or expired).
        public static let noSuchUpload = Code(.noSuchUpload)
        /// A part named when completing an upload was not uploaded, or its ETag differs.
        public static let invalidPart = Code(.invalidPart)
        /// Parts named when completing an upload are not in ascending order.
        public static let invalidPartOrder = Code(.invalidPartOrder)
        /// A part other than the last is smaller than the minimum part size.
        public static let entityTooSmall = Code(.entityTooSmall)
        /// The configured providers cannot satisfy the placement policy.
        public static let policyUnsatisfiable = Code(.policyUnsatisfiable)
        /// Fewer than `k` valid shards could be read, or fewer than the write quorum written.
        public static let insufficientShards = Code(.insufficientShards)
        /// Data failed authentication, a self-test failed, or stored bytes are inconsistent.
        public static let integrity = Code(.integrity)
        /// The configuration file or data directory is unusable.
        public static let configuration = Code(.configuration)
        /// A conditional operation found the state it required had changed.
        public static let preconditionFailed = Code(.preconditionFailed)
        /// A body ended before the size it declared.
        public static let incompleteBody = Code(.incompleteBody)
        public static let internalError = Code(.internalError)
        /// The object is stored under a client's key (SSE-C) and the request did not give it.
        public static let customerKeyRequired = Code(.customerKeyRequired)
        /// The request gave a client's key that is not the one the object is stored under.
        public static let customerKeyMismatch = Code(.customerKeyMismatch)
        /// The request gave a client's key for an object that is not stored under one.
        public static let customerKeyNotApplicable = Code(.customerKeyNotApplicable)
        /// The token that holds the master key (an HSM) cannot be reached or refused the call.
        public static let keyUnavailable = Code(.keyUnavailable)
        /// No KMS key of that name (or it was destroyed, for a write).
        public static let kmsNotFound = Code(.kmsNotFound)
        /// The KMS key is disabled: refused for writes and reads until enabled.
        public static let kmsDisabled = Code(.kmsDisabled)
        /// The KMS key is pending deletion or destroyed (its objects crypto-shredded).
        public static let kmsInvalidState = Code(.kmsInvalidState)
        /// The version is under Object Lock retention or a legal hold: it cannot be deleted or replaced.
        public static let objectLocked = Code(.objectLocked)
        /// A version id that names no version of the key.
        public static let noSuchVersion = Code(.noSuchVersion)
        /// The version named is a delete marker: it has no content, metadata or tags.
        public static let deleteMarker = Code(.deleteMarker)

        public var description: String { String(describing: value) }
    }

    public var code: Code
    public var message: String
    public var cause: (any Error)?
    public var location: String

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil,
                file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.cause = cause
        self.location = "\(file):\(line)"
    }

    public var description: String {
        guard let cause else { return message }
        return "\(message): \(cause)"
    }
}
