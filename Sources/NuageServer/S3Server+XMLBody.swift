import Crypto
import Foundation
import Hummingbird
import HTTPTypes
import NuageCore

extension S3Server {
    /// The largest XML request body accepted: a CompleteMultipartUpload of 10,000 parts with
    /// SHA-256 checksums is about 1.6 MB, a DeleteObjects of 1,000 long keys with escaped
    /// characters a few MB.
    static let maximumXMLBody = 4 << 20

    /// A request's XML body (at most `maximumXMLBody` bytes, `Content-MD5` and `x-amz-checksum-*`
    /// checked) whose root element is `root`; nil for an empty body when `optional`.
    /// - Parameter bodyChecksum: whether `x-amz-checksum-*` is the body's (CompleteMultipartUpload's
    ///   is the whole object's).
    func xmlBody(_ request: Request, root: String, optional: Bool = false, bodyChecksum: Bool = true) async throws -> XMLNode? {
        let data = try await checkedBody(request, limit: Self.maximumXMLBody, bodyChecksum: bodyChecksum)
        if data.isEmpty && optional { return nil }
        guard let node = XMLNode.parse(data), node.name == root else { throw S3Error(.malformedXML) }
        return node
    }

    /// A configuration document's bytes: at most `limit`, `Content-MD5` and `x-amz-checksum-*` checked.
    func checkedBody(_ request: Request, limit: Int, bodyChecksum: Bool = true) async throws -> Data {
        var request = request
        let body: ByteBuffer
        do { body = try await request.collectBody(upTo: limit) } catch let error as S3Error {
            throw error
        } catch {
            throw S3Error(.malformedXML, "The request body is larger than \(limit) bytes.")
        }
        let data = Data(buffer: body)
        if let md5 = request.headers[named: "content-md5"] {
            guard Data(Insecure.MD5.hash(data: data)).base64EncodedString() == md5 else { throw S3Error(.badDigest) }
        }
        if bodyChecksum, let checksum = try ChecksumAlgorithm.declared(in: request.headers) {
            guard let expected = checksum.value else { throw S3Error(.invalidRequest, "x-amz-trailer needs an aws-chunked body.") }
            var hasher = checksum.algorithm.hasher()
            data.withUnsafeBytes { hasher.update($0) }
            guard hasher.finalBase64() == expected else {
                throw S3Error(.badDigest, "The \(checksum.algorithm.rawValue.uppercased()) checksum you specified did not match the calculated checksum.")
            }
        }
        return data
    }

    /// A body that must be there.
    func xmlBody(_ request: Request, root: String, bodyChecksum: Bool = true) async throws -> XMLNode {
        guard let node = try await xmlBody(request, root: root, optional: false, bodyChecksum: bodyChecksum) else { throw S3Error(.malformedXML) }
        return node
    }
}
