import AsyncHTTPClient
import Foundation
import NIOCore
import NuageCore
import NuageSigV4

extension S3Client {
    /// CreateMultipartUpload; returns the upload id.
    public func createUpload(bucket: String, key: String) async throws -> String {
        let root = try await xml(send(.POST, bucket: bucket, key: key, query: [("uploads", "")], body: .bytes(ByteBuffer()),
                                           payloadHash: SigV4.emptyPayloadHash), expecting: nil)
        guard let id = root.value("UploadId"), !id.isEmpty else {
            throw S3ClientError(status: 200, body: "", request: "POST /\(bucket)/\(key)?uploads: no UploadId")
        }
        return id
    }

    /// UploadPart; returns the part's ETag as sent back (quotes included).
    public func uploadPart(bucket: String, key: String, uploadID: String, number: Int, body: ByteBuffer) async throws -> String {
        let response = try await send(.PUT, bucket: bucket, key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)],
                                      body: .bytes(body))
        guard let etag = response.headers.first(name: "etag") else {
            throw S3ClientError(status: Int(response.status.code), body: "", request: "PUT part \(number) of \(key): no ETag")
        }
        return etag
    }

    /// CompleteMultipartUpload with the parts' ETags in order. S3 may answer 200 with an error
    /// document; that is thrown too.
    public func completeUpload(bucket: String, key: String, uploadID: String, etags: [String]) async throws {
        var xml = "<CompleteMultipartUpload>"
        for (index, etag) in etags.enumerated() {
            let escaped = etag.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "\"", with: "&quot;")
            xml += "<Part><PartNumber>\(index + 1)</PartNumber><ETag>\(escaped)</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let response = try await send(.POST, bucket: bucket, key: key, query: [("uploadId", uploadID)],
                                      body: .bytes(ByteBuffer(string: xml)))
        let body = try await response.body.collect(upTo: 1 << 20)
        if String(buffer: body).contains("<Error>") {
            throw S3ClientError(status: 200, body: String(buffer: body), request: "POST /\(bucket)/\(key)?uploadId")
        }
    }

    public func abortUpload(bucket: String, key: String, uploadID: String) async throws {
        _ = try await send(.DELETE, bucket: bucket, key: key, query: [("uploadId", uploadID)])
    }

    /// A multipart upload in progress.
    public struct Upload: Sendable, Hashable {
        public var key: String
        public var id: String
        /// When it was created, if the server said in a form this client reads.
        public var initiated: Date?
    }

    /// ListMultipartUploads: every upload in progress whose key starts with `prefix`
    /// (following the key and upload-id markers).
    public func listUploads(bucket: String, prefix: String) async throws -> [Upload] {
        var uploads: [Upload] = []
        var markers: (key: String, id: String)?
        while true {
            var query: [(name: String, value: String)] = [("uploads", ""), ("prefix", prefix)]
            if let markers { query += [("key-marker", markers.key), ("upload-id-marker", markers.id)] }
            let root: NuageCore.XMLNode
            do {
                root = try await xml(send(.GET, bucket: bucket, query: query), expecting: "ListMultipartUploadsResult")
            } catch let error as S3ClientError where error.code == "NoSuchUpload" {
                break  // rclone serve s3 answers so when there are none
            }
            for item in root.all("Upload") {
                guard let key = item.first("Key")?.text, let id = item.value("UploadId") else {
                    throw S3ClientError(status: 200, body: "", request: "GET /\(bucket)?uploads: an upload lacks Key or UploadId")
                }
                uploads.append(Upload(key: key, id: id, initiated: item.value("Initiated").flatMap(Self.timestamp)))
            }
            guard root.value("IsTruncated") == "true", let key = root.value("NextKeyMarker"), let id = root.value("NextUploadIdMarker"),
                  markers.map({ $0 != (key, id) }) ?? true else { break }
            markers = (key, id)
        }
        return uploads
    }

    /// An S3 timestamp (`2026-12-03T14:05:09.000Z`, fractional seconds optional).
    static func timestamp(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
