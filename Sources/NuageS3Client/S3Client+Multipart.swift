import AsyncHTTPClient
import Foundation
import NIOCore
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
}
