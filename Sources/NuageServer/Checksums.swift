import CNuageCRC
import Crypto
import Foundation
import HTTPTypes

/// The additional checksums S3 clients send (`x-amz-checksum-*`), computed over the body.
enum ChecksumAlgorithm: String, CaseIterable, Sendable {
    case crc32, crc32c, crc64nvme, sha1, sha256

    var headerName: String { "x-amz-checksum-\(rawValue)" }
    /// `CRC32`, `CRC64NVME`…, as XML elements (`ChecksumCRC32`) and the algorithm headers name it.
    var name: String { rawValue.uppercased() }
    /// CRCs combine: a whole object's follows from its parts' (FULL_OBJECT checksums).
    var isCRC: Bool { self == .crc32 || self == .crc32c || self == .crc64nvme }

    init?(name: String) { self.init(rawValue: name.lowercased().trimmingCharacters(in: .whitespaces)) }

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
                throw S3Error(.invalidRequest, "The trailer \(trailer) is not supported: only x-amz-checksum-crc32, -crc32c, -crc64nvme, -sha1 and -sha256.")
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
        case .crc32: CRCHasher(table: CRCHasher.ieee, folding: HardwareCRC.crc32)
        // Folding (about 14 GB/s here) outruns the single-stream SSE4.2 instruction (about 10).
        case .crc32c: CRCHasher(table: CRCHasher.castagnoli, folding: HardwareCRC.crc32c,
                                instruction: HardwareCRC.hasSSE42 && !HardwareCRC.hasPCLMUL)
        case .crc64nvme: CRCHasher(width: 64, table: CRCHasher.nvme, folding: HardwareCRC.crc64nvme)
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

/// The reflected CRCs S3 uses (CRC-32, CRC-32C, CRC-64/NVME: initial value and final XOR all
/// ones), one implementation for every width: PCLMULQDQ folding where the CPU has it, CRC-32C's
/// own SSE4.2 instruction where only that is there, else eight tables (slicing-by-8, 64-bit
/// words for every width: a 32-bit register XORed into the low four bytes).
struct CRCHasher: ChecksumHasher {
    static let ieee = tables(polynomial: 0xEDB8_8320)
    static let castagnoli = tables(polynomial: 0x82F6_3B78)
    static let nvme = tables(polynomial: CRC64Polynomial.nvme)

    let width: Int
    let table: [UInt64]
    /// Folding constants when the CPU has PCLMULQDQ; nil: tables only.
    let folding: HardwareCRC.Constants?
    /// CRC-32C's own instruction (SSE4.2).
    let instruction: Bool
    /// The register, before the final XOR.
    var crc: UInt64

    init(width: Int = 32, table: [UInt64], folding: HardwareCRC.Constants? = nil, instruction: Bool = false) {
        self.width = width
        self.table = table
        self.folding = folding
        self.instruction = instruction
        crc = width == 64 ? ~0 : (1 << UInt64(width)) - 1
    }

    static func tables(polynomial: UInt64) -> [UInt64] {
        var t = [UInt64](repeating: 0, count: 256 * 8)
        for i in 0..<256 {
            var c = UInt64(i)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ polynomial : c >> 1 }
            t[i] = c
        }
        for i in 0..<256 {
            for k in 1..<8 { t[k * 256 + i] = (t[(k - 1) * 256 + i] >> 8) ^ t[Int(t[(k - 1) * 256 + i] & 0xFF)] }
        }
        return t
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        if instruction, let base = bytes.baseAddress {
            crc = UInt64(nuage_crc32c_sse42(UInt32(crc), base.assumingMemoryBound(to: UInt8.self), bytes.count))
            return
        }
        if let folding, let folded = HardwareCRC.fold(bytes, state: crc, folding) {
            crc = 0
            folded.block.withUnsafeBytes { tableUpdate($0) }
            tableUpdate(folded.tail)
            return
        }
        tableUpdate(bytes)
    }

    private mutating func tableUpdate(_ bytes: UnsafeRawBufferPointer) {
        var c = crc
        var i = 0
        let n = bytes.count
        table.withUnsafeBufferPointer { t in
            while i + 8 <= n {
                let v = c ^ bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self).littleEndian
                c = t[7 * 256 + Int(v & 0xFF)] ^ t[6 * 256 + Int((v >> 8) & 0xFF)] ^ t[5 * 256 + Int((v >> 16) & 0xFF)]
                    ^ t[4 * 256 + Int((v >> 24) & 0xFF)] ^ t[3 * 256 + Int((v >> 32) & 0xFF)] ^ t[2 * 256 + Int((v >> 40) & 0xFF)]
                    ^ t[256 + Int((v >> 48) & 0xFF)] ^ t[Int(v >> 56)]
                i += 8
            }
            while i < n {
                c = (c >> 8) ^ t[Int((c ^ UInt64(bytes[i])) & 0xFF)]
                i += 1
            }
        }
        crc = c
    }

    func finalBase64() -> String {
        let mask: UInt64 = width == 64 ? ~0 : (1 << UInt64(width)) - 1
        return CRCCombine.base64(crc ^ mask, CRCCombine.Parameters(width: width, polynomial: 0))
    }
}

enum CRC64Polynomial {
    /// CRC-64/NVME, reflected (S3's CRC64NVME).
    static let nvme: UInt64 = 0x9A6C_9329_AC4B_C9B5
}

/// Combining CRCs: the CRC of `A || B` from the CRCs of `A` and `B` and the length of `B`, for
/// the reflected CRCs S3 uses (initial value and final XOR all ones), by multiplying `crc(A)` by
/// x^(8·|B|) modulo the polynomial (as zlib's crc32_combine).
enum CRCCombine {
    struct Parameters {
        let width: Int
        let polynomial: UInt64   // reflected
    }

    static func parameters(_ algorithm: ChecksumAlgorithm) -> Parameters? {
        switch algorithm {
        case .crc32: Parameters(width: 32, polynomial: 0xEDB8_8320)
        case .crc32c: Parameters(width: 32, polynomial: 0x82F6_3B78)
        case .crc64nvme: Parameters(width: 64, polynomial: CRC64Polynomial.nvme)
        default: nil
        }
    }

    /// a·b modulo the polynomial, both in reflected order (the top bit is x^0).
    static func multiply(_ a: UInt64, _ b: UInt64, _ p: Parameters) -> UInt64 {
        var m: UInt64 = 1 << (p.width - 1), product: UInt64 = 0, a = a, b = b
        while m != 0 {
            if a & m != 0 {
                product ^= b
                a ^= m
                if a == 0 { break }
            }
            m >>= 1
            b = b & 1 != 0 ? (b >> 1) ^ p.polynomial : b >> 1
        }
        return product
    }

    /// x^n modulo the polynomial.
    static func power(_ n: Int, _ p: Parameters) -> UInt64 {
        var result: UInt64 = 1 << (p.width - 1)    // x^0
        var base: UInt64 = 1 << (p.width - 2)      // x^1
        var n = n
        while n > 0 {
            if n & 1 != 0 { result = multiply(base, result, p) }
            base = multiply(base, base, p)
            n >>= 1
        }
        return result
    }

    /// x^(8·bytes) modulo the polynomial.
    static func shift(bytes: Int64, _ p: Parameters) -> UInt64 {
        var result: UInt64 = 1 << (p.width - 1)        // x^0
        var power: UInt64 = 1 << (p.width - 1 - 8)     // x^8
        var n = bytes
        while n > 0 {
            if n & 1 != 0 { result = multiply(power, result, p) }
            power = multiply(power, power, p)
            n >>= 1
        }
        return result
    }

    /// The CRC of the concatenation of pieces given as (CRC, length), in order.
    static func combine(_ pieces: [(crc: UInt64, length: Int64)], _ p: Parameters) -> UInt64 {
        guard var crc = pieces.first?.crc else { return 0 }
        for piece in pieces.dropFirst() { crc = multiply(shift(bytes: piece.length, p), crc, p) ^ piece.crc }
        return crc
    }

    /// A base64 CRC value as S3 writes it (big-endian) to its number, or nil.
    static func value(_ base64: String, _ p: Parameters) -> UInt64? {
        guard let bytes = Data(base64Encoded: base64), bytes.count == p.width / 8 else { return nil }
        return bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    static func base64(_ value: UInt64, _ p: Parameters) -> String {
        Data((0..<(p.width / 8)).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }).base64EncodedString()
    }
}

/// The CPU's CRC hardware: PCLMULQDQ folding (CRC-32, CRC-32C, CRC-64/NVME) and the SSE4.2
/// CRC-32C instruction, chosen once; `NUAGE_CRC=tables` keeps to the portable tables (to
/// measure them, or on a CPU that misbehaves).
enum HardwareCRC {
    /// x^575, x^511, x^191, x^127 modulo the polynomial, bit-reflected in 64 bits.
    struct Constants: Sendable { let k: [UInt64] }

    static let enabled = ProcessInfo.processInfo.environment["NUAGE_CRC"] != "tables"
    static let hasPCLMUL = enabled && nuage_crc_has_pclmul() != 0
    static let hasSSE42 = enabled && nuage_crc_has_sse42() != 0
    static let crc32 = constants(.crc32)
    static let crc32c = constants(.crc32c)
    static let crc64nvme = constants(.crc64nvme)

    static func constants(_ algorithm: ChecksumAlgorithm) -> Constants? {
        guard hasPCLMUL, let p = CRCCombine.parameters(algorithm) else { return nil }
        return Constants(k: [575, 511, 191, 127].map { CRCCombine.power($0, p) << UInt64(64 - p.width) })
    }

    /// Below this many bytes the tables are as fast.
    static let threshold = 64

    /// The bytes folded down to one 16-byte block (whose CRC from a zero register is theirs,
    /// `state` included) and the tail left over; nil when too short to be worth it.
    static func fold(_ bytes: UnsafeRawBufferPointer, state: UInt64, _ constants: Constants) -> (block: [UInt8], tail: UnsafeRawBufferPointer)? {
        guard bytes.count >= threshold, let base = bytes.baseAddress else { return nil }
        let blocks = bytes.count / 16
        var block = [UInt8](repeating: 0, count: 16)
        constants.k.withUnsafeBufferPointer { k in
            nuage_crc_fold(base.assumingMemoryBound(to: UInt8.self), blocks, state, k.baseAddress!, &block)
        }
        return (block, UnsafeRawBufferPointer(rebasing: bytes[(blocks * 16)...]))
    }
}
