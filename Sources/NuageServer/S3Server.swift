import Crypto
import Foundation
import Hummingbird
import HTTPTypes
import Logging
import NuageCatalog
import NuageCore
import NuageEngine
import NuageSigV4
import Synchronization

/// The S3 API in front of an engine: authentication, dispatch, S3's XML and errors.
public struct S3Server: Sendable {
    public struct Options: Sendable {
        /// Enables virtual-hosted style (`BUCKET.domain`) besides path style.
        public var domain: String?
        /// Requests handled at once; more get `503 SlowDown`.
        public var maxInFlight: Int
        /// The region reported by GetBucketLocation and expected in signatures' scope.
        public var region: String
        /// The server's clock (tests move it).
        public var now: @Sendable () -> Date

        public init(domain: String? = nil, maxInFlight: Int = 64, region: String = "us-east-1",
                    now: @escaping @Sendable () -> Date = { Date() }) {
            self.domain = domain
            self.maxInFlight = maxInFlight
            self.region = region
            self.now = now
        }
    }

    let engine: Engine
    let options: Options
    let inFlight: InFlightLimiter
    let logger: Logger

    public init(engine: Engine, options: Options = Options(), logger: Logger = Logger(label: "nuage.s3")) {
        self.engine = engine
        self.options = options
        inFlight = InFlightLimiter(limit: options.maxInFlight)
        self.logger = logger
    }

    /// Handles one request; never throws: every failure becomes S3's XML error.
    public func respond(to request: Request) async -> Response {
        let requestID = [UInt8].random(count: 8).hex.uppercased()
        var response: Response
        var resource: String?
        do {
            guard let permit = inFlight.acquire() else { throw S3Error(.slowDown) }
            let s3 = try S3Request(request, domain: options.domain)
            resource = s3.bucket.map { "/\($0)" + (s3.key.map { "/\($0)" } ?? "") }
            let caller = try await authenticate(request, s3)
            try authorize(caller.key, s3)
            response = try await dispatch(request, s3, caller)
            response = response.holding(permit)
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
        response.headers[HTTPField.Name("x-amz-request-id")!] = requestID
        return response
    }

    func errorResponse(_ error: S3Error, resource: String?, requestID: String, method: HTTPRequest.Method) -> Response {
        var error = error
        error.resource = resource
        var headers: HTTPFields = [.contentType: "application/xml"]
        let status = HTTPResponse.Status(code: error.status)
        if method == .head {
            headers[.contentLength] = "0"
            return Response(status: status, headers: headers)
        }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: error.xml(requestID: requestID))))
    }

    // MARK: Dispatch

    func dispatch(_ request: Request, _ s3: S3Request, _ caller: Caller) async throws -> Response {
        guard let bucket = s3.bucket else {
            guard s3.method == "GET" else { throw S3Error(.methodNotAllowed) }
            return try await listBuckets(caller)
        }
        guard let key = s3.key else {
            switch s3.method {
            case "PUT" where Self.plain(s3, allowing: []): return try await createBucket(bucket, request)
            case "DELETE" where Self.plain(s3, allowing: []): return try await deleteBucket(bucket)
            case "HEAD": return try await headBucket(bucket)
            case "GET" where s3.has("location"): return try await bucketLocation(bucket)
            case "GET" where s3.has("versioning"): return try await bucketVersioning(bucket)
            case "GET" where s3.queryValue("list-type") == "2": return try await listObjects(bucket, s3, version: 2)
            case "GET" where Self.plain(s3, allowing: Self.listParameters): return try await listObjects(bucket, s3, version: 1)
            case "GET" where s3.has("uploads"): return try await listUploads(bucket, s3)
            case "POST" where s3.has("delete"): return try await deleteObjects(bucket, request)
            default: throw notImplemented(s3)
            }
        }
        switch s3.method {
        case "POST" where s3.has("uploads"): return try await createUpload(bucket, key, request)
        case "POST" where s3.has("uploadId"): return try await completeUpload(bucket, key, request, s3)
        case "PUT" where (s3.has("partNumber") || s3.has("uploadId")) && request.headers[named: "x-amz-copy-source"] != nil:
            return try await uploadPartCopy(bucket, key, request, s3, caller)
        case "PUT" where s3.has("partNumber") || s3.has("uploadId"): return try await uploadPart(bucket, key, request, s3, caller)
        case "GET" where s3.has("uploadId"): return try await listParts(bucket, key, s3)
        case "DELETE" where s3.has("uploadId"): return try await abortUpload(bucket, key, s3)
        case "PUT" where request.headers[named: "x-amz-copy-source"] != nil && Self.plain(s3, allowing: []):
            return try await copyObject(bucket, key, request, caller)
        case "PUT" where Self.plain(s3, allowing: []): return try await putObject(bucket, key, request, caller)
        case "GET" where Self.plain(s3, allowing: Self.getParameters): return try await getObject(bucket, key, request, s3, head: false)
        case "HEAD" where Self.plain(s3, allowing: Self.getParameters): return try await getObject(bucket, key, request, s3, head: true)
        case "DELETE" where Self.plain(s3, allowing: []): return try await deleteObject(bucket, key)
        default: throw notImplemented(s3)
        }
    }

    static let listParameters: Set<String> = ["prefix", "delimiter", "max-keys", "marker", "encoding-type", "list-type",
                                              "continuation-token", "start-after", "fetch-owner"]
    static let getParameters: Set<String> = ["partNumber", "response-content-type", "response-content-language", "response-expires",
                                             "response-cache-control", "response-content-disposition", "response-content-encoding"]

    /// Query parameters of presigned URLs (version 2) and SDK hints, never subresources.
    static let authenticationParameters: Set<String> = ["x-id", "AWSAccessKeyId", "Signature", "Expires"]

    /// True when the query holds only `allowing`, presigned-URL parameters and SDK hints.
    static func plain(_ s3: S3Request, allowing: Set<String>) -> Bool {
        s3.query.allSatisfy { allowing.contains($0.name) || $0.name.hasPrefix("X-Amz-") || authenticationParameters.contains($0.name) }
    }

    func notImplemented(_ s3: S3Request) -> S3Error {
        let names = s3.query.map(\.name).filter { !$0.hasPrefix("X-Amz-") && !Self.authenticationParameters.contains($0) }
        return S3Error(.notImplemented, names.isEmpty ? "\(s3.method) on this resource is not implemented."
                                                      : "\(s3.method) with ?\(names.joined(separator: "&")) is not implemented.")
    }
}

/// Limits requests in flight; a permit is released when its response has been written.
final class InFlightLimiter: Sendable {
    let limit: Int
    private let count = Mutex(0)
    init(limit: Int) { self.limit = limit }

    func acquire() -> Permit? {
        count.withLock { n in
            guard n < limit else { return false }
            n += 1
            return true
        } ? Permit(self) : nil
    }

    fileprivate func release() { count.withLock { $0 -= 1 } }

    final class Permit: Sendable {
        let owner: InFlightLimiter
        init(_ owner: InFlightLimiter) { self.owner = owner }
        deinit { owner.release() }
    }
}

extension Response {
    /// Keeps `permit` until the body has been written (or dropped).
    func holding(_ permit: InFlightLimiter.Permit) -> Response {
        var response = self
        let body = self.body
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            _ = permit
            try await body.write(writer)
        }
        return response
    }
}
