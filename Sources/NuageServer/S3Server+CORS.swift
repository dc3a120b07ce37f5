import Foundation
import Hummingbird
import HTTPTypes
import NuageCore

/// CORS as AWS answers it: Get/Put/DeleteBucketCors, preflight `OPTIONS` requests (which browsers
/// send without credentials), and the `Access-Control-*` headers on every request from an
/// origin a rule allows, errors included.
extension S3Server {
    func bucketCors(_ bucket: String) async throws -> Response {
        guard let record = try await engine.catalog.bucket(bucket) else { throw S3Error(.noSuchBucket) }
        guard let stored = record.cors else { throw S3Error(.noSuchCORSConfiguration, details: [("BucketName", bucket)]) }
        return Self.xmlResponse(try CORSConfiguration(stored: stored).xml())
    }

    func putBucketCors(_ bucket: String, _ request: Request) async throws -> Response {
        try await changeBucket(bucket) { record in
            record.cors = try CORSConfiguration(xml: try await xmlBody(request, root: "CORSConfiguration")).stored
        }
        return Response(status: .ok, headers: [.contentLength: "0"])
    }

    func deleteBucketCors(_ bucket: String) async throws -> Response {
        try await changeBucket(bucket) { $0.cors = nil }
        return Response(status: .noContent)
    }

    /// A preflight request: answered from the bucket's CORS rules, without authentication.
    func preflight(_ request: Request, _ s3: S3Request) async throws -> Response {
        guard let origin = request.headers[named: "origin"] else {
            throw S3Error(.badRequest, "Insufficient information. Origin request header needed.")
        }
        guard let bucket = s3.bucket else { throw S3Error(.methodNotAllowed) }
        let method = request.headers[named: "access-control-request-method"]
        let details = [("Method", method ?? "OPTIONS"), ("ResourceType", s3.key == nil ? "BUCKET" : "OBJECT")]
        guard let record = try await engine.catalog.bucket(bucket) else {
            throw S3Error(.accessForbidden, "CORSResponse: Bucket not found", details: details)
        }
        guard let stored = record.cors else {
            throw S3Error(.accessForbidden, "CORSResponse: CORS is not enabled for this bucket.", details: details)
        }
        let headers = (request.headers[named: "access-control-request-headers"] ?? "").split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard let method, let grant = try CORSConfiguration(stored: stored).grant(origin: origin, method: method, headers: headers) else {
            throw S3Error(.accessForbidden, "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
                          details: details)
        }
        var response = Response(status: .ok, headers: [.contentLength: "0"])
        Self.add(grant, to: &response)
        return response
    }

    /// Adds the headers of the rule allowing `origin` to a response for `bucket`, if one does.
    /// A bucket that cannot be read now leaves the response as it is: the browser then refuses
    /// to show it, which is what it would do without a rule.
    func addCORSHeaders(_ response: inout Response, origin: String, method: HTTPRequest.Method, bucket: String) async {
        let grant = await engine.tolerating("read the CORS rules of a bucket", metadata: ["bucket": "\(bucket)"]) {
            try await engine.catalog.bucket(bucket)?.cors.flatMap {
                try CORSConfiguration(stored: $0).grant(origin: origin, method: method.rawValue, headers: [])
            }
        }
        if let grant = grant ?? nil { Self.add(grant, to: &response) }
    }

    private static func add(_ grant: CORSConfiguration.Grant, to response: inout Response) {
        for (name, value) in grant.headers { response.headers[HTTPField.Name(name)!] = value }
    }
}
