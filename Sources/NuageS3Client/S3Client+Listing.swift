import AsyncHTTPClient
import Foundation
import NIOCore
import NuageCore

extension S3Client {
    /// One object of a listing.
    public struct ListedObject: Sendable, Hashable {
        public var key: String
        public var size: Int64
    }

    /// ListObjectsV2: keys starting with `prefix`, strictly after `startAfter`, ascending, at
    /// most `limit` (following continuation tokens as needed).
    public func list(bucket: String, prefix: String, startAfter: String?, limit: Int) async throws -> [ListedObject] {
        var objects: [ListedObject] = []
        var token: String?
        while objects.count < limit {
            var query: [(name: String, value: String)] = [("list-type", "2"), ("prefix", prefix),
                                                          ("max-keys", String(min(1000, limit - objects.count)))]
            if let token { query.append(("continuation-token", token)) } else if let startAfter { query.append(("start-after", startAfter)) }
            let root = try await xml(send(.GET, bucket: bucket, query: query), expecting: "ListBucketResult")
            for item in root.all("Contents") {
                guard let key = item.first("Key")?.text, let size = item.value("Size").flatMap({ Int64($0) }) else {
                    throw S3ClientError(status: 200, body: "", request: "GET /\(bucket)?list-type=2: a listed object lacks Key or Size")
                }
                objects.append(ListedObject(key: key, size: size))
            }
            token = root.value("NextContinuationToken")
            guard root.value("IsTruncated") == "true", token != nil else { break }
        }
        return Array(objects.prefix(limit))
    }

    /// A response body read as XML (at most 16 MiB) whose root is `expecting` (any root when nil:
    /// some servers name it differently).
    func xml(_ response: HTTPClientResponse, expecting root: String?) async throws -> XMLNode {
        let body = try await response.body.collect(upTo: 16 << 20)
        guard let node = XMLNode.parse(Data(body.readableBytesView)), root == nil || node.name == root else {
            throw S3ClientError(status: Int(response.status.code), body: "", request: "expected <\(root ?? "any")> XML, got \(String(buffer: body).prefix(300).replacingOccurrences(of: "\n", with: " "))")
        }
        return node
    }
}
