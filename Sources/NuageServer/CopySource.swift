import Foundation
import NuageCore
import NuageSigV4

/// The object an `x-amz-copy-source` header names: `[/]bucket/key[?versionId=id]`, bucket and key
/// percent-encoded. The query is split off before decoding, so a key holding `?` (sent as `%3F`,
/// as every SDK encodes it) stays whole.
struct CopySource: Equatable, Sendable {
    var bucket: String
    var key: String
    /// `versionId`, when given: `null` or an id Nuage gave out (checked when the source is read).
    var versionID: String?

    /// - Throws: `InvalidArgument` for a malformed header.
    static func parse(_ header: String) throws -> CopySource {
        let raw = Substring(header.trimmingCharacters(in: .whitespaces))
        let rawPath = raw.prefix { $0 != "?" }
        var versionID: String?
        if rawPath.count < raw.count {
            guard let query = SigV4.parseQuery(raw.dropFirst(rawPath.count + 1)) else {
                throw S3Error(.invalidArgument, "Invalid copy source encoding.")
            }
            for (name, value) in query {
                guard name == "versionId", versionID == nil else {
                    throw S3Error(.invalidArgument, "The copy source may name only a versionId after '?'.")
                }
                versionID = value
            }
        }
        guard let path = SigV4.percentDecode(rawPath) else { throw S3Error(.invalidArgument, "Invalid copy source encoding.") }
        let trimmed = path.hasPrefix("/") ? path.dropFirst() : Substring(path)
        guard let slash = trimmed.firstIndex(of: "/"), slash != trimmed.startIndex, trimmed.index(after: slash) != trimmed.endIndex else {
            throw S3Error(.invalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey.")
        }
        let source = CopySource(bucket: String(trimmed[..<slash]), key: String(trimmed[trimmed.index(after: slash)...]), versionID: versionID)
        do {
            try ObjectNames.validateBucket(source.bucket)
            try ObjectNames.validateKey(source.key)
        } catch let error as NuageError {
            throw S3Error(error, resource: nil)
        }
        return source
    }
}
