import Crypto
import Foundation
import Hummingbird
import HTTPTypes
import NuageCore
import NuageEngine

extension S3Server {
    /// Most keys in one DeleteObjects request.
    static let maximumDeleteKeys = 1000

    func deleteObjects(_ bucket: String, _ request: Request, _ s3: S3Request, _ caller: Caller) async throws -> Response {
        // <Delete><Quiet>true</Quiet><Object><Key>…</Key><VersionId>…</VersionId></Object>…</Delete>
        let root = try await xmlBody(request, root: "Delete")
        let objects = root.all("Object")
        let keys = objects.compactMap { $0.first("Key")?.text }
        let quiet = root.value("Quiet")?.lowercased() == "true"
        guard !keys.isEmpty, keys.count == objects.count else { throw S3Error(.malformedXML) }
        guard keys.count <= Self.maximumDeleteKeys else {
            throw S3Error(.malformedXML, "At most \(Self.maximumDeleteKeys) keys may be deleted in one request.")
        }
        guard s3.bucketRecord != nil else { throw S3Error(.noSuchBucket) }
        let bypass = try bypassesGovernance(caller, request, bucket: bucket, key: nil, record: s3.bucketRecord)
        var outcomes: [Result<DeleteOutcome, any Error>?] = Array(repeating: nil, count: keys.count)
        var requests: [(index: Int, request: DeleteRequest)] = []
        for (index, (key, object)) in zip(keys, objects).enumerated() {
            do {
                try ObjectNames.validateKey(key)
                let version: VersionSelector
                do { version = try VersionSelector(s3: object.value("VersionId")) } catch { throw S3Error(.noSuchVersion) }
                if let refusal = try await mayDelete(caller, bucket: bucket, key: key, namingVersion: version != .current) { throw refusal }
                requests.append((index, DeleteRequest(key: key, version: version)))
            } catch {
                outcomes[index] = .failure(error)
            }
        }
        // One journal write for the whole batch.
        for (entry, outcome) in zip(requests, try await engine.delete(bucket: bucket, requests.map(\.request), bypassGovernance: bypass)) {
            outcomes[entry.index] = outcome
        }
        var xml = XMLWriter()
        xml.open("DeleteResult", namespace: true)
        for (index, key) in keys.enumerated() {
            let asked = objects[index].value("VersionId")
            switch outcomes[index] {
            case .failure(let error)?:
                let s3 = error as? S3Error ?? (error as? NuageError).map { S3Error($0, resource: nil) } ?? S3Error(.internalError)
                xml.open("Error")
                xml.element("Key", key)
                if let asked { xml.element("VersionId", asked) }
                xml.element("Code", s3.code)
                xml.element("Message", s3.message)
                xml.close("Error")
            case .success(let outcome)? where !quiet:
                xml.open("Deleted")
                xml.element("Key", key)
                if let asked { xml.element("VersionId", asked) }
                if outcome.deleteMarker {
                    xml.element("DeleteMarker", "true")
                    if let id = outcome.versionID { xml.element("DeleteMarkerVersionId", id) }
                }
                xml.close("Deleted")
            default: break
            }
        }
        xml.close("DeleteResult")
        return Self.xmlResponse(xml)
    }
}
