import Foundation
import Hummingbird
import HTTPTypes
import NuageCatalog
import NuageCore
import NuageEngine

/// The gateway's own routes under `/_nuage/` (`_` cannot begin a bucket name, so they never
/// shadow one), signed like any S3 request, for keys of the default owner (the operator's) not
/// limited to buckets: the reports cover every owner's buckets.
///
/// - `GET /_nuage/exposure[?what-if-deny=CC&what-if-remove=NAME…]`: `nuage report exposure` as
///   JSON.
extension S3Server {
    static let adminBucket = "_nuage"

    func admin(_ request: Request, _ s3: S3Request, _ caller: Caller) async throws -> Response {
        guard caller.key.buckets.isEmpty, caller.key.owner == Owner.default else {
            throw S3Error(.accessDenied, "The gateway's admin routes need a key of the default owner (\(Owner.default)) that is not limited to buckets.")
        }
        guard request.method == .get, s3.key == "exposure" else { throw S3Error(.notImplemented, "No such admin route.") }
        let allowed: Set<String> = ["what-if-deny", "what-if-remove"]
        let extra = s3.query.map(\.name).filter { !allowed.contains($0) && !S3Compatibility.isAuthenticationParameter($0) }
        guard extra.isEmpty else { throw S3Error(.invalidArgument, "Unknown parameter \(extra[0]).") }
        let report: Engine.ExposureReport
        do {
            report = try await engine.exposure(whatIfDeny: s3.query.filter { $0.name == "what-if-deny" }.map(\.value),
                                               whatIfRemove: s3.query.filter { $0.name == "what-if-remove" }.map(\.value))
        } catch let error as NuageError where error.code == .configuration {
            throw S3Error(.invalidArgument, error.message)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: Array(try encoder.encode(report)))))
    }
}
