import Crypto
import Foundation
import Hummingbird
import HTTPTypes
import Logging
import NuageCatalog
import NuageCore
import NuageEngine
import NuageSigV4

/// The S3 API in front of an engine: authentication, dispatch, S3's XML and errors.
public struct S3Server: Sendable {
    public struct Options: Sendable {
        /// Enables virtual-hosted style (`BUCKET.domain`) besides path style.
        public var domain: String?
        /// Requests handled at once; more get `503 SlowDown`.
        public var maxInFlight: Int
        /// Requests one access key may have in flight at once; more get `503 SlowDown`.
        public var maxInFlightPerKey: Int
        /// How slowly a request body may arrive: see `RequestBodyRateHandler`.
        public var bodyRate: RequestBodyRateHandler.Limits
        /// The region reported by GetBucketLocation and expected in signatures' scope.
        public var region: String
        /// The server's clock (tests move it).
        public var now: @Sendable () -> Date
        /// Where requests are recorded (the audit log): every change of state and every refused
        /// request, and reads too with `auditReads`. Awaited before the response goes out.
        public var audit: (@Sendable (AccessRecord) async -> Void)?
        public var auditReads = false
        /// Accept customer keys (SSE-C) over plain HTTP from other machines (loopback and HTTPS
        /// always may); AWS refuses them.
        public var allowCustomerKeysOverHTTP = false
        /// Let bucket policies grant access to everyone, anonymous requests included (AWS's Block
        /// Public Access off); off, such policies are refused and anonymous requests too.
        public var allowPublicBuckets = false
        /// The length of a lifecycle day in seconds: 86,400, shortened only by the test setting
        /// `[testing] lifecycle-day-seconds` so that tests see expirations in seconds.
        public var lifecycleDay: Double = 86_400
        /// Told of every request once its response is written (metrics).
        public var observe: (@Sendable (RequestOutcome) -> Void)?

        /// - Parameter maxInFlightPerKey: default half of `maxInFlight`.
        public init(domain: String? = nil, maxInFlight: Int = 64, maxInFlightPerKey: Int? = nil,
                    bodyRate: RequestBodyRateHandler.Limits = .init(), region: String = "us-east-1",
                    now: @escaping @Sendable () -> Date = { Date() }) {
            self.domain = domain
            self.maxInFlight = maxInFlight
            self.maxInFlightPerKey = maxInFlightPerKey ?? max(1, (maxInFlight + 1) / 2)
            self.bodyRate = bodyRate
            self.region = region
            self.now = now
        }
    }

    let engine: Engine
    let options: Options
    let inFlight: InFlightLimiter
    let inFlightPerKey: InFlightLimiter
    let logger: Logger

    public init(engine: Engine, options: Options = Options(), logger: Logger = Logger(label: "nuage.s3")) {
        self.engine = engine
        self.options = options
        inFlight = InFlightLimiter(limit: options.maxInFlight)
        inFlightPerKey = InFlightLimiter(limit: options.maxInFlightPerKey)
        self.logger = logger
    }

    /// Handles one request; never throws: every failure becomes S3's XML error.
    /// - Parameters:
    ///   - address: the client's IP address (for the audit log, and to recognise loopback).
    ///   - secure: whether the request came over TLS.
    public func respond(to request: Request, from address: String? = nil, secure: Bool = false) async -> Response {
        let started = ContinuousClock.now
        let requestID = [UInt8].random(count: 8).hex.uppercased()
        var response: Response
        var resource: String?
        if let health = await health(request) { return health }
        var record = AccessRecord(action: "s3:Unknown", address: address, outcome: "ok")
        let privateTransport = secure || options.allowCustomerKeysOverHTTP || Self.isLoopback(address)
        response = await handle(request, requestID: requestID, resource: &resource, record: &record, privateTransport: privateTransport,
                                connection: Connection(address: address, secure: secure))
        if let origin = request.headers[.origin], request.method != .options, let bucket = record.bucket {
            await addCORSHeaders(&response, origin: origin, method: request.method, bucket: bucket)
        }
        response.headers[HTTPField.Name("x-amz-request-id")!] = requestID
        if let audit = options.audit, audited(request.method, status: Int(response.status.code)) {
            if response.status.code >= 300 { record.outcome = "\(response.status.code)" + (response.headers[HTTPField.Name("x-nuage-error")!].map { " \($0)" } ?? "") }
            await audit(record)
        }
        response.headers[HTTPField.Name("x-nuage-error")!] = nil
        let declared = request.headers[named: "x-amz-decoded-content-length"] ?? request.headers[named: "content-length"]
        let outcome = RequestOutcome(requestID: requestID, accessKey: record.accessKey,
                                     operation: record.action.hasPrefix("s3:") ? String(record.action.dropFirst(3)) : "Admin",
                                     bucket: record.bucket, status: Int(response.status.code), bytesIn: declared.flatMap { Int64($0) } ?? 0,
                                     bytesOut: 0, duration: .zero)
        let logger = logger, observe = options.observe
        return response.observed { bytesOut, cut in
            var outcome = outcome
            outcome.bytesOut = bytesOut
            outcome.duration = ContinuousClock.now - started
            outcome.cut = cut.map { "\($0)" }
            if cut == nil { logger.info("request", metadata: outcome.metadata) } else { logger.notice("response cut", metadata: outcome.metadata) }
            observe?(outcome)
        }
    }

    private func handle(_ request: Request, requestID: String, resource: inout String?, record: inout AccessRecord,
                        privateTransport: Bool, connection: Connection) async -> Response {
        var response: Response
        do {
            guard let permit = inFlight.acquire("") else { throw S3Error(.slowDown) }
            var s3 = try S3Request(request, domain: options.domain)
            s3.privateTransport = privateTransport
            // A client key in a URL is refused before the query's headers become headers.
            try CustomerKeyHeaders.refuseInQuery(s3)
            var request = request
            if s3.isPresignedV2 {
                var head = request.head
                for (name, value) in s3.takeQueryHeaders() {
                    guard let field = HTTPField.Name(name) else { throw S3Error(.invalidArgument, "Invalid header name in the query.") }
                    // The signature covers the query's value; a header saying otherwise is not signed.
                    if let sent = head.headerFields[field], sent != value { throw S3Error(.signatureDoesNotMatch) }
                    head.headerFields[field] = value
                }
                request = Request(head: head, body: request.body)
            }
            resource = s3.bucket.map { "/\($0)" + (s3.key.map { "/\($0)" } ?? "") }
            record.bucket = s3.bucket
            record.key = s3.key
            if Self.isPostObject(request, s3) {
                // A form upload signs its policy, not the request (POST Object).
                record.action = "s3:PostObject"
                return try await postObject(request, s3, connection: connection, record: &record).holding([permit])
            }
            if request.method == .options {
                record.action = "s3:PreflightRequest"
                return try await preflight(request, s3).holding([permit])
            }
            var caller = try await authenticate(request, s3)
            caller.connection = connection
            record.accessKey = caller.key.id
            guard let keyPermit = inFlightPerKey.acquire(caller.key.id) else {
                throw S3Error(.slowDown, "This access key has \(options.maxInFlightPerKey) requests in flight, its share of the gateway; retry later.")
            }
            if s3.bucket == Self.adminBucket {
                record.action = "admin:\(s3.key ?? "")"
                record.bucket = nil
                record.key = nil
                return try await admin(request, s3, caller).holding([permit, keyPermit])
            }
            let operation = try S3Operation.route(s3, hasCopySource: request.headers[named: "x-amz-copy-source"] != nil)
            record.action = "s3:\(operation.rawValue)"
            if let bucket = s3.bucket, operation != .createBucket {
                s3.bucketRecord = if let read = caller.bucketRead { read } else { try await engine.catalog.bucket(bucket) }
            }
            try await authorize(caller, operation, s3, request)
            try S3Compatibility.checkHeaders(request.headers, operation)
            response = try await dispatch(operation, request, s3, caller)
            response = response.holding([permit, keyPermit])
        } catch let error as S3Error {
            response = errorResponse(error, resource: error.resource ?? resource, requestID: requestID, method: request.method)
        } catch let error as NuageError {
            if error.code == .internalError || error.code == .integrity {
                logger.error("request \(requestID) failed: \(error.description)")
            }
            response = errorResponse(S3Error(error, resource: resource), resource: resource, requestID: requestID, method: request.method)
        } catch {
            logger.error("request \(requestID) failed: \(error)")
            response = errorResponse(S3Error(.internalError), resource: resource, requestID: requestID, method: request.method)
        }
        return response
    }

    func errorResponse(_ error: S3Error, resource: String?, requestID: String, method: HTTPRequest.Method) -> Response {
        var error = error
        error.resource = resource
        // The error code, for the audit record (removed before the response goes out).
        var headers: HTTPFields = [.contentType: "application/xml", HTTPField.Name("x-nuage-error")!: error.code]
        for (name, value) in error.headers { if let field = HTTPField.Name(name) { headers[field] = value } }
        let status = HTTPResponse.Status(code: error.status)
        if method == .head {
            headers[.contentLength] = "0"
            return Response(status: status, headers: headers)
        }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: error.xml(requestID: requestID))))
    }

    // MARK: Dispatch

    func dispatch(_ operation: S3Operation, _ request: Request, _ s3: S3Request, _ caller: Caller) async throws -> Response {
        let bucket = s3.bucket ?? "", key = s3.key ?? ""
        var response: Response
        switch operation {
        case .listBuckets: response = try await listBuckets(caller, s3)
        case .createBucket: response = try await createBucket(bucket, request, caller)
        case .deleteBucket: response = try await deleteBucket(bucket)
        case .headBucket: response = try await headBucket(bucket)
        case .getBucketLocation: response = try await bucketLocation(bucket)
        case .getBucketVersioning: response = try await bucketVersioning(bucket, s3)
        case .putBucketVersioning: response = try await putBucketVersioning(bucket, request, s3)
        case .listObjectVersions: response = try await listObjectVersions(bucket, s3)
        case .getObjectLockConfiguration: response = try objectLockConfiguration(s3)
        case .putObjectLockConfiguration: response = try await putObjectLockConfiguration(bucket, request)
        case .getObjectRetention: response = try await objectRetention(bucket, key, s3)
        case .putObjectRetention: response = try await putObjectRetention(bucket, key, request, s3, caller)
        case .getObjectLegalHold: response = try await objectLegalHold(bucket, key, s3)
        case .putObjectLegalHold: response = try await putObjectLegalHold(bucket, key, request, s3)
        case .getBucketPolicy: response = try await bucketPolicy(bucket)
        case .putBucketPolicy: response = try await putBucketPolicy(bucket, request)
        case .deleteBucketPolicy: response = try await deleteBucketPolicy(bucket)
        case .getBucketPolicyStatus: response = try await bucketPolicyStatus(bucket)
        case .getBucketLifecycleConfiguration: response = try await bucketLifecycle(bucket)
        case .putBucketLifecycleConfiguration: response = try await putBucketLifecycle(bucket, request)
        case .deleteBucketLifecycle: response = try await deleteBucketLifecycle(bucket)
        case .getBucketCors: response = try await bucketCors(bucket)
        case .putBucketCors: response = try await putBucketCors(bucket, request)
        case .deleteBucketCors: response = try await deleteBucketCors(bucket)
        case .getBucketEncryption: response = try await bucketEncryption(bucket)
        case .putBucketEncryption: response = try await putBucketEncryption(bucket, request)
        case .deleteBucketEncryption: response = try await deleteBucketEncryption(bucket)
        case .listObjects: response = try await listObjects(bucket, s3, version: 1)
        case .listObjectsV2: response = try await listObjects(bucket, s3, version: 2)
        case .listMultipartUploads: response = try await listUploads(bucket, s3)
        case .deleteObjects: response = try await deleteObjects(bucket, request, s3, caller)
        case .putObject: response = try await putObject(bucket, key, request, s3, caller)
        case .copyObject: response = try await copyObject(bucket, key, request, s3, caller)
        case .getObject: response = try await getObject(bucket, key, request, s3, head: false)
        case .headObject: response = try await getObject(bucket, key, request, s3, head: true)
        case .deleteObject: response = try await deleteObject(bucket, key, request, s3, caller)
        case .createMultipartUpload: response = try await createUpload(bucket, key, request, s3)
        case .uploadPart: response = try await uploadPart(bucket, key, request, s3, caller)
        case .uploadPartCopy: response = try await uploadPartCopy(bucket, key, request, s3, caller)
        case .completeMultipartUpload: response = try await completeUpload(bucket, key, request, s3)
        case .abortMultipartUpload: response = try await abortUpload(bucket, key, s3)
        case .listParts: response = try await listParts(bucket, key, request, s3)
        case .getBucketAcl: response = try await acl(bucket: bucket, key: nil)
        case .putBucketAcl: response = try await putACL(bucket: bucket, key: nil, request)
        case .getObjectAcl: response = try await acl(bucket: bucket, key: key)
        case .putObjectAcl: response = try await putACL(bucket: bucket, key: key, request)
        case .getBucketOwnershipControls: response = try await ownershipControls(bucket)
        case .putBucketOwnershipControls: response = try await putOwnershipControls(bucket, request)
        case .getBucketTagging: response = try await bucketTagging(bucket)
        case .putBucketTagging: response = try await putBucketTagging(bucket, request)
        case .deleteBucketTagging: response = try await deleteBucketTagging(bucket)
        case .getObjectAttributes: response = try await objectAttributes(bucket, key, request, s3)
        case .getObjectTagging: response = try await objectTagging(bucket, key, s3)
        case .putObjectTagging: response = try await putObjectTagging(bucket, key, request, s3)
        case .deleteObjectTagging: response = try await deleteObjectTagging(bucket, key, s3)
        }
        if Self.encryptedResponses.contains(operation) && response.status.code < 300
            && response.headers[HTTPField.Name(CustomerKeyHeaders.algorithm)!] == nil
            && response.headers[HTTPField.Name(KMSHeaders.encryption)!] == nil {
            // Every object is sealed with AES-256-GCM under keys the gateway holds: AWS's SSE-S3.
            response.headers[HTTPField.Name("x-amz-server-side-encryption")!] = "AES256"
        }
        return response
    }

    /// Operations whose successful responses say, as AWS's do, how the object is encrypted.
    static let encryptedResponses: Set<S3Operation> = [.putObject, .copyObject, .getObject, .headObject, .createMultipartUpload,
                                                       .uploadPart, .uploadPartCopy, .completeMultipartUpload]
}
