import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import NuageCore
@testable import NuageServer
import Testing

/// Bucket and object operations, in process, with their S3 errors.
@Suite struct ObjectHandlerTests {
    @Test func bucketOperations() async throws {
        try await withServer { c in
            #expect(try await c.send(.put, "/photos").status == .ok)
            #expect(try await c.send(.put, "/photos").errorCode == "BucketAlreadyOwnedByYou")
            for bad in ["Photos", "ab", "a..b", "192.168.0.1", "-bucket"] {
                let response = try await c.send(.put, "/\(bad)")
                #expect(response.status == .badRequest && response.errorCode == "InvalidBucketName", "\(bad)")
            }
            let list = try await c.send(.get, "/")
            #expect(list.values("Name") == ["photos"])
            #expect(try await c.send(.head, "/photos").status == .ok)
            #expect(try await c.send(.head, "/nothing").status == .notFound)
            #expect(try await c.send(.get, "/photos", query: [("location", "")]).text.contains("<LocationConstraint"))
            #expect(try await c.send(.get, "/photos", query: [("versioning", "")]).text.contains("<VersioningConfiguration"))
            try await c.send(.put, "/photos/a", body: [1])
            let notEmpty = try await c.send(.delete, "/photos")
            #expect(notEmpty.status == .conflict && notEmpty.errorCode == "BucketNotEmpty")
            try await c.send(.delete, "/photos/a")
            #expect(try await c.send(.delete, "/photos").status == .noContent)
            #expect(try await c.send(.delete, "/photos").errorCode == "NoSuchBucket")
        }
    }

    @Test func putGetHeadDeleteWithMetadataAndChecksums() async throws {
        try await withServer { c in
            try await c.send(.put, "/bkt")
            let data = randomBytes(3 << 20 + 17)
            var crc = ChecksumAlgorithm.crc32.hasher()
            data.withUnsafeBytes { crc.update($0) }
            let put = try await c.send(.put, "/bkt/dir/file name.bin", headers: [
                ("content-type", "image/png"), ("x-amz-meta-owner", "ana"), ("cache-control", "no-cache"),
                ("content-md5", Data(Insecure.MD5.hash(data: data)).base64EncodedString()),
                ("x-amz-checksum-crc32", crc.finalBase64())], body: data)
            #expect(put.status == .ok)
            #expect(put[header: "ETag"] == "\"\(Array(Insecure.MD5.hash(data: data)).hex)\"")
            #expect(put[header: "x-amz-request-id"]?.isEmpty == false)
            let get = try await c.send(.get, "/bkt/dir/file name.bin", headers: [("x-amz-checksum-mode", "ENABLED")])
            #expect(get.status == .ok && get.bytes == data)
            #expect(get[header: "Content-Type"] == "image/png" && get[header: "x-amz-meta-owner"] == "ana")
            #expect(get[header: "Cache-Control"] == "no-cache" && get[header: "x-amz-checksum-crc32"] == crc.finalBase64())
            let head = try await c.send(.head, "/bkt/dir/file name.bin")
            #expect(head.status == .ok && head[header: "Content-Length"] == String(data.count) && head.body.readableBytes == 0)
            #expect(try await c.send(.delete, "/bkt/dir/file name.bin").status == .noContent)
            #expect(try await c.send(.delete, "/bkt/dir/file name.bin").status == .noContent, "deleting a missing key succeeds")
            let gone = try await c.send(.get, "/bkt/dir/file name.bin")
            #expect(gone.status == .notFound && gone.errorCode == "NoSuchKey")
            #expect(gone.text.contains("<Resource>/bkt/dir/file name.bin</Resource>") && gone.text.contains("<RequestId>"))
            #expect(try await c.send(.head, "/bkt/missing").status == .notFound)
            #expect(try await c.send(.get, "/nobucket/k").errorCode == "NoSuchBucket")
        }
    }

    @Test func digestsThatDoNotMatchStoreNothing() async throws {
        try await withServer { c in
            try await c.send(.put, "/bkt")
            let data = randomBytes(1000)
            let wrongMD5 = try await c.send(.put, "/bkt/k", headers: [("content-md5", Data(Insecure.MD5.hash(data: [1])).base64EncodedString())], body: data)
            #expect(wrongMD5.errorCode == "BadDigest")
            #expect(try await c.send(.put, "/bkt/k", headers: [("content-md5", "not base64")], body: data).errorCode == "InvalidDigest")
            let wrongCRC = try await c.send(.put, "/bkt/k", headers: [("x-amz-checksum-crc32", "AAAAAA==")], body: data)
            #expect(wrongCRC.errorCode == "BadDigest")
            let wrongSHA = try await c.send(.put, "/bkt/k", body: data, payloadHash: Array(SHA256.hash(data: [9])).hex)
            #expect(wrongSHA.errorCode == "XAmzContentSHA256Mismatch")
            #expect(try await c.send(.get, "/bkt/k").errorCode == "NoSuchKey")
        }
    }

    @Test func badKeysAndRanges() async throws {
        try await withServer { c in
            try await c.send(.put, "/bkt")
            let long = try await c.send(.put, "/bkt/" + String(repeating: "k", count: 1025), body: [1])
            #expect(long.errorCode == "KeyTooLongError")
            #expect(try await c.send(.put, "/bkt/a/../c", body: [1]).errorCode == "InvalidArgument")
            let data = Array(0..<100).map(UInt8.init)
            try await c.send(.put, "/bkt/r", body: data)
            for (range, expected, total) in [("bytes=10-19", Array(data[10..<20]), "bytes 10-19/100"), ("bytes=90-", Array(data[90...]), "bytes 90-99/100"),
                                             ("bytes=-5", Array(data[95...]), "bytes 95-99/100"), ("bytes=98-500", Array(data[98...]), "bytes 98-99/100")] {
                let response = try await c.send(.get, "/bkt/r", headers: [("range", range)])
                #expect(response.status == .partialContent && response.bytes == expected && response[header: "Content-Range"] == total, "\(range)")
            }
            let unsatisfiable = try await c.send(.get, "/bkt/r", headers: [("range", "bytes=100-")])
            #expect(unsatisfiable.status == .rangeNotSatisfiable && unsatisfiable.errorCode == "InvalidRange")
            #expect(try await c.send(.get, "/bkt/r", headers: [("range", "bytes=5-2")]).bytes == data, "a malformed range is ignored, as S3 does")
        }
    }

    @Test func conditionalRequests() async throws {
        try await withServer { c in
            try await c.send(.put, "/bkt")
            let etag = try #require(try await c.send(.put, "/bkt/k", body: [1, 2, 3])[header: "ETag"])
            #expect(try await c.send(.get, "/bkt/k", headers: [("if-none-match", etag)]).status == .notModified)
            #expect(try await c.send(.get, "/bkt/k", headers: [("if-match", "\"other\"")]).errorCode == "PreconditionFailed")
            #expect(try await c.send(.get, "/bkt/k", headers: [("if-match", etag)]).status == .ok)
            let future = S3Server.httpDate(Date().addingTimeInterval(3600)), past = S3Server.httpDate(Date().addingTimeInterval(-3600))
            #expect(try await c.send(.get, "/bkt/k", headers: [("if-modified-since", future)]).status == .notModified)
            #expect(try await c.send(.head, "/bkt/k", headers: [("if-unmodified-since", past)]).status == .preconditionFailed)
            #expect(try await c.send(.put, "/bkt/k", headers: [("if-none-match", "*")], body: [4]).errorCode == "PreconditionFailed")
            #expect(try await c.send(.put, "/bkt/new", headers: [("if-none-match", "*")], body: [4]).status == .ok)
            #expect(try await c.send(.put, "/bkt/k", headers: [("if-match", "\"nope\"")], body: [5]).errorCode == "PreconditionFailed")
            #expect(try await c.send(.put, "/bkt/k", headers: [("if-match", etag)], body: [5]).status == .ok)
            #expect(try await c.send(.get, "/bkt/k").bytes == [5])
        }
    }

    @Test func copyObject() async throws {
        try await withServer { c in
            try await c.send(.put, "/bkt")
            let data = randomBytes(70_000)
            try await c.send(.put, "/bkt/src", headers: [("content-type", "text/x-a"), ("x-amz-meta-k", "v")], body: data)
            let copied = try await c.send(.put, "/bkt/dst", headers: [("x-amz-copy-source", "/bkt/src")])
            #expect(copied.status == .ok && copied.text.contains("<CopyObjectResult"))
            let dst = try await c.send(.get, "/bkt/dst")
            #expect(dst.bytes == data && dst[header: "Content-Type"] == "text/x-a" && dst[header: "x-amz-meta-k"] == "v")
            try await c.send(.put, "/bkt/dst2", headers: [("x-amz-copy-source", "bkt/src"), ("x-amz-metadata-directive", "REPLACE"),
                                                        ("x-amz-meta-new", "1")])
            let replaced = try await c.send(.head, "/bkt/dst2")
            #expect(replaced[header: "x-amz-meta-new"] == "1" && replaced[header: "x-amz-meta-k"] == nil)
            #expect(try await c.send(.put, "/bkt/src", headers: [("x-amz-copy-source", "bkt/src")]).errorCode == "InvalidRequest")
            #expect(try await c.send(.put, "/bkt/x", headers: [("x-amz-copy-source", "bkt/missing")]).errorCode == "NoSuchKey")
            #expect(try await c.send(.put, "/bkt/x", headers: [("x-amz-copy-source", "nokey")]).errorCode == "InvalidArgument")
            #expect(try await c.send(.put, "/bkt/x", headers: [("x-amz-copy-source", "bkt/src"), ("x-amz-copy-source-if-match", "\"no\"")]).errorCode
                    == "PreconditionFailed")
        }
    }

    @Test func listingsPaginateInByteOrderWithCommonPrefixes() async throws {
        try await withServer { c in
            try await c.send(.put, "/bkt")
            let keys = (0..<25).map { String(format: "k%02d", $0) } + ["dir/a", "dir/b", "dir2/c", "é", "z z"]
            for key in keys { try await c.send(.put, "/bkt/\(key)", body: [1]) }
            var seen: [String] = [], prefixes: [String] = [], token: String?
            repeat {
                var query: [(name: String, value: String)] = [("list-type", "2"), ("max-keys", "7"), ("delimiter", "/")]
                if let token { query.append(("continuation-token", token)) }
                let page = try await c.send(.get, "/bkt", query: query)
                seen += page.values("Key")
                prefixes += page.text.components(separatedBy: "<CommonPrefixes><Prefix>").dropFirst().map { String($0.prefix { $0 != "<" }) }
                token = page.values("NextContinuationToken").first
            } while token != nil
            #expect(seen == keys.filter { !$0.contains("/") }.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
            #expect(prefixes == ["dir/", "dir2/"])
            let v1 = try await c.send(.get, "/bkt", query: [("marker", "k20"), ("max-keys", "3")])
            #expect(v1.values("Key") == ["k21", "k22", "k23"] && v1.values("IsTruncated") == ["true"])
            let encoded = try await c.send(.get, "/bkt", query: [("list-type", "2"), ("prefix", "z"), ("encoding-type", "url")])
            #expect(encoded.values("Key") == ["z%20z"])
            #expect(try await c.send(.get, "/bkt", query: [("list-type", "2"), ("max-keys", "-1")]).errorCode == "InvalidArgument")
        }
    }

    @Test func deleteObjectsBatchAndMalformedXML() async throws {
        try await withServer { c in
            try await c.send(.put, "/bkt")
            for key in ["a", "b", "c"] { try await c.send(.put, "/bkt/\(key)", body: [1]) }
            let xml = Array("<Delete><Object><Key>a</Key></Object><Object><Key>b</Key></Object><Object><Key>a/../x</Key></Object></Delete>".utf8)
            let md5 = [("content-md5", Data(Insecure.MD5.hash(data: xml)).base64EncodedString())]
            let result = try await c.send(.post, "/bkt", query: [("delete", "")], headers: md5, body: xml)
            #expect(result.values("Key") == ["a", "b", "a/../x"] && result.text.contains("<Code>InvalidArgument</Code>"))
            let quiet = Array("<Delete><Quiet>true</Quiet><Object><Key>c</Key></Object></Delete>".utf8)
            #expect(try await c.send(.post, "/bkt", query: [("delete", "")], body: quiet).values("Key").isEmpty)
            #expect(try await c.send(.get, "/bkt", query: [("list-type", "2")]).values("Key").isEmpty)
            for bad in ["<Delete><Object><Key>a</Key></Object>", "<Other/>", "<Delete></Delete>", "not xml"] {
                #expect(try await c.send(.post, "/bkt", query: [("delete", "")], body: Array(bad.utf8)).errorCode == "MalformedXML", "\(bad)")
            }
        }
    }

    @Test func unimplementedAndOverloadedRequestsAreS3Errors() async throws {
        try await withServer { c in
            try await c.send(.put, "/bkt")
            let website = try await c.send(.get, "/bkt", query: [("website", "")])
            #expect(website.status.code == 501 && website.errorCode == "NotImplemented" && website[header: "x-amz-request-id"] != nil)
            #expect(try await c.send(.post, "/bkt/k", query: [("restore", "")], body: [1]).errorCode == "NotImplemented")
            #expect(try await c.send(.post, "/").errorCode == "MethodNotAllowed")
        }
        try await withServer(options: .init(maxInFlight: 0)) { c in
            let busy = try await c.send(.get, "/")
            #expect(busy.status == .serviceUnavailable && busy.errorCode == "SlowDown")
        }
    }

    @Test func unsignedTrailerBodyStoresOnlyThePayload() async throws {
        try await withServer { c in
            try await c.send(.put, "/bkt")
            let data = randomBytes(100_000)
            var crc = ChecksumAlgorithm.crc32.hasher()
            data.withUnsafeBytes { crc.update($0) }
            func framed(_ checksum: String) -> [UInt8] {
                var body = Array(String(data.count, radix: 16).utf8) + Array("\r\n".utf8) + data + Array("\r\n0\r\n".utf8)
                body += Array("x-amz-checksum-crc32:\(checksum)\r\n\r\n".utf8)
                return body
            }
            let headers = [("content-encoding", "aws-chunked"), ("x-amz-decoded-content-length", String(data.count)),
                           ("x-amz-trailer", "x-amz-checksum-crc32")]
            let put = try await c.send(.put, "/bkt/t", headers: headers, body: framed(crc.finalBase64()), payloadHash: "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
            #expect(put.status == .ok && put[header: "x-amz-checksum-crc32"] == crc.finalBase64())
            #expect(try await c.send(.get, "/bkt/t").bytes == data)
            let bad = try await c.send(.put, "/bkt/t2", headers: headers, body: framed("AAAAAA=="), payloadHash: "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
            #expect(bad.errorCode == "BadDigest")
            #expect(try await c.send(.get, "/bkt/t2").errorCode == "NoSuchKey")
        }
    }
}
