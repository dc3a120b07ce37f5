import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import NuageEngine
import Testing

/// Multipart uploads, in process.
@Suite struct MultipartHandlerTests {
    static let partSize = Int(Engine.minimumPartSize)

    @Test func createUploadCompleteAndErrors() async throws {
        try await withServer { c in
            try await c.send(.put, "/bkt")
            // An upload that promises a checksum refuses a part without one.
            let promising = try await c.send(.post, "/bkt/sum", query: [("uploads", "")], headers: [("x-amz-checksum-algorithm", "CRC32")])
            #expect(promising[header: "x-amz-checksum-algorithm"] == "CRC32" && promising[header: "x-amz-checksum-type"] == "COMPOSITE")
            let promised = try #require(promising.values("UploadId").first)
            #expect(try await c.send(.put, "/bkt/sum", query: [("partNumber", "1"), ("uploadId", promised)], body: [1]).errorCode == "InvalidRequest")
            try await c.send(.delete, "/bkt/sum", query: [("uploadId", promised)])
            let created = try await c.send(.post, "/bkt/big", query: [("uploads", "")], headers: [("content-type", "text/csv")])
            let upload = try #require(created.values("UploadId").first)
            let parts = [randomBytes(Self.partSize), randomBytes(1000)]
            var etags: [String] = []
            for (index, part) in parts.enumerated() {
                let response = try await c.send(.put, "/bkt/big", query: [("partNumber", "\(index + 1)"), ("uploadId", upload)], body: part)
                etags.append(try #require(response[header: "ETag"]))
                #expect(etags.last == "\"\(Array(Insecure.MD5.hash(data: part)).hex)\"")
            }
            let listed = try await c.send(.get, "/bkt/big", query: [("uploadId", upload)])
            #expect(listed.values("PartNumber") == ["1", "2"] && listed.values("Size") == [String(Self.partSize), "1000"])
            #expect(try await c.send(.get, "/bkt", query: [("uploads", "")]).values("UploadId") == [upload])

            func complete(_ items: [(Int, String)], to key: String = "big", id: String = upload) async throws -> TestResponse {
                let xml = "<CompleteMultipartUpload>" + items.map { "<Part><PartNumber>\($0.0)</PartNumber><ETag>\($0.1)</ETag></Part>" }.joined()
                    + "</CompleteMultipartUpload>"
                return try await c.send(.post, "/bkt/\(key)", query: [("uploadId", id)], body: Array(xml.utf8))
            }
            #expect(try await complete([(2, etags[1]), (1, etags[0])]).errorCode == "InvalidPartOrder")
            #expect(try await complete([(1, etags[1])]).errorCode == "InvalidPart")
            #expect(try await complete([], to: "big").errorCode == "MalformedXML")
            #expect(try await c.send(.post, "/bkt/big", query: [("uploadId", upload)], body: Array("<Complete".utf8)).errorCode == "MalformedXML")
            #expect(try await complete([(1, etags[0])], to: "elsewhere").errorCode == "NoSuchUpload")
            #expect(try await c.send(.put, "/bkt/big", query: [("partNumber", "0"), ("uploadId", upload)], body: [1]).errorCode == "InvalidArgument")
            #expect(try await c.send(.put, "/bkt/big", query: [("partNumber", "x"), ("uploadId", upload)], body: [1]).errorCode == "InvalidArgument")

            let done = try await complete([(1, etags[0]), (2, etags[1])])
            var digests = Insecure.MD5()
            for part in parts { digests.update(data: Array(Insecure.MD5.hash(data: part))) }
            #expect(done.values("ETag") == ["&quot;\(Array(digests.finalize()).hex)-2&quot;"] || done.values("ETag") == ["\"\(Array(digests.finalize()).hex)-2\""])
            let get = try await c.send(.get, "/bkt/big")
            #expect(get.bytes == parts[0] + parts[1] && get[header: "Content-Type"] == "text/csv" && get[header: "x-amz-mp-parts-count"] == "2")
            let second = try await c.send(.get, "/bkt/big", query: [("partNumber", "2")])
            #expect(second.status == .partialContent && second.bytes == parts[1])
            #expect(try await c.send(.get, "/bkt/big", query: [("partNumber", "3")]).errorCode == "InvalidPartNumber")
            #expect(try await c.send(.get, "/bkt/big", query: [("uploadId", upload)]).errorCode == "NoSuchUpload")
        }
    }

    @Test func abortAndUploadPartCopy() async throws {
        try await withServer { c in
            try await c.send(.put, "/bkt")
            let source = randomBytes(10_000)
            try await c.send(.put, "/bkt/src", body: source)
            let upload = try #require(try await c.send(.post, "/bkt/dst", query: [("uploads", "")]).values("UploadId").first)
            let copy = try await c.send(.put, "/bkt/dst", query: [("partNumber", "1"), ("uploadId", upload)],
                                        headers: [("x-amz-copy-source", "bkt/src"), ("x-amz-copy-source-range", "bytes=10-19")])
            #expect(copy.text.contains("<CopyPartResult"))
            for range in ["bytes=10-", "bytes=-5", "bytes=5-10000", "bytes=9-3"] {
                let bad = try await c.send(.put, "/bkt/dst", query: [("partNumber", "2"), ("uploadId", upload)],
                                           headers: [("x-amz-copy-source", "bkt/src"), ("x-amz-copy-source-range", range)])
                #expect(bad.errorCode == "InvalidArgument", "\(range)")
            }
            let etag = try #require(copy.values("ETag").first).replacingOccurrences(of: "&quot;", with: "\"")
            let xml = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\(etag)</ETag></Part></CompleteMultipartUpload>"
            #expect(try await c.send(.post, "/bkt/dst", query: [("uploadId", upload)], body: Array(xml.utf8)).status == .ok)
            #expect(try await c.send(.get, "/bkt/dst").bytes == Array(source[10..<20]))

            let aborted = try #require(try await c.send(.post, "/bkt/gone", query: [("uploads", "")]).values("UploadId").first)
            try await c.send(.put, "/bkt/gone", query: [("partNumber", "1"), ("uploadId", aborted)], body: [1, 2, 3])
            #expect(try await c.send(.delete, "/bkt/gone", query: [("uploadId", aborted)]).status == .noContent)
            #expect(try await c.send(.delete, "/bkt/gone", query: [("uploadId", aborted)]).errorCode == "NoSuchUpload")
            #expect(try await c.send(.get, "/bkt", query: [("uploads", "")]).values("UploadId").isEmpty)
        }
    }

    /// ListMultipartUploads pages by key-marker and upload-id-marker; a key-marker alone skips
    /// every upload of that key.
    @Test func listUploadsResumesAfterMarkers() async throws {
        try await withServer { c in
            try await c.send(.put, "/bkt")
            var ids: [String: [String]] = [:]
            for key in ["a", "b", "b", "c"] {
                let id = try #require(try await c.send(.post, "/bkt/\(key)", query: [("uploads", "")]).values("UploadId").first)
                ids[key, default: []].append(id)
            }
            let all = try await c.send(.get, "/bkt", query: [("uploads", "")])
            #expect(all.values("Key") == ["a", "b", "b", "c"])
            let page = try await c.send(.get, "/bkt", query: [("uploads", ""), ("max-uploads", "2")])
            #expect(page.values("IsTruncated") == ["true"] && page.values("Key") == ["a", "b"])
            let marker = try #require(page.values("NextUploadIdMarker").first)
            let rest = try await c.send(.get, "/bkt", query: [("uploads", ""), ("key-marker", "b"), ("upload-id-marker", marker)])
            #expect(rest.values("Key") == ["b", "c"])
            #expect(Set(page.values("UploadId") + rest.values("UploadId")) == Set(ids.values.flatMap { $0 }))
            let afterKey = try await c.send(.get, "/bkt", query: [("uploads", ""), ("key-marker", "b")])
            #expect(afterKey.values("Key") == ["c"] && afterKey.values("UploadId") == ids["c"])
        }
    }
}
