import Foundation
import Hummingbird
import HTTPTypes
import NuageCatalog
import NuageCore
import NuageCrypto
import NuageEngine
import NuageSigV4

extension S3Server {
    /// Largest single PUT (as S3).
    static let maximumObjectSize: Int64 = 5 << 30
    /// Largest total of user metadata (`x-amz-meta-*` names and values), as S3.
    static let maximumUserMetadata = 2048
    /// Stored and returned as given.
    static let storedHeaders = ["content-type", "content-encoding", "content-disposition", "cache-control", "expires", "content-language"]

    // MARK: PUT

    func putObject(_ bucket: String, _ key: String, _ request: Request, _ s3: S3Request, _ caller: Caller) async throws -> Response {
        let headers = request.headers
        let metadata = try Self.metadata(from: headers)
        let customerKey = try customerKey(request, s3)
        let kmsKey = try await requestedKMSKey(request, bucket: bucket, record: s3.bucketRecord, customerKey: customerKey != nil)
        let (body, size) = try objectBody(request, caller)
        let condition = try putCondition(headers)
        let lock = try lockMetadata(headers, bucket: s3.bucketRecord, now: Date(), requireDigest: true)
        let record = try await engine.put(bucket: bucket, key: key, size: size, body: body, metadata: metadata.merging(lock) { $1 },
                                          condition: condition, customerKey: customerKey, kmsKey: kmsKey)
        var response: HTTPFields = [.eTag: "\"\(record.etag)\"", .contentLength: "0"]
        Self.addVersionID(record, bucket: s3.bucketRecord, to: &response)
        for (name, value) in body.verifiedChecksums { response[HTTPField.Name(name)!] = value }
        CustomerKeyHeaders.echo(customerKey, into: &response)
        KMSHeaders.echo(kmsKey, region: options.region, into: &response)
        await addExpiration(record, bucket: s3.bucketRecord, to: &response)
        return Response(status: .ok, headers: response)
    }

    /// The body reader for a PUT, with its declared plaintext size.
    func objectBody(_ request: Request, _ caller: Caller) throws -> (RequestObjectBody, Int64) {
        let headers = request.headers
        let mode = caller.payloadHash
        let decoder: AWSChunkedDecoder?
        var expectedSHA256: String?
        let sizeText: String?
        switch mode {
        case "UNSIGNED-PAYLOAD":
            decoder = nil
            sizeText = headers[named: "content-length"]
        case "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER":
            decoder = AWSChunkedDecoder(mode: .signed(caller.signing, trailer: mode.hasSuffix("TRAILER")))
            sizeText = headers[named: "x-amz-decoded-content-length"]
        case "STREAMING-UNSIGNED-PAYLOAD-TRAILER":
            decoder = AWSChunkedDecoder(mode: .unsigned)
            sizeText = headers[named: "x-amz-decoded-content-length"]
        case let hash where hash.count == 64 && hash.allSatisfy(\.isHexDigit):
            decoder = nil
            expectedSHA256 = hash
            sizeText = headers[named: "content-length"]
        default:
            throw S3Error(.invalidArgument, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a streaming mode or a SHA-256 hex digest.")
        }
        guard let sizeText else { throw S3Error(.missingContentLength) }
        guard let size = Int64(sizeText), size >= 0 else { throw S3Error(.invalidArgument, "Invalid Content-Length.") }
        guard size <= Self.maximumObjectSize else { throw S3Error(.entityTooLarge) }
        var expectedMD5: String?
        if let md5 = headers[named: "content-md5"] {
            guard let digest = Data(base64Encoded: md5), digest.count == 16 else { throw S3Error(.invalidDigest) }
            expectedMD5 = md5
        }
        let checksum = try ChecksumAlgorithm.declared(in: headers)
        if let checksum, checksum.value == nil, decoder == nil {
            throw S3Error(.invalidRequest, "x-amz-trailer needs an aws-chunked body.")
        }
        let body = RequestObjectBody(body: request.body, decoder: decoder, expectedSHA256: expectedSHA256,
                                     expectedMD5: expectedMD5, checksum: checksum)
        return (body, size)
    }

    /// `If-None-Match: *` or `If-Match` on a write (S3Compatibility refuses other If-None-Match values).
    func putCondition(_ headers: HTTPFields) throws -> Engine.PutCondition {
        if headers[named: "if-none-match"] != nil { return .mustNotExist }
        if let match = headers[named: "if-match"] { return .etagMatches(Self.unquote(match)) }
        return .none
    }

    /// User metadata and the standard headers stored with an object. Checksums are stored only
    /// once verified (`RequestObjectBody.verifiedChecksums`).
    static func metadata(from headers: HTTPFields) throws -> [String: String] {
        var metadata: [String: String] = [:]
        var userBytes = 0
        for field in headers {
            let name = field.name.canonicalName
            if name.hasPrefix("x-amz-meta-") {
                userBytes += name.utf8.count - 11 + field.value.utf8.count
                metadata[name] = metadata[name].map { "\($0),\(field.value)" } ?? field.value
            } else if name == "content-encoding" {
                // aws-chunked describes the request's framing, not the object (S3 drops it too).
                let codings = field.value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { !$0.isEmpty && $0.lowercased() != "aws-chunked" }
                if !codings.isEmpty { metadata[name] = codings.joined(separator: ",") }
            } else if storedHeaders.contains(name) {
                metadata[name] = field.value
            }
        }
        guard userBytes <= maximumUserMetadata else { throw S3Error(.metadataTooLarge) }
        metadata[TagSet.metadataKey] = try requestedTags(headers)
        return metadata
    }

    // MARK: GET and HEAD

    func getObject(_ bucket: String, _ key: String, _ request: Request, _ s3: S3Request, head: Bool) async throws -> Response {
        let headers = request.headers
        let record = try await readableVersion(bucket, key, s3)
        // An object under a client's key says nothing, not even whether it changed, without that key.
        let customerKey = try customerKey(request, s3)
        try Engine.checkCustomerKey(customerKey, for: record)
        if let status = Self.conditionFailure(record, headers) {
            var fields = Self.objectHeaders(record, checksums: false)
            fields[.contentLength] = "0"
            if status == .preconditionFailed { throw S3Error(.preconditionFailed) }
            return Response(status: status, headers: fields)
        }
        var range: Range<Int64>?
        if let text = s3.queryValue("partNumber") {
            // The bytes of one part, as uploaded (a plain put is one part).
            guard headers[named: "range"] == nil else { throw S3Error(.invalidRequest, "Cannot specify both Range header and partNumber query parameter.") }
            guard let number = Int(text), Engine.partNumbers.contains(number) else {
                throw S3Error(.invalidArgument, "Part number must be an integer between 1 and 10000, inclusive.")
            }
            guard number <= record.parts.count else { throw S3Error(.invalidPartNumber) }
            let start = record.parts[..<(number - 1)].reduce(Int64(0)) { $0 + $1.size }
            if record.parts.count > 1 { range = start..<(start + record.parts[number - 1].size) }
        } else if let header = headers[named: "range"] {
            switch Self.parseRange(header, size: record.size) {
            case .whole: range = nil
            case .range(let r): range = r
            case .unsatisfiable:
                var error = S3Error(.invalidRange)
                error.resource = "/\(bucket)/\(key)"
                throw error
            }
        }
        var fields = Self.objectHeaders(record, checksums: range == nil && headers[named: "x-amz-checksum-mode"]?.uppercased() == "ENABLED")
        for (parameter, header) in [("response-content-type", HTTPField.Name.contentType), ("response-cache-control", .cacheControl),
                                    ("response-content-disposition", .contentDisposition), ("response-content-encoding", .contentEncoding),
                                    ("response-content-language", .contentLanguage), ("response-expires", .expires)] {
            if let value = s3.queryValue(parameter) { fields[header] = value }
        }
        if record.parts.count > 1 { fields[HTTPField.Name("x-amz-mp-parts-count")!] = String(record.parts.count) }
        Self.addVersionID(record, bucket: s3.bucketRecord, to: &fields)
        await addExpiration(record, bucket: s3.bucketRecord, to: &fields)
        CustomerKeyHeaders.echo(customerKey, into: &fields)
        try await echoKMSKey(record.parts[0], into: &fields)
        let length = range.map { Int64($0.count) } ?? record.size
        fields[.contentLength] = String(length)
        let status: HTTPResponse.Status = range == nil ? .ok : .partialContent
        if let range { fields[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(record.size)" }
        if head { return Response(status: status, headers: fields) }
        let reader = try await engine.get(record, range: range, customerKey: customerKey)
        return Response(status: status, headers: fields, body: ResponseBody(contentLength: Int(length)) { writer in
            for try await piece in reader { try await writer.write(ByteBuffer(bytes: piece)) }
            try await writer.finish(nil)
        })
    }

    static func objectHeaders(_ record: ObjectRecord, checksums: Bool) -> HTTPFields {
        var fields: HTTPFields = [
            .eTag: "\"\(record.etag)\"",
            .lastModified: httpDate(record.modified),
            .acceptRanges: "bytes",
            .contentType: record.metadata["content-type"] ?? "binary/octet-stream",
        ]
        for (name, value) in record.metadata where name != "content-type" && name != TagSet.metadataKey {
            if name.hasPrefix("x-amz-checksum-") && !checksums { continue }
            if let field = HTTPField.Name(name) { fields[field] = value }
        }
        // A whole object's checksum is FULL_OBJECT unless its upload made it COMPOSITE.
        if checksums, fields[HTTPField.Name("x-amz-checksum-type")!] == nil,
           ChecksumAlgorithm.allCases.contains(where: { record.metadata[$0.headerName] != nil }) {
            fields[HTTPField.Name("x-amz-checksum-type")!] = "FULL_OBJECT"
        }
        let tags = TagSet.of(record.metadata).tags.count
        if tags > 0 { fields[HTTPField.Name("x-amz-tagging-count")!] = String(tags) }
        return fields
    }

    /// RFC 7232 precedence: If-Match, else If-Unmodified-Since; If-None-Match, else If-Modified-Since.
    static func conditionFailure(_ record: ObjectRecord, _ headers: HTTPFields) -> HTTPResponse.Status? {
        let etag = record.etag
        let modified = record.modified.timeIntervalSince1970.rounded(.down)
        func matches(_ list: String) -> Bool {
            list.split(separator: ",").contains { let t = unquote(String($0)); return t == "*" || t == etag }
        }
        if let match = headers[named: "if-match"] {
            if !matches(match) { return .preconditionFailed }
        } else if let since = headers[named: "if-unmodified-since"].flatMap(parseHTTPDate),
                  modified > since.timeIntervalSince1970 {
            return .preconditionFailed
        }
        if let none = headers[named: "if-none-match"] {
            if matches(none) { return .notModified }
        } else if let since = headers[named: "if-modified-since"].flatMap(parseHTTPDate),
                  modified <= since.timeIntervalSince1970 {
            return .notModified
        }
        return nil
    }

    static func unquote(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let weakless = trimmed.hasPrefix("W/") ? String(trimmed.dropFirst(2)) : trimmed
        return weakless.hasPrefix("\"") && weakless.hasSuffix("\"") && weakless.count >= 2 ? String(weakless.dropFirst().dropLast()) : weakless
    }

    enum RangeRequest: Equatable {
        case whole
        case range(Range<Int64>)
        case unsatisfiable
    }

    /// `bytes=a-b`, `bytes=a-`, `bytes=-n`. Malformed or multiple ranges are ignored (the whole
    /// object is returned), as S3 does.
    static func parseRange(_ header: String, size: Int64) -> RangeRequest {
        guard header.hasPrefix("bytes="), !header.contains(",") else { return .whole }
        let spec = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return .whole }
        if parts[0].isEmpty {
            guard let suffix = Int64(parts[1]), suffix >= 0 else { return .whole }
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            return .range(max(0, size - suffix)..<size)
        }
        guard let start = Int64(parts[0]), start >= 0 else { return .whole }
        let end: Int64
        if parts[1].isEmpty {
            end = size - 1
        } else {
            guard let last = Int64(parts[1]), last >= start else { return .whole }
            end = min(last, size - 1)
        }
        guard start < size else { return .unsatisfiable }
        return .range(start..<(end + 1))
    }

    // MARK: DELETE and COPY

    func deleteObject(_ bucket: String, _ key: String, _ request: Request, _ s3: S3Request, _ caller: Caller) async throws -> Response {
        let selector = try Self.versionSelector(s3)
        let bypass = try bypassesGovernance(caller, request, bucket: bucket, key: key, record: s3.bucketRecord)
        let outcome = try await engine.delete(bucket: bucket, [DeleteRequest(key: key, version: selector)], bypassGovernance: bypass)[0].get()
        var fields = HTTPFields()
        if let id = outcome.versionID { fields[Self.versionIDHeader] = id }
        if outcome.deleteMarker { fields[Self.deleteMarkerHeader] = "true" }
        return Response(status: .noContent, headers: fields)
    }

    func copyObject(_ bucket: String, _ key: String, _ request: Request, _ s3: S3Request, _ caller: Caller) async throws -> Response {
        let headers = request.headers
        let customerKey = try customerKey(request, s3), sourceCustomerKey = try self.customerKey(request, s3, source: true)
        let (sourceBucket, sourceKey, original) = try await copySource(headers, caller, customerKey: sourceCustomerKey)
        let directive = headers[named: "x-amz-metadata-directive"]?.uppercased() ?? "COPY"
        var metadata: [String: String]
        switch directive {
        // A copy is a new version: the source's lock is not copied (the copy gets its own).
        case "COPY": metadata = original.metadata.filter { !Self.lockHeaders.contains($0.key) }
        case "REPLACE": metadata = try Self.metadata(from: headers)
        default: throw S3Error(.invalidArgument, "Unknown metadata directive.")
        }
        // Tags follow their own directive: the source's (COPY, the default) or x-amz-tagging's (REPLACE).
        // A copy that names tags without a directive means them (S3 would drop them silently).
        let taggingDirective = headers[named: "x-amz-tagging-directive"]?.uppercased() ?? (headers[named: "x-amz-tagging"] == nil ? "COPY" : "REPLACE")
        if taggingDirective == "COPY" && headers[named: "x-amz-tagging"] != nil {
            throw S3Error(.invalidArgument, "x-amz-tagging with x-amz-tagging-directive: COPY would be ignored; use REPLACE to give the copy these tags.")
        }
        switch taggingDirective {
        case "COPY": metadata[TagSet.metadataKey] = original.metadata[TagSet.metadataKey]
        case "REPLACE": metadata[TagSet.metadataKey] = try Self.requestedTags(headers)
        default: throw S3Error(.invalidArgument, "Unknown tagging directive.")
        }
        let kmsKey = try await requestedKMSKey(request, bucket: bucket, record: s3.bucketRecord, customerKey: customerKey != nil)
        if sourceBucket == bucket && sourceKey == key && directive == "COPY" && customerKey == nil && sourceCustomerKey == nil
            && headers[named: KMSHeaders.encryption] == nil && taggingDirective != "REPLACE" {
            throw S3Error(.invalidRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
        }
        metadata.merge(try lockMetadata(headers, bucket: s3.bucketRecord, now: Date(), requireDigest: false)) { $1 }
        // The bytes stream from the engine to the engine inside the gateway, never through the client:
        // those of the version the conditions were checked on, whatever was written since.
        let reader = try await engine.get(original, customerKey: sourceCustomerKey)
        let record = try await engine.put(bucket: bucket, key: key, size: original.size, body: ReaderBody(reader),
                                          metadata: metadata, condition: try putCondition(headers), customerKey: customerKey,
                                          kmsKey: kmsKey)
        var response = Self.copyResult("CopyObjectResult", modified: record.modified, etag: record.etag)
        Self.addVersionID(record, bucket: s3.bucketRecord, to: &response.headers)
        if original.versioned || headers[named: "x-amz-copy-source"]?.contains("versionId=") == true {
            response.headers[HTTPField.Name("x-amz-copy-source-version-id")!] = original.s3VersionID
        }
        CustomerKeyHeaders.echo(customerKey, into: &response.headers)
        KMSHeaders.echo(kmsKey, region: options.region, into: &response.headers)
        await addExpiration(record, bucket: s3.bucketRecord, to: &response.headers)
        return response
    }

    /// `<CopyObjectResult>` or `<CopyPartResult>`: when the copy was made and its ETag.
    static func copyResult(_ root: String, modified: Date, etag: String) -> Response {
        var xml = XMLWriter()
        xml.open(root, namespace: true)
        xml.element("LastModified", iso8601(modified))
        xml.element("ETag", "\"\(etag)\"")
        xml.close(root)
        return xmlResponse(xml)
    }

    /// The object `x-amz-copy-source` names (`bucket/key`, percent-encoded), once the caller
    /// may read it, gave its key if it is under one (SSE-C), and the `x-amz-copy-source-if-*`
    /// conditions hold.
    func copySource(_ headers: HTTPFields, _ caller: Caller,
                    customerKey: CustomerKey?) async throws -> (bucket: String, key: String, record: ObjectRecord) {
        let source = try CopySource.parse(headers[named: "x-amz-copy-source"] ?? "")
        let (bucket, key) = (source.bucket, source.key)
        let selector: VersionSelector
        do { selector = try VersionSelector(s3: source.versionID) } catch { throw S3Error(.invalidArgument, "Invalid version id specified") }
        try ObjectNames.validateBucket(bucket)
        try ObjectNames.validateKey(key)
        if case .denied(let error) = try await access(caller, .getObject, bucket: bucket, key: key, context: Self.connectionContext(caller.connection),
                                                      namingVersion: source.versionID != nil) {
            throw error
        }
        guard let record = try await engine.lookup(bucket: bucket, key: key, version: selector) else {
            throw selector == .current ? S3Error(.noSuchKey) : S3Error(.noSuchVersion)
        }
        guard !record.deleteMarker else {
            throw selector == .current ? S3Error(.noSuchKey)
                : S3Error(.invalidRequest, "The source of a copy request may not specifically refer to a delete marker by version id.")
        }
        try Engine.checkCustomerKey(customerKey, for: record)
        if Self.copyConditionFailure(record, headers) != nil { throw S3Error(.preconditionFailed) }
        return (bucket, key, record)
    }

    static func copyConditionFailure(_ record: ObjectRecord, _ headers: HTTPFields) -> HTTPResponse.Status? {
        var mapped = HTTPFields()
        for (source, target) in [("x-amz-copy-source-if-match", "if-match"), ("x-amz-copy-source-if-none-match", "if-none-match"),
                                 ("x-amz-copy-source-if-modified-since", "if-modified-since"),
                                 ("x-amz-copy-source-if-unmodified-since", "if-unmodified-since")] {
            if let value = headers[named: source] { mapped[HTTPField.Name(target)!] = value }
        }
        return conditionFailure(record, mapped).map { _ in .preconditionFailed }
    }
}

/// An object being read, as the body of another put (server-side copy).
final class ReaderBody: ObjectBody, @unchecked Sendable {
    // Read by the one task running the put.
    private var iterator: ObjectReader.AsyncIterator
    private var pending = Data()
    private var offset = 0

    init(_ reader: ObjectReader) { iterator = reader.makeAsyncIterator() }

    func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        while offset == pending.count {
            guard let next = try await iterator.next() else { return 0 }
            pending = next
            offset = 0
        }
        let n = min(buffer.count, pending.count - offset)
        pending.withUnsafeBytes { source in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offset..<(offset + n)]))
        }
        offset += n
        return n
    }
}
