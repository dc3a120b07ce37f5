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
            } else if s3.has("X-Amz-Algorithm") {
                authorization = try SigV4Authorization.parse(query: s3.query)
                query.removeAll { $0.name == "X-Amz-Signature" }
                payloadHash = headers[named: "x-amz-content-sha256"] ?? "UNSIGNED-PAYLOAD"
            } else {
                throw S3Error(.accessDenied, "Anonymous requests are not allowed; sign requests with an access key.")
            }
        } catch let error as SigV4Error {
            throw Self.s3Error(error, presigned: headers[named: "authorization"] == nil)
        }
        guard let key = try await engine.catalog.accessKey(id: authorization.accessKey) else {
            throw S3Error(.invalidAccessKeyId)
        }
        let secret = try engine.masterKey.openSecret(key.sealedSecret, accessKey: key.id)
        var fields: [(name: String, value: String)] = [("host", s3.host)]
        for field in headers { fields.append((field.name.canonicalName, field.value)) }
        let input = SigV4.CanonicalInput(method: s3.method, path: s3.path, query: query, headers: fields,
                                         signedHeaders: authorization.signedHeaders, payloadHash: payloadHash)
        do {
            let signing = try authorization.verify(input, secret: secret, now: options.now())
            return Caller(key: key, signing: signing, payloadHash: payloadHash)
        } catch {
            throw Self.s3Error(error, presigned: authorization.expires != nil)
        }
    }

    static func s3Error(_ error: SigV4Error, presigned: Bool) -> S3Error {
        switch error {
        case .malformed(let why): S3Error(presigned ? .authorizationQueryParametersError : .authorizationHeaderMalformed, why)
        case .signatureMismatch, .payloadMismatch: S3Error(.signatureDoesNotMatch)
        case .expired: S3Error(.accessDenied, "Request has expired")
        case .skewed: S3Error(.requestTimeTooSkewed)
        }
    }

    /// A key may be limited to reads and to some buckets.
    func authorize(_ key: AccessKeyRecord, _ s3: S3Request) throws {
        if key.readOnly && !["GET", "HEAD"].contains(s3.method) {
            throw S3Error(.accessDenied, "This access key is read-only.")
        }
        if !key.buckets.isEmpty, let bucket = s3.bucket, !key.buckets.contains(bucket) {
            throw S3Error(.accessDenied, "This access key may not use bucket \(bucket).")
        }
        if !key.buckets.isEmpty, s3.bucket == nil, s3.method != "GET" {
            throw S3Error(.accessDenied)
        }
    }
}
