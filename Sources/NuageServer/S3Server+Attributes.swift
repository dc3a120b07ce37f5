import Foundation
import Hummingbird
import HTTPTypes
import NuageCore
import NuageEngine

/// GetObjectAttributes: what `x-amz-object-attributes` asks of an object (ETag, Checksum,
/// ObjectParts with paging, StorageClass, ObjectSize) without reading its bytes.
extension S3Server {
    static let objectAttributes: Set<String> = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]

    func objectAttributes(_ bucket: String, _ key: String, _ request: Request, _ s3: S3Request) async throws -> Response {
        let headers = request.headers
        let wanted = (headers[named: "x-amz-object-attributes"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !wanted.isEmpty else {
            throw S3Error(.invalidArgument, "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty")
        }
        if let unknown = wanted.first(where: { !Self.objectAttributes.contains($0) }) {
            throw S3Error(.invalidArgument, "Invalid attribute name specified: \(unknown.prefix(40))")
        }
        let maxParts = min(1000, try Self.headerNumber(headers, "x-amz-max-parts", default: 1000, range: 0...Int.max))
        let marker = try Self.headerNumber(headers, "x-amz-part-number-marker", default: 0, range: 0...Engine.partNumbers.upperBound)
        let record = try await readableVersion(bucket, key, s3)
        // An object under a client's key says nothing about itself without that key.
        try Engine.checkCustomerKey(try customerKey(request, s3), for: record)

        var xml = XMLWriter()
        xml.open("GetObjectAttributesResponse", namespace: true)
        if wanted.contains("ETag") { xml.element("ETag", record.etag) }
        if wanted.contains("Checksum") && ChecksumAlgorithm.allCases.contains(where: { record.metadata[$0.headerName] != nil }) {
            xml.open("Checksum")
            Self.writeChecksums(record.metadata, to: &xml)
            xml.close("Checksum")
        }
        if wanted.contains("ObjectParts") && record.parts.count > 1 {
            let numbered = Array(record.parts.enumerated()).map { (number: $0.offset + 1, size: $0.element.size) }
            let page = numbered.filter { $0.number > marker }.prefix(maxParts)
            let truncated = (page.last?.number ?? marker) < numbered.count
            xml.open("ObjectParts")
            xml.element("IsTruncated", truncated ? "true" : "false")
            xml.element("MaxParts", String(maxParts))
            if let last = page.last?.number, truncated { xml.element("NextPartNumberMarker", String(last)) }
            xml.element("PartNumberMarker", String(marker))
            for part in page {
                xml.open("Part")
                xml.element("PartNumber", String(part.number))
                xml.element("Size", String(part.size))
                xml.close("Part")
            }
            xml.element("PartsCount", String(numbered.count))
            xml.close("ObjectParts")
        }
        if wanted.contains("StorageClass") { xml.element("StorageClass", "STANDARD") }
        if wanted.contains("ObjectSize") { xml.element("ObjectSize", String(record.size)) }
        xml.close("GetObjectAttributesResponse")
        var response = Self.xmlResponse(xml)
        Self.addVersionID(record, bucket: s3.bucketRecord, to: &response.headers)
        response.headers[.lastModified] = Self.httpDate(record.modified)
        return response
    }

    /// An integer request header, or `default` without it.
    static func headerNumber(_ headers: HTTPFields, _ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = headers[named: name] else { return value }
        guard let number = Int(text.trimmingCharacters(in: .whitespaces)), range.contains(number) else {
            throw S3Error(.invalidArgument, "\(name) must be an integer between \(range.lowerBound) and \(range.upperBound).")
        }
        return number
    }
}
