import Foundation
import Hummingbird
import HTTPTypes
import NuageCatalog
import NuageCore
import NuageEngine

/// Multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy,
/// CompleteMultipartUpload, AbortMultipartUpload, ListParts, ListMultipartUploads.
extension S3Server {
    func createUpload(_ bucket: String, _ key: String, _ request: Request, _ s3: S3Request) async throws -> Response {
        let checksum = try UploadChecksum(headers: request.headers)
        let metadata = try Self.metadata(from: request.headers)
            .merging(try lockMetadata(request.headers, bucket: s3.bucketRecord, now: Date(), requireDigest: false)) { $1 }
        let customerKey = try customerKey(request, s3)
        let kmsKey = try await requestedKMSKey(request, bucket: bucket, record: s3.bucketRecord, customerKey: customerKey != nil)
        let upload = try await engine.createUpload(bucket: bucket, key: key, metadata: metadata, settings: checksum?.metadata ?? [:],
                                                   customerKey: customerKey, kmsKey: kmsKey)
        var xml = XMLWriter()
        xml.open("InitiateMultipartUploadResult", namespace: true)
        xml.element("Bucket", bucket)
        xml.element("Key", key)
        xml.element("UploadId", upload.id)
        xml.close("InitiateMultipartUploadResult")
        var response = Self.xmlResponse(xml)
        if let checksum {
            response.headers[HTTPField.Name("x-amz-checksum-algorithm")!] = checksum.algorithm.name
            response.headers[HTTPField.Name("x-amz-checksum-type")!] = checksum.kind.rawValue
        }
        CustomerKeyHeaders.echo(customerKey, into: &response.headers)
        KMSHeaders.echo(kmsKey, region: options.region, into: &response.headers)
        return response
    }

    func uploadPart(_ bucket: String, _ key: String, _ request: Request, _ s3: S3Request, _ caller: Caller) async throws -> Response {
        let (uploadID, number) = try partTarget(s3)
        let customerKey = try customerKey(request, s3)
        if let promised = UploadChecksum(upload: try await engine.upload(id: uploadID, bucket: bucket, key: key).metadata) {
            // Every part of an upload that promised a checksum carries one of its algorithm.
            let declared = try ChecksumAlgorithm.declared(in: request.headers)?.algorithm
            guard declared == promised.algorithm else {
                throw S3Error(.invalidRequest, "Checksum Type mismatch occurred, expected checksum Type: \(promised.algorithm.rawValue), actual checksum Type: \(declared?.rawValue ?? "null")")
            }
        }
        let (body, size) = try objectBody(request, caller)
        guard size <= Engine.maximumPartSize else { throw S3Error(.entityTooLarge) }
        let part = try await engine.uploadPart(uploadID: uploadID, bucket: bucket, key: key, number: number, size: size, body: body,
                                               customerKey: customerKey)
        var response: HTTPFields = [.eTag: "\"\(part.etag)\"", .contentLength: "0"]
        for (name, value) in body.verifiedChecksums { response[HTTPField.Name(name)!] = value }
        CustomerKeyHeaders.echo(customerKey, into: &response)
        try await echoKMSKey(part.manifest, into: &response)
        return Response(status: .ok, headers: response)
    }

    func uploadPartCopy(_ bucket: String, _ key: String, _ request: Request, _ s3: S3Request, _ caller: Caller) async throws -> Response {
        let (uploadID, number) = try partTarget(s3)
        let customerKey = try customerKey(request, s3), sourceCustomerKey = try self.customerKey(request, s3, source: true)
        let upload = try await engine.upload(id: uploadID, bucket: bucket, key: key)
        try Engine.checkCustomerKey(customerKey, for: upload)
        if let promised = UploadChecksum(upload: upload.metadata) {
            throw S3Error(.notImplemented, "UploadPartCopy into an upload that promised \(promised.algorithm.name) checksums is not implemented: upload the part's bytes with its checksum.")
        }
        let (_, _, original) = try await copySource(request.headers, caller, customerKey: sourceCustomerKey)
        var range: Range<Int64> = 0..<original.size
        if let text = request.headers[named: "x-amz-copy-source-range"] {
            range = try Self.copyRange(text, size: original.size)
        }
        guard Int64(range.count) <= Engine.maximumPartSize else { throw S3Error(.entityTooLarge) }
        // The version the conditions were checked on, whatever was written since.
        let reader = try await engine.get(original, range: range.isEmpty ? nil : range, customerKey: sourceCustomerKey)
        let part = try await engine.uploadPart(uploadID: uploadID, bucket: bucket, key: key, number: number,
                                               size: Int64(range.count), body: ReaderBody(reader), customerKey: customerKey)
        var response = Self.copyResult("CopyPartResult", modified: part.modified, etag: part.etag)
        CustomerKeyHeaders.echo(customerKey, into: &response.headers)
        try await echoKMSKey(part.manifest, into: &response.headers)
        return response
    }

    func completeUpload(_ bucket: String, _ key: String, _ request: Request, _ s3: S3Request) async throws -> Response {
        let uploadID = s3.queryValue("uploadId") ?? ""
        let customerKey = try customerKey(request, s3)
        // <CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"…"</ETag></Part>…
        let root = try await xmlBody(request, root: "CompleteMultipartUpload", bodyChecksum: false)
        var listed: [Int: [ChecksumAlgorithm: String]] = [:]
        let parts = try root.all("Part").map { part -> (number: Int, etag: String) in
            guard let number = part.value("PartNumber").flatMap({ Int($0) }), let etag = part.value("ETag") else {
                throw S3Error(.malformedXML)
            }
            for algorithm in ChecksumAlgorithm.allCases {
                if let value = part.value("Checksum\(algorithm.name)") { listed[number, default: [:]][algorithm] = value }
            }
            return (number, Self.unquote(etag))
        }
        guard !parts.isEmpty else { throw S3Error(.malformedXML, "You must specify at least one part.") }
        let declared = try ChecksumAlgorithm.declared(in: request.headers)
        let requestedType = request.headers[named: "x-amz-checksum-type"]?.uppercased()
        let record = try await engine.completeUpload(uploadID: uploadID, bucket: bucket, key: key, parts: parts,
                                                     condition: try putCondition(request.headers), customerKey: customerKey) { upload, chosen in
            try Self.completionChecksum(UploadChecksum(upload: upload.metadata), parts: chosen, listed: listed, declared: declared,
                                        requestedType: requestedType, underCustomerKey: Engine.isUnderCustomerKey(upload))
        }
        var xml = XMLWriter()
        xml.open("CompleteMultipartUploadResult", namespace: true)
        xml.element("Location", "http://\(s3.host)/\(bucket)/\(key)")
        xml.element("Bucket", bucket)
        xml.element("Key", key)
        xml.element("ETag", "\"\(record.etag)\"")
        Self.writeChecksums(record.metadata, to: &xml)
        xml.close("CompleteMultipartUploadResult")
        var response = Self.xmlResponse(xml)
        CustomerKeyHeaders.echo(customerKey, into: &response.headers)
        try await echoKMSKey(record.parts[0], into: &response.headers)
        Self.addVersionID(record, bucket: s3.bucketRecord, to: &response.headers)
        await addExpiration(record, bucket: s3.bucketRecord, to: &response.headers)
        return response
    }

    /// The whole object's checksum metadata at completion. Without a promised checksum, part
    /// checksums the request lists are still checked against the parts' (never ignored).
    /// Under a client's key (SSE-C) no checksum of the plaintext is kept: each part's was
    /// checked as it arrived, and a whole-object value cannot be checked, so it is refused.
    static func completionChecksum(_ promised: UploadChecksum?, parts: [PartRecord], listed: [Int: [ChecksumAlgorithm: String]],
                                   declared: (algorithm: ChecksumAlgorithm, value: String?)?, requestedType: String?,
                                   underCustomerKey: Bool) throws -> [String: String] {
        if underCustomerKey {
            if declared != nil {
                throw S3Error(.invalidRequest, "No checksum of an SSE-C object's plaintext is kept, so a whole-object checksum cannot be checked; complete without it.")
            }
            return [:]
        }
        guard let promised else {
            if declared != nil {
                throw S3Error(.invalidRequest, "The upload was created without x-amz-checksum-algorithm, so it has no whole-object checksum to check.")
            }
            for part in parts {
                for (algorithm, value) in listed[part.number] ?? [:] where part.checksums[algorithm.headerName] != value {
                    throw S3Error(.invalidPart, "The \(algorithm.name) checksum listed for part \(part.number) is not the part's.")
                }
            }
            return [:]
        }
        if let type = requestedType, type != promised.kind.rawValue {
            throw S3Error(.invalidRequest, "The upload was created with the \(promised.kind.rawValue) checksum type, not \(type.prefix(20)).")
        }
        if let declared, declared.algorithm != promised.algorithm {
            throw S3Error(.invalidRequest, "The upload promised \(promised.algorithm.name) checksums, not \(declared.algorithm.name).")
        }
        if let other = listed.values.flatMap(\.keys).first(where: { $0 != promised.algorithm }) {
            throw S3Error(.invalidPart, "The upload promised \(promised.algorithm.name) checksums; a part lists \(other.name).")
        }
        return try promised.objectMetadata(parts: parts, listed: listed.compactMapValues { $0[promised.algorithm] },
                                           declared: declared?.value)
    }

    /// `<ChecksumCRC32>…</ChecksumCRC32><ChecksumType>…</ChecksumType>` from an object's metadata.
    static func writeChecksums(_ metadata: [String: String], to xml: inout XMLWriter) {
        var any = false
        for algorithm in ChecksumAlgorithm.allCases {
            if let value = metadata[algorithm.headerName] {
                xml.element("Checksum\(algorithm.name)", value)
                any = true
            }
        }
        if any { xml.element("ChecksumType", metadata["x-amz-checksum-type"] ?? "FULL_OBJECT") }
    }

    func abortUpload(_ bucket: String, _ key: String, _ s3: S3Request) async throws -> Response {
        try await engine.abortUpload(uploadID: s3.queryValue("uploadId") ?? "", bucket: bucket, key: key)
        return Response(status: .noContent)
    }

    func listParts(_ bucket: String, _ key: String, _ request: Request, _ s3: S3Request) async throws -> Response {
        let uploadID = s3.queryValue("uploadId") ?? ""
        // SSE-C headers are optional here (AWS takes them); given, they must be the upload's key.
        let customerKey = try customerKey(request, s3)
        if customerKey != nil { try Engine.checkCustomerKey(customerKey, for: try await engine.upload(id: uploadID, bucket: bucket, key: key)) }
        let maxParts = try Self.limit(s3, "max-parts")
        let marker = try s3.queryValue("part-number-marker").map { text in
            guard let value = Int(text), value >= 0 else { throw S3Error(.invalidArgument, "part-number-marker must be a non-negative integer.") }
            return value
        } ?? 0
        let all = try await engine.parts(uploadID: uploadID, bucket: bucket, key: key).filter { $0.number > marker }
        let promised = UploadChecksum(upload: try await engine.upload(id: uploadID, bucket: bucket, key: key).metadata)
        let page = all.prefix(maxParts)
        var xml = XMLWriter()
        xml.open("ListPartsResult", namespace: true)
        xml.element("Bucket", bucket)
        xml.element("Key", key)
        xml.element("UploadId", uploadID)
        Self.writeOwner(&xml, s3.bucketOwner, as: "Initiator")
        Self.writeOwner(&xml, s3.bucketOwner)
        xml.element("StorageClass", "STANDARD")
        if let promised {
            xml.element("ChecksumAlgorithm", promised.algorithm.name)
            xml.element("ChecksumType", promised.kind.rawValue)
        }
        xml.element("PartNumberMarker", String(marker))
        if let last = page.last { xml.element("NextPartNumberMarker", String(last.number)) }
        xml.element("MaxParts", String(maxParts))
        xml.element("IsTruncated", all.count > page.count ? "true" : "false")
        for part in page {
            xml.open("Part")
            xml.element("PartNumber", String(part.number))
            xml.element("LastModified", Self.iso8601(part.modified))
            xml.element("ETag", "\"\(part.etag)\"")
            xml.element("Size", String(part.size))
            for algorithm in ChecksumAlgorithm.allCases {
                if let value = part.checksums[algorithm.headerName] { xml.element("Checksum\(algorithm.name)", value) }
            }
            xml.close("Part")
        }
        xml.close("ListPartsResult")
        return Self.xmlResponse(xml)
    }

    func listUploads(_ bucket: String, _ s3: S3Request) async throws -> Response {
        let prefix = s3.queryValue("prefix") ?? ""
        let delimiter = s3.queryValue("delimiter").flatMap { $0.isEmpty ? nil : $0 }
        let maxUploads = try Self.limit(s3, "max-uploads")
        let keyMarker = s3.queryValue("key-marker").flatMap { $0.isEmpty ? nil : $0 }
        let idMarker = s3.queryValue("upload-id-marker").flatMap { $0.isEmpty ? nil : $0 }
        let urlEncoding = try Self.urlEncoding(s3)
        let encode: (String) -> String = { urlEncoding ? Self.urlEncode($0) : $0 }
        // Without an upload-id-marker, listing resumes after every upload of key-marker.
        var after: (key: String, id: String?)? = keyMarker.map { (key: $0, id: idMarker) }
        var uploads: [UploadRecord] = []
        var prefixes: [String] = []
        var truncated = false
        var next: (key: String, id: String)?
        scan: while true {
            let batch = try await engine.listUploads(bucket: bucket, prefix: prefix, after: after, limit: 1000)
            for upload in batch {
                if let delimiter, let common = Engine.commonPrefix(of: upload.key, prefix: prefix, delimiter: delimiter) {
                    if prefixes.last == common { after = (upload.key, upload.id); continue }
                    if uploads.count + prefixes.count == maxUploads { truncated = true; break scan }
                    prefixes.append(common)
                } else {
                    if uploads.count + prefixes.count == maxUploads { truncated = true; break scan }
                    uploads.append(upload)
                }
                next = (upload.key, upload.id)
                after = (upload.key, upload.id)
            }
            if batch.count < 1000 { break }
        }
        var xml = XMLWriter()
        xml.open("ListMultipartUploadsResult", namespace: true)
        xml.element("Bucket", bucket)
        xml.element("KeyMarker", encode(keyMarker ?? ""))
        xml.element("UploadIdMarker", idMarker ?? "")
        if truncated, let next {
            xml.element("NextKeyMarker", encode(next.key))
            xml.element("NextUploadIdMarker", next.id)
        }
        xml.element("Prefix", encode(prefix))
        if let delimiter { xml.element("Delimiter", encode(delimiter)) }
        if urlEncoding { xml.element("EncodingType", "url") }
        xml.element("MaxUploads", String(maxUploads))
        xml.element("IsTruncated", truncated ? "true" : "false")
        for upload in uploads {
            xml.open("Upload")
            xml.element("Key", encode(upload.key))
            xml.element("UploadId", upload.id)
            Self.writeOwner(&xml, s3.bucketOwner, as: "Initiator")
            Self.writeOwner(&xml, s3.bucketOwner)
            xml.element("StorageClass", "STANDARD")
            xml.element("Initiated", Self.iso8601(upload.created))
            xml.close("Upload")
        }
        for common in prefixes {
            xml.open("CommonPrefixes")
            xml.element("Prefix", encode(common))
            xml.close("CommonPrefixes")
        }
        xml.close("ListMultipartUploadsResult")
        return Self.xmlResponse(xml)
    }

    // MARK: Helpers

    /// `uploadId` and `partNumber` of an UploadPart request.
    func partTarget(_ s3: S3Request) throws -> (String, Int) {
        guard let uploadID = s3.queryValue("uploadId"), let text = s3.queryValue("partNumber") else {
            throw S3Error(.invalidRequest, "UploadPart needs both uploadId and partNumber.")
        }
        guard let number = Int(text), Engine.partNumbers.contains(number) else {
            throw S3Error(.invalidArgument, "Part number must be an integer between 1 and 10000, inclusive.")
        }
        return (uploadID, number)
    }

    /// `bytes=first-last`, both given, `first ≤ last < size` (stricter than a GET's Range, as S3).
    /// `x-amz-copy-source-range: bytes=first-last`, checked against the source's size as AWS
    /// checks it: malformed, or outside the source, is `InvalidArgument` (AWS's wording each).
    static func copyRange(_ text: String, size: Int64) throws -> Range<Int64> {
        let bounds = text.hasPrefix("bytes=") ? text.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false) : []
        guard bounds.count == 2, let first = Int64(bounds[0]), let last = Int64(bounds[1]), first >= 0, first <= last else {
            throw S3Error(.invalidArgument, "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
        }
        guard last < size else {
            throw S3Error(.invalidArgument, "Range specified is not valid for source object of size: \(size)",
                          details: [("ArgumentName", "x-amz-copy-source-range"), ("ArgumentValue", String(text.prefix(100)))])
        }
        return first..<(last + 1)
    }

    /// A `max-*` query parameter: 0 to 1000, default 1000.
    static func limit(_ s3: S3Request, _ name: String) throws -> Int {
        guard let text = s3.queryValue(name) else { return 1000 }
        guard let value = Int(text), value >= 0 else { throw S3Error(.invalidArgument, "\(name) must be a non-negative integer.") }
        return min(value, 1000)
    }
}
