import Foundation
import Hummingbird
import HTTPTypes
import NuageCatalog
import NuageCore
import NuageEngine

extension S3Server {
    /// Changes a bucket's settings (encryption, tags): `change` edits its record, which is then
    /// stored and journaled when anything changed.
    /// - Throws: `NoSuchBucket`, and what `change` throws (nothing is stored then).
    func changeBucket(_ bucket: String, _ change: (inout BucketRecord) async throws -> Void) async throws {
        guard var record = try await engine.catalog.bucket(bucket) else { throw S3Error(.noSuchBucket) }
        let before = record
        try await change(&record)
        guard record != before else { return }
        try await engine.catalog.updateBucket(record)
        try await engine.journalDurable()
    }

    /// `<Owner><ID>…</ID><DisplayName>…</DisplayName></Owner>` for an owner (or another element,
    /// `Initiator`, naming it). An owner's name is both its ID and its display name.
    static func writeOwner(_ xml: inout XMLWriter, _ owner: String, as element: String = "Owner") {
        xml.open(element)
        xml.element("ID", owner)
        xml.element("DisplayName", owner)
        xml.close(element)
    }

    /// The caller's owner's buckets (those its key may use), by name, paged with `max-buckets`
    /// (1 to 10,000) and `continuation-token`, filtered by `prefix` and `bucket-region`.
    func listBuckets(_ caller: Caller, _ s3: S3Request) async throws -> Response {
        let prefix = s3.queryValue("prefix") ?? ""
        var maximum = 10_000
        if let text = s3.queryValue("max-buckets") {
            guard let value = Int(text), (1...10_000).contains(value) else {
                throw S3Error(.invalidArgument, "Argument max-buckets must be an integer between 1 and 10000.")
            }
            maximum = value
        }
        var after: String?
        if let token = s3.queryValue("continuation-token") {
            guard let data = Data(base64Encoded: token), let name = String(data: data, encoding: .utf8), !name.isEmpty else {
                throw S3Error(.invalidArgument, "The continuation token provided is incorrect")
            }
            after = name
        }
        let inRegion = s3.queryValue("bucket-region").map { $0 == options.region } ?? true
        let visible = try await engine.listBuckets().filter { bucket in
            inRegion && bucket.owner == caller.key.owner && bucket.name.hasPrefix(prefix) && after.map { bucket.name > $0 } ?? true
                && (caller.key.buckets.isEmpty || caller.key.buckets.contains(bucket.name))
        }
        let page = visible.prefix(maximum)
        var xml = XMLWriter()
        xml.open("ListAllMyBucketsResult", namespace: true)
        xml.open("Buckets")
        for bucket in page {
            xml.open("Bucket")
            xml.element("Name", bucket.name)
            xml.element("CreationDate", Self.iso8601(bucket.created))
            xml.element("BucketRegion", options.region)
            xml.close("Bucket")
        }
        xml.close("Buckets")
        Self.writeOwner(&xml, caller.key.owner)
        if visible.count > page.count, let last = page.last { xml.element("ContinuationToken", Data(last.name.utf8).base64EncodedString()) }
        if s3.queryValue("prefix") != nil { xml.element("Prefix", prefix) }
        xml.close("ListAllMyBucketsResult")
        return Self.xmlResponse(xml)
    }

    func createBucket(_ bucket: String, _ request: Request, _ caller: Caller) async throws -> Response {
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
        // Object Lock is chosen at creation (its versioning is then Enabled for good).
        let objectLock = request.headers[named: "x-amz-bucket-object-lock-enabled"]?.lowercased() == "true" ? ObjectLockConfiguration().stored : nil
        do {
            try await engine.createBucket(bucket, owner: caller.key.owner, objectLock: objectLock)
        } catch let error as NuageError where error.code == .bucketAlreadyExists {
            // Whose it is decides the answer, as at AWS.
            let owner = try await engine.catalog.bucket(bucket)?.owner
            throw owner == caller.key.owner ? S3Error(.bucketAlreadyOwnedByYou) : S3Error(.bucketAlreadyExists)
        }
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

    // MARK: Listing

    func listObjects(_ bucket: String, _ s3: S3Request, version: Int) async throws -> Response {
        let (prefix, delimiter, maxKeys, urlEncoding) = try Self.listingParameters(s3)
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
            if fetchOwner { Self.writeOwner(&xml, s3.bucketOwner) }
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

    /// What every key listing takes: `prefix`, `delimiter` (none when empty), `max-keys` (at most
    /// 1,000) and `encoding-type`.
    static func listingParameters(_ s3: S3Request) throws -> (prefix: String, delimiter: String?, maxKeys: Int, urlEncoding: Bool) {
        var maxKeys = 1000
        if let text = s3.queryValue("max-keys") {
            guard let value = Int(text), value >= 0 else { throw S3Error(.invalidArgument, "max-keys must be a non-negative integer.") }
            maxKeys = min(value, 1000)
        }
        return (s3.queryValue("prefix") ?? "", s3.queryValue("delimiter").flatMap { $0.isEmpty ? nil : $0 }, maxKeys, try urlEncoding(s3))
    }

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
        let (fields, milliseconds) = utc(date)
        var text = ""
        text.reserveCapacity(24)
        append(Int(fields.tm_year) + 1900, width: 4, to: &text)
        text += "-"
        append(Int(fields.tm_mon) + 1, width: 2, to: &text)
        text += "-"
        append(Int(fields.tm_mday), width: 2, to: &text)
        text += "T"
        appendTime(fields, to: &text)
        text += "."
        append(milliseconds, width: 3, to: &text)
        text += "Z"
        return text
    }

    /// RFC 9110 IMF-fixdate for Last-Modified: `Sun, 06 Nov 1994 08:49:37 GMT`.
    static func httpDate(_ date: Date) -> String {
        let (fields, _) = utc(date)
        var text = weekdays[Int(fields.tm_wday)] + ", "
        text.reserveCapacity(29)
        append(Int(fields.tm_mday), width: 2, to: &text)
        text += " " + months[Int(fields.tm_mon)] + " "
        append(Int(fields.tm_year) + 1900, width: 4, to: &text)
        text += " "
        appendTime(fields, to: &text)
        text += " GMT"
        return text
    }

    // Formatted by hand from gmtime_r: a DateFormatter per response cost about 9 % of a small
    // GET's CPU (issue "Small objects"), and these formats need no locale.
    private static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The UTC calendar fields of a date and its milliseconds.
    private static func utc(_ date: Date) -> (tm, Int) {
        // To the nearest millisecond (times are kept in milliseconds; a Double holds them inexactly).
        let total = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let (seconds, milliseconds) = (total >= 0 ? total / 1000 : (total - 999) / 1000, Int(((total % 1000) + 1000) % 1000))
        var time = time_t(seconds)
        var fields = tm()
        gmtime_r(&time, &fields)
        return (fields, milliseconds)
    }

    private static func appendTime(_ fields: tm, to text: inout String) {
        append(Int(fields.tm_hour), width: 2, to: &text)
        text += ":"
        append(Int(fields.tm_min), width: 2, to: &text)
        text += ":"
        append(Int(fields.tm_sec), width: 2, to: &text)
    }

    private static func append(_ value: Int, width: Int, to text: inout String) {
        let digits = String(value)
        if digits.count < width { text += String(repeating: "0", count: width - digits.count) }
        text += digits
    }

    /// An HTTP date (RFC 9110): IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, or the obsolete
    /// `Sunday, 06-Nov-94 08:49:37 GMT` and `Sun Nov  6 08:49:37 1994`. Parsed by hand: these
    /// bytes come from clients, and Foundation's DateFormatter traps on some of them (found by
    /// fuzzing).
    static func parseHTTPDate(_ text: String) -> Date? {
        guard text.utf8.count <= 64, text.allSatisfy(\.isASCII) else { return nil }
        let words = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        var day: Int?, month: Int?, year: Int?, clock: String?
        switch words.count {
        case 6 where words[0].hasSuffix(",") && words[5] == "GMT":  // IMF-fixdate
            (day, month, year, clock) = (Int(words[1]), months.firstIndex(of: words[2]).map { $0 + 1 }, Int(words[3]), words[4])
        case 4 where words[0].hasSuffix(",") && words[3] == "GMT":  // RFC 850
            let parts = words[1].split(separator: "-").map(String.init)
            guard parts.count == 3, let short = Int(parts[2]), parts[2].count == 2 else { return nil }
            (day, month, year, clock) = (Int(parts[0]), months.firstIndex(of: parts[1]).map { $0 + 1 }, short < 70 ? 2000 + short : 1900 + short, words[2])
        case 5:  // asctime
            (day, month, year, clock) = (Int(words[2]), months.firstIndex(of: words[1]).map { $0 + 1 }, Int(words[4]), words[3])
        default: return nil
        }
        let time = clock?.split(separator: ":").compactMap { Int($0) } ?? []
        guard let day, let month, let year, (1...31).contains(day), (1...9999).contains(year), time.count == 3,
              (0...23).contains(time[0]), (0...59).contains(time[1]), (0...60).contains(time[2]) else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "GMT")!
        return calendar.date(from: DateComponents(year: year, month: month, day: day, hour: time[0], minute: time[1], second: time[2]))
    }

    /// S3's `encoding-type=url`: every byte but unreserved characters and `/` percent-encoded,
    /// a space as `%20` (which every client's decoder reads as a space; `+` would be read as a
    /// plus sign by decoders of paths).
    static func urlEncode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: urlUnreserved) ?? text
    }

    private static let urlUnreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/")
}
