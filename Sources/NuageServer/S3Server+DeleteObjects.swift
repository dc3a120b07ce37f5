import Crypto
import Foundation
import Hummingbird
import HTTPTypes
import NuageCore

extension S3Server {
    /// Most keys in one DeleteObjects request.
    static let maximumDeleteKeys = 1000

    func deleteObjects(_ bucket: String, _ request: Request, _ caller: Caller) async throws -> Response {
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
        var failed: [String: any Error] = [:]
        for key in keys {
            do { try ObjectNames.validateKey(key) } catch { failed[key] = error }
            if failed[key] == nil, let refusal = try await mayDelete(caller, bucket: bucket, key: key) { failed[key] = refusal }
        }
        // One journal write for the whole batch.
        failed.merge(try await engine.delete(bucket: bucket, keys: keys.filter { failed[$0] == nil })) { first, _ in first }
        var xml = XMLWriter()
        xml.open("DeleteResult", namespace: true)
        for key in keys {
            if let error = failed[key] {
                let s3 = error as? S3Error ?? (error as? NuageError).map { S3Error($0, resource: nil) } ?? S3Error(.internalError)
                xml.open("Error")
                xml.element("Key", key)
                xml.element("Code", s3.code)
                xml.element("Message", s3.message)
                xml.close("Error")
            } else if !quiet {
                xml.open("Deleted")
                xml.element("Key", key)
                xml.close("Deleted")
            }
        }
        xml.close("DeleteResult")
        return Self.xmlResponse(xml)
    }
}
