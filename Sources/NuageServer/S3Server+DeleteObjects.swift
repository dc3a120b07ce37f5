import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Hummingbird
import HTTPTypes
import NuageCore

extension S3Server {
    /// Most keys in one DeleteObjects request, and the largest body accepted.
    static let maximumDeleteKeys = 1000
    static let maximumXMLBody = 1 << 20

    func deleteObjects(_ bucket: String, _ request: Request) async throws -> Response {
        var request = request
        let body: ByteBuffer
        do { body = try await request.collectBody(upTo: Self.maximumXMLBody) } catch {
            throw S3Error(.malformedXML, "The XML body is larger than \(Self.maximumXMLBody) bytes.")
        }
        let data = Data(buffer: body)
        if let md5 = request.headers[named: "content-md5"] {
            guard Data(Insecure.MD5.hash(data: data)).base64EncodedString() == md5 else { throw S3Error(.badDigest) }
        }
        let parsed = DeleteRequestParser(data)
        guard let (keys, quiet) = parsed.result, !keys.isEmpty else { throw S3Error(.malformedXML) }
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
}

import Crypto

/// Reads `<Delete><Quiet>true</Quiet><Object><Key>…</Key></Object>…</Delete>`.
final class DeleteRequestParser: NSObject, XMLParserDelegate {
    private var keys: [String] = []
    private var quiet = false
    private var text = ""
    private var path: [String] = []
    private var valid = true

    init(_ data: Data) {
        super.init()
        let parser = XMLParser(data: data)
        parser.delegate = self
        parser.shouldResolveExternalEntities = false
        valid = parser.parse() && valid
    }

    var result: ([String], Bool)? { valid ? (keys, quiet) : nil }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        path.append(name)
        text = ""
        if path.count == 1 && name != "Delete" { valid = false }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if path == ["Delete", "Object", "Key"] { keys.append(text) }
        if path == ["Delete", "Quiet"] { quiet = text.trimmingCharacters(in: .whitespaces).lowercased() == "true" }
        path.removeLast()
        text = ""
    }

    func parser(_ parser: XMLParser, parseErrorOccurred parseError: any Error) { valid = false }
}
