import Crypto
import Foundation
import HTTPTypes

/// The additional checksums S3 clients send (`x-amz-checksum-*`), computed over the body.
enum ChecksumAlgorithm: String, CaseIterable, Sendable {
    case crc32, crc32c, sha1, sha256

    var headerName: String { "x-amz-checksum-\(rawValue)" }

    /// The one checksum a request declares: a header with its value, or a trailer (value nil).
    /// `x-amz-sdk-checksum-algorithm` and `x-amz-checksum-algorithm`, when sent, must name it.
    /// - Throws: `InvalidRequest` for two algorithms (S3 takes one per request) or an unknown
    ///   trailer, so that a checksum is never accepted without being checked.
    static func declared(in headers: HTTPFields) throws -> (algorithm: ChecksumAlgorithm, value: String?)? {
        var found: [(algorithm: ChecksumAlgorithm, value: String?)] = allCases.compactMap { algorithm in
            headers[named: algorithm.headerName].map { (algorithm, $0) }
        }
        if let trailer = headers[named: "x-amz-trailer"]?.lowercased().trimmingCharacters(in: .whitespaces) {
            guard let algorithm = allCases.first(where: { $0.headerName == trailer }) else {
                throw S3Error(.invalidRequest, "The trailer \(trailer) is not supported: only x-amz-checksum-crc32, -crc32c, -sha1 and -sha256.")
            }
            found.append((algorithm, nil))
        }
        let named = ["x-amz-sdk-checksum-algorithm", "x-amz-checksum-algorithm"].compactMap { headers[named: $0] }
            .compactMap { ChecksumAlgorithm(rawValue: $0.lowercased().trimmingCharacters(in: .whitespaces)) }
        guard found.count <= 1, named.allSatisfy({ $0 == found.first?.algorithm ?? $0 }) else {
            throw S3Error(.invalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
        }
        return found.first
    }

    func hasher() -> any ChecksumHasher {
        switch self {
        case .crc32: CRCHasher(table: CRCHasher.ieee)
        case .crc32c: CRCHasher(table: CRCHasher.castagnoli)
        case .sha1: DigestHasher(Insecure.SHA1())
        case .sha256: DigestHasher(SHA256())
        }
    }
}

protocol ChecksumHasher {
    mutating func update(_ bytes: UnsafeRawBufferPointer)
    /// Base64 of the big-endian digest, as S3 writes it.
    func finalBase64() -> String
}

struct DigestHasher<H: HashFunction>: ChecksumHasher {
    var hash: H
    init(_ hash: H) { self.hash = hash }
    mutating func update(_ bytes: UnsafeRawBufferPointer) { hash.update(bufferPointer: bytes) }
    func finalBase64() -> String { Data(hash.finalize()).base64EncodedString() }
}

/// Reflected CRC-32 with eight tables (slicing-by-8).
struct CRCHasher: ChecksumHasher {
    static let ieee = tables(polynomial: 0xEDB8_8320)
    static let castagnoli = tables(polynomial: 0x82F6_3B78)

    let table: [UInt32]
    var crc: UInt32 = 0xFFFF_FFFF

    init(table: [UInt32]) { self.table = table }

    static func tables(polynomial: UInt32) -> [UInt32] {
        var t = [UInt32](repeating: 0, count: 256 * 8)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ polynomial : c >> 1 }
            t[i] = c
        }
        for i in 0..<256 {
            for k in 1..<8 { t[k * 256 + i] = (t[(k - 1) * 256 + i] >> 8) ^ t[Int(t[(k - 1) * 256 + i] & 0xFF)] }
        }
        return t
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var c = crc
        var i = 0
        let n = bytes.count
        table.withUnsafeBufferPointer { t in
            while i + 8 <= n {
                let lo = c ^ bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self).littleEndian
                let hi = bytes.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self).littleEndian
                c = t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
                    ^ t[256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                i += 8
            }
            while i < n {
                c = (c >> 8) ^ t[Int((c ^ UInt32(bytes[i])) & 0xFF)]
                i += 1
            }
        }
        crc = c
    }

    func finalBase64() -> String {
        let value = (crc ^ 0xFFFF_FFFF).bigEndian
        return withUnsafeBytes(of: value) { Data($0).base64EncodedString() }
    }
}
