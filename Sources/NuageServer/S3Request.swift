import Foundation
import Hummingbird
import HTTPTypes
import NuageCatalog
import NuageSigV4

/// The parts of an HTTP request that S3 dispatch and authentication need.
struct S3Request {
    let method: String
    /// The decoded request path (what the signature canonicalises).
    let path: String
    /// Decoded query parameters, in order.
    private(set) var query: [(name: String, value: String)]
    let bucket: String?
    let key: String?
    let host: String
    /// The path as sent, still percent-encoded (SigV2 signs it as is).
    let rawPath: String
    /// Whether secrets may travel in headers: TLS, loopback, or allowed by the operator (SSE-C).
    var privateTransport = false
    /// The bucket's record, read once per request before it is authorized (nil: no such bucket,
    /// or no bucket in the request).
    var bucketRecord: BucketRecord?

    /// The owner of the request's bucket (the default owner when it has none).
    var bucketOwner: String { bucketRecord?.owner ?? Owner.default }

    /// Parses the raw request target. Path style always; virtual-hosted style when `domain` is
    /// set and the Host is `BUCKET.domain`.
    init(_ request: Request, domain: String?) throws {
        method = request.method.rawValue
        let target = request.head.path ?? "/"
        let rawPath = target.prefix { $0 != "?" }
        let rawQuery = target.dropFirst(rawPath.count + 1)
        guard let path = SigV4.percentDecode(rawPath) else {
            throw S3Error(.invalidArgument, "The request path is not valid percent-encoded UTF-8.")
        }
        guard let query = SigV4.parseQuery(rawQuery) else {
            throw S3Error(.invalidArgument, "The query string is not valid percent-encoded UTF-8.")
        }
        self.path = path
        self.rawPath = String(rawPath)
        self.query = query
        host = request.head.authority ?? ""
        let hostName = host.split(separator: ":").first.map(String.init)?.lowercased() ?? ""
        var remainder = Substring(path.dropFirst())   // drop the leading "/"
        if let domain, hostName.hasSuffix("." + domain.lowercased()) {
            bucket = String(hostName.dropLast(domain.count + 1))
        } else if remainder.isEmpty {
            bucket = nil
        } else {
            let name = remainder.prefix { $0 != "/" }
            bucket = String(name)
            remainder = remainder.dropFirst(name.count + 1)
        }
        key = bucket == nil || remainder.isEmpty ? nil : String(remainder)
    }

    func queryValue(_ name: String) -> String? { query.first { $0.name == name }?.value }

    /// A presigned URL of signature version 2 (`AWSAccessKeyId`, `Signature`, `Expires`).
    var isPresignedV2: Bool { has("AWSAccessKeyId") && has("Signature") && has("Expires") }

    /// Signature version 2 signs `Content-Type`, `Content-MD5` and `x-amz-*` headers that a
    /// presigned URL carries in its query (boto3's `ContentType` and `Metadata`): they leave the
    /// query, to be headers of the request.
    mutating func takeQueryHeaders() -> [(name: String, value: String)] {
        let isHeader: (String) -> Bool = { name in
            let lowered = name.lowercased()
            return lowered == "content-type" || lowered == "content-md5" || lowered.hasPrefix("x-amz-")
        }
        let taken = query.filter { isHeader($0.name) }.map { (name: $0.name.lowercased(), value: $0.value) }
        query.removeAll { isHeader($0.name) }
        return taken
    }
    func has(_ name: String) -> Bool { query.contains { $0.name == name } }
}

extension HTTPFields {
    /// A header's value by name (case-insensitive); repeated fields joined with ",".
    subscript(named name: String) -> String? {
        guard let field = HTTPField.Name(name) else { return nil }
        let values = self[values: field]
        return values.isEmpty ? nil : values.joined(separator: ",")
    }
}
