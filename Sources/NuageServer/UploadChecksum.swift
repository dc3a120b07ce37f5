import Foundation
import HTTPTypes
import NuageCatalog
import NuageCore

/// The checksum a multipart upload promises (CreateMultipartUpload's `x-amz-checksum-algorithm`
/// and `x-amz-checksum-type`): every part carries one of that algorithm, checked as it arrives,
/// and the completed object gets a whole-object checksum:
/// - FULL_OBJECT (CRC32, CRC32C, CRC64NVME): the CRC of the whole object, combined from the
///   parts' CRCs and sizes without reading a byte again;
/// - COMPOSITE (CRC32, CRC32C, SHA1, SHA256): the checksum of the parts' binary checksums, `-N`.
struct UploadChecksum: Equatable, Sendable {
    enum Kind: String, Sendable { case fullObject = "FULL_OBJECT", composite = "COMPOSITE" }

    var algorithm: ChecksumAlgorithm
    var kind: Kind

    static let algorithmKey = "x-nuage-checksum-algorithm"
    static let kindKey = "x-nuage-checksum-type"

    /// From CreateMultipartUpload's headers; nil when the upload promises none.
    /// - Throws: `InvalidRequest` for a type without an algorithm or a combination S3 refuses.
    init?(headers: HTTPFields) throws {
        let type = headers[named: "x-amz-checksum-type"].map { $0.uppercased().trimmingCharacters(in: .whitespaces) }
        guard let name = headers[named: "x-amz-checksum-algorithm"] else {
            if type != nil { throw S3Error(.invalidRequest, "x-amz-checksum-type needs x-amz-checksum-algorithm.") }
            return nil
        }
        guard let algorithm = ChecksumAlgorithm(name: name) else {
            throw S3Error(.invalidRequest, "Value for x-amz-checksum-algorithm header is invalid.")
        }
        let kind: Kind
        switch type {
        case nil: kind = algorithm == .crc64nvme ? .fullObject : .composite
        case let text?:
            guard let given = Kind(rawValue: text) else { throw S3Error(.invalidRequest, "Value for x-amz-checksum-type header is invalid.") }
            kind = given
        }
        if kind == .fullObject && !algorithm.isCRC {
            throw S3Error(.invalidRequest, "The FULL_OBJECT checksum type cannot be used with the \(algorithm.rawValue) checksum algorithm.")
        }
        if kind == .composite && algorithm == .crc64nvme {
            throw S3Error(.invalidRequest, "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.")
        }
        self.init(algorithm: algorithm, kind: kind)
    }

    init(algorithm: ChecksumAlgorithm, kind: Kind) {
        self.algorithm = algorithm
        self.kind = kind
    }

    /// From an upload's stored metadata.
    init?(upload metadata: [String: String]) {
        guard let algorithm = metadata[Self.algorithmKey].flatMap(ChecksumAlgorithm.init(rawValue:)),
              let kind = metadata[Self.kindKey].flatMap(Kind.init(rawValue:)) else { return nil }
        self.init(algorithm: algorithm, kind: kind)
    }

    var metadata: [String: String] { [Self.algorithmKey: algorithm.rawValue, Self.kindKey: kind.rawValue] }

    /// The whole object's checksum from its parts, as object metadata (`x-amz-checksum-ALG`,
    /// `x-amz-checksum-type`).
    /// - Parameters:
    ///   - listed: the checksums CompleteMultipartUpload lists per part, which must be the parts'.
    ///   - declared: the whole-object value the request's header gives, which must match.
    /// - Throws: `InvalidPart` for a part without this checksum or listed with another value,
    ///   `BadDigest` when `declared` differs.
    func objectMetadata(parts: [PartRecord], listed: [Int: String], declared: String?) throws -> [String: String] {
        var values: [String] = []
        for part in parts {
            guard let value = part.checksums[algorithm.headerName] else {
                throw S3Error(.invalidPart, "Part \(part.number) was uploaded without a \(algorithm.name) checksum, which this upload promised.")
            }
            if let given = listed[part.number], given != value {
                throw S3Error(.invalidPart, "The \(algorithm.name) checksum listed for part \(part.number) is not the part's.")
            }
            values.append(value)
        }
        let whole: String
        switch kind {
        case .fullObject:
            let p = CRCCombine.parameters(algorithm)!
            let pieces = try zip(values, parts).map { value, part in
                guard let crc = CRCCombine.value(value, p) else { throw S3Error(.internalError, "A stored part checksum cannot be read.") }
                return (crc: crc, length: part.size)
            }
            whole = CRCCombine.base64(CRCCombine.combine(pieces, p), p)
        case .composite:
            var hasher = algorithm.hasher()
            for value in values {
                guard let bytes = Data(base64Encoded: value) else { throw S3Error(.internalError, "A stored part checksum cannot be read.") }
                bytes.withUnsafeBytes { hasher.update($0) }
            }
            whole = hasher.finalBase64() + "-\(parts.count)"
        }
        if let declared, declared != whole {
            throw S3Error(.badDigest, "The \(algorithm.name) checksum you specified for the whole object did not match the calculated checksum.")
        }
        return [algorithm.headerName: whole, "x-amz-checksum-type": kind.rawValue]
    }
}
