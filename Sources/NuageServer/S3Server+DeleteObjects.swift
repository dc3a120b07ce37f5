import Crypto
import Foundation
import Hummingbird
import HTTPTypes
import NuageCore

extension S3Server {
    /// Most keys in one DeleteObjects request, and the largest body accepted.
    static let maximumDeleteKeys = 1000
    static let maximumXMLBody = 1 << 20

    func deleteObjects(_ bucket: String, _ request: Request) async throws -> Response {
        // <Delete><Quiet>true</Quiet><Object><Key>…</Key></Object>…</Delete>
        let root = try await xmlBody(request, root: "Delete")
        let objects = root.all("Object")
        let keys = objects.compactMap { $0.first("Key")?.text }
        let quiet = root.value("Quiet")?.lowercased() == "true"
        guard !keys.isEmpty, keys.count == objects.count else { throw S3Error(.malformedXML) }
        guard keys.count <= Self.maximumDeleteKeys else {
            throw S3Error(.malformedXML, "At most \(Self.maximumDeleteKeys) keys may be deleted in one request.")
        }
        guard try await engine.catalog.bucket(bucket) != nil else { throw S3Error(.noSuchBucket) }
        var xml = XMLWriter()
        xml.open("DeleteResult", namespace: true)
        for key in keys {
            do {
                try ObjectNames.validateKey(key)
                try await engine.delete(bucket: bucket, key: key)
                if !quiet {
                    xml.open("Deleted")
                    xml.element("Key", key)
                    xml.close("Deleted")
                }
            } catch {
                let s3 = (error as? NuageError).map { S3Error($0, resource: nil) } ?? S3Error(.internalError)
                xml.open("Error")
                xml.element("Key", key)
                xml.element("Code", s3.code)
                xml.element("Message", s3.message)
                xml.close("Error")
            }
        }
        xml.close("DeleteResult")
        return Self.xmlResponse(xml)
    }

    /// A request's XML body (at most `maximumXMLBody` bytes, `Content-MD5` checked) whose root
    /// element is `root`.
    func xmlBody(_ request: Request, root: String) async throws -> XMLNode {
        var request = request
        let body: ByteBuffer
        do { body = try await request.collectBody(upTo: Self.maximumXMLBody) } catch {
            throw S3Error(.malformedXML, "The XML body is larger than \(Self.maximumXMLBody) bytes.")
        }
        let data = Data(buffer: body)
        if let md5 = request.headers[named: "content-md5"] {
            guard Data(Insecure.MD5.hash(data: data)).base64EncodedString() == md5 else { throw S3Error(.badDigest) }
        }
        guard let node = XMLNode.parse(data), node.name == root else { throw S3Error(.malformedXML) }
        return node
    }
}

