import Crypto
import Foundation

/// Signs requests as an S3 client does (Authorization header), for Nuage's own S3 clients:
/// the load generator, S3-compatible providers and tests.
public struct SigV4Signer: Sendable {
    public var accessKey: String
    public var secretKey: String
    public var region: String
    public var service: String

    public init(accessKey: String, secretKey: String, region: String = "us-east-1", service: String = "s3") {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.region = region
        self.service = service
    }

    /// The headers to add to a request: `x-amz-date`, `x-amz-content-sha256` and
    /// `Authorization`. Every header given (which must include `host`) is signed.
    ///
    /// - Parameters:
    ///   - path: the decoded path (`/bucket/key`); it is encoded here as S3 expects.
    ///   - query: decoded query parameters.
    ///   - payloadHash: hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
    public func sign(method: String, path: String, query: [(name: String, value: String)] = [],
                     headers: [(name: String, value: String)], payloadHash: String,
                     date: Date = Date()) -> [(name: String, value: String)] {
        let timestamp = SigV4Time.format(date)
        let scope = SigV4.Scope(date: String(timestamp.prefix(8)), region: region, service: service)
        let added: [(name: String, value: String)] = [("x-amz-date", timestamp), ("x-amz-content-sha256", payloadHash)]
        let all = headers + added
        let signed = Array(Set(all.map { $0.name.lowercased() })).sorted()
        let canonical = SigV4.canonicalRequest(.init(method: method, path: path, query: query, headers: all,
                                                     signedHeaders: signed, payloadHash: payloadHash))
        let signature = SigV4.signature(key: SigV4.signingKey(secret: secretKey, scope: scope),
                                        SigV4.stringToSign(timestamp: timestamp, scope: scope, canonicalRequest: canonical))
        return added + [("authorization", "\(SigV4.algorithm) Credential=\(accessKey)/\(scope), SignedHeaders=\(signed.joined(separator: ";")), Signature=\(signature)")]
    }

    /// The request target with its query encoded the way the signature canonicalised it.
    public static func target(path: String, query: [(name: String, value: String)]) -> String {
        let encodedPath = SigV4.uriEncode(path.isEmpty ? "/" : path, encodeSlash: false)
        guard !query.isEmpty else { return encodedPath }
        return encodedPath + "?" + query.map {
            "\(SigV4.uriEncode($0.name, encodeSlash: true))=\(SigV4.uriEncode($0.value, encodeSlash: true))"
        }.joined(separator: "&")
    }
}
