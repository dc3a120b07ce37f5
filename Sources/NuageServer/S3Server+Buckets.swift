import Foundation
import Hummingbird
import HTTPTypes
import NuageCore
import NuageEngine

extension S3Server {
    static let owner = (id: "nuage", name: "nuage")

    func listBuckets(_ caller: Caller) async throws -> Response {
        var xml = XMLWriter()
        xml.open("ListAllMyBucketsResult", namespace: true)
        xml.open("Owner")
        xml.element("ID", Self.owner.id)
        xml.element("DisplayName", Self.owner.name)
        xml.close("Owner")
        xml.open("Buckets")
        for bucket in try await engine.listBuckets() where caller.key.buckets.isEmpty || caller.key.buckets.contains(bucket.name) {
            xml.open("Bucket")
            xml.element("Name", bucket.name)
            xml.element("CreationDate", Self.iso8601(bucket.created))
            xml.close("Bucket")
        }
        xml.close("Buckets")
        xml.close("ListAllMyBucketsResult")
        return Self.xmlResponse(xml)
    }

    func createBucket(_ bucket: String, _ request: Request) async throws -> Response {
        // A CreateBucketConfiguration may name the server's region, which changes nothing:
        // placement, not the region, decides where data lives. Anything else is refused.
        if let configuration = try await xmlBody(request, root: "CreateBucketConfiguration", optional: true) {
            for child in configuration.children {
                guard child.name == "LocationConstraint" else {
                    throw S3Error(.notImplemented, "CreateBucketConfiguration/\(child.name) is not implemented; the bucket was not created.")
                }
                let constraint = child.text.trimmingCharacters(in: .whitespacesAndNewlines)
                guard constraint.isEmpty || constraint == options.region else {
                    throw S3Error(.illegalLocationConstraint, "The \(constraint.prefix(40)) location constraint is incompatible for the region specific endpoint this request was sent to (\(options.region)).")
                }
            }
        }
        try await engine.createBucket(bucket)
        return Response(status: .ok, headers: [.location: "/\(bucket)", .contentLength: "0"])
    }

    func deleteBucket(_ bucket: String) async throws -> Response {
        try await engine.deleteBucket(bucket)
        return Response(status: .noContent)
    }

    func headBucket(_ bucket: String) async throws -> Response {
        guard try await engine.catalog.bucket(bucket) != nil else { throw S3Error(.noSuchBucket) }
        return Response(status: .ok, headers: [HTTPField.Name("x-amz-bucket-region")!: options.region, .contentLength: "0"])
    }

    func bucketLocation(_ bucket: String) async throws -> Response {
        guard try await engine.catalog.bucket(bucket) != nil else { throw S3Error(.noSuchBucket) }
        var xml = XMLWriter()
        xml.open("LocationConstraint", namespace: true)
        if options.region != "us-east-1" { xml.text(options.region) }
        xml.close("LocationConstraint")
        return Self.xmlResponse(xml)
    }

    func bucketVersioning(_ bucket: String) async throws -> Response {
        guard try await engine.catalog.bucket(bucket) != nil else { throw S3Error(.noSuchBucket) }
        var xml = XMLWriter()
        xml.open("VersioningConfiguration", namespace: true)
        xml.close("VersioningConfiguration")
        return Self.xmlResponse(xml)
    }

    // MARK: Listing

    func listObjects(_ bucket: String, _ s3: S3Request, version: Int) async throws -> Response {
        let prefix = s3.queryValue("prefix") ?? ""
        let delimiter = s3.queryValue("delimiter").flatMap { $0.isEmpty ? nil : $0 }
        var maxKeys = 1000
        if let text = s3.queryValue("max-keys") {
            guard let value = Int(text), value >= 0 else { throw S3Error(.invalidArgument, "max-keys must be a non-negative integer.") }
            maxKeys = min(value, 1000)
        }
        let urlEncoding = try Self.urlEncoding(s3)
        let token = s3.queryValue("continuation-token")
        var after: String?
        if version == 2 {
            if let token {
                guard let data = Data(base64Encoded: token), let marker = String(data: data, encoding: .utf8) else {
                    throw S3Error(.invalidArgument, "The continuation token provided is incorrect")
                }
                after = marker
            } else {
                after = s3.queryValue("start-after")
            }
        } else {
            after = s3.queryValue("marker")
        }
        let page = try await engine.list(bucket: bucket, prefix: prefix, delimiter: delimiter, after: after.flatMap { $0.isEmpty ? nil : $0 },
                                         limit: maxKeys)
        let encode: (String) -> String = { urlEncoding ? Self.urlEncode($0) : $0 }

        var xml = XMLWriter()
        xml.open("ListBucketResult", namespace: true)
        xml.element("Name", bucket)
        xml.element("Prefix", encode(prefix))
        if let delimiter { xml.element("Delimiter", encode(delimiter)) }
        xml.element("MaxKeys", String(maxKeys))
        if urlEncoding { xml.element("EncodingType", "url") }
        xml.element("IsTruncated", page.isTruncated ? "true" : "false")
        if version == 2 {
            xml.element("KeyCount", String(page.objects.count + page.commonPrefixes.count))
            if let token { xml.element("ContinuationToken", token) }
            if let startAfter = s3.queryValue("start-after") { xml.element("StartAfter", encode(startAfter)) }
            if page.isTruncated, let marker = page.nextMarker {
                xml.element("NextContinuationToken", Data(marker.utf8).base64EncodedString())
            }
        } else {
            xml.element("Marker", encode(s3.queryValue("marker") ?? ""))
            if page.isTruncated, let marker = page.nextMarker { xml.element("NextMarker", encode(marker)) }
        }
        let fetchOwner = version == 1 || s3.queryValue("fetch-owner") == "true"
        for object in page.objects {
            xml.open("Contents")
            xml.element("Key", encode(object.key))
            xml.element("LastModified", Self.iso8601(object.modified))
            xml.element("ETag", "\"\(object.etag)\"")
            xml.element("Size", String(object.size))
            if fetchOwner {
                xml.open("Owner")
                xml.element("ID", Self.owner.id)
                xml.element("DisplayName", Self.owner.name)
                xml.close("Owner")
            }
            xml.element("StorageClass", "STANDARD")
            xml.close("Contents")
        }
        for common in page.commonPrefixes {
            xml.open("CommonPrefixes")
            xml.element("Prefix", encode(common))
            xml.close("CommonPrefixes")
        }
        xml.close("ListBucketResult")
        return Self.xmlResponse(xml)
    }

    // MARK: Helpers

    /// `encoding-type=url`: keys, prefixes and markers in a listing are written percent-encoded.
    static func urlEncoding(_ s3: S3Request) throws -> Bool {
        switch s3.queryValue("encoding-type") {
        case nil: false
        case "url": true
        default: throw S3Error(.invalidArgument, "Invalid Encoding Method specified in Request")
        }
    }

    static func xmlResponse(_ xml: XMLWriter, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/xml"], body: ResponseBody(byteBuffer: ByteBuffer(string: xml.document)))
    }

    /// `2009-10-12T17:50:30.000Z`.
    static func iso8601(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// RFC 7231 date for Last-Modified.
    static func httpDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }

    static func parseHTTPDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }

    /// S3's `encoding-type=url`: like form encoding, spaces as `+`.
    static func urlEncode(_ text: String) -> String {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/")
        return (text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text).replacingOccurrences(of: "%20", with: "+")
    }
}
