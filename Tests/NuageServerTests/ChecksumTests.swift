import Foundation
@testable import NuageServer
import Testing

@Suite struct ChecksumTests {
    func checksum(_ algorithm: ChecksumAlgorithm, _ bytes: [UInt8]) -> String {
        var hasher = algorithm.hasher()
        bytes.withUnsafeBytes { hasher.update($0) }
        return hasher.finalBase64()
    }

    /// The catalogue's check values ("123456789"): CRC-32 0xCBF43926, CRC-32C 0xE3069283,
    /// CRC-64/NVME 0xAE8B14860A799888.
    @Test func checkValues() {
        let input = Array("123456789".utf8)
        #expect(checksum(.crc32, input) == Data([0xCB, 0xF4, 0x39, 0x26]).base64EncodedString())
        #expect(checksum(.crc32c, input) == Data([0xE3, 0x06, 0x92, 0x83]).base64EncodedString())
        #expect(checksum(.crc64nvme, input) == Data([0xAE, 0x8B, 0x14, 0x86, 0x0A, 0x79, 0x98, 0x88]).base64EncodedString())
        // Slicing-by-8 and the byte-at-a-time tail agree whatever the alignment.
        let long = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var pieces = ChecksumAlgorithm.crc64nvme.hasher()
        long.withUnsafeBytes { all in
            pieces.update(UnsafeRawBufferPointer(rebasing: all[..<3]))
            pieces.update(UnsafeRawBufferPointer(rebasing: all[3...]))
        }
        #expect(pieces.finalBase64() == checksum(.crc64nvme, long))
    }

    /// Hardware (PCLMULQDQ folding, SSE4.2) and tables agree with a bit-at-a-time reference at
    /// every length around the folding's edges, and on unaligned buffers.
    @Test func hardwareAgreesWithTheReference() {
        func reference(_ bytes: ArraySlice<UInt8>, polynomial: UInt64, width: Int) -> [UInt8] {
            let mask: UInt64 = width == 64 ? ~0 : (1 << UInt64(width)) - 1
            var crc = mask
            for byte in bytes {
                crc ^= UInt64(byte)
                for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ polynomial : crc >> 1 }
            }
            crc ^= mask
            return (0..<(width / 8)).reversed().map { UInt8(truncatingIfNeeded: crc >> (8 * UInt64($0))) }
        }
        var generator = SystemRandomNumberGenerator()
        let data = (0..<200_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let lengths = Array(0...260) + [1000, 4096 + 7, 65_536, 100_003, 199_999]
        for (algorithm, polynomial, width) in [(ChecksumAlgorithm.crc32, UInt64(0xEDB8_8320), 32), (.crc32c, 0x82F6_3B78, 32),
                                                (.crc64nvme, CRC64Polynomial.nvme, 64)] {
            for length in lengths {
                for offset in [0, 3] where offset + length <= data.count {
                    let slice = data[offset..<(offset + length)]
                    let expected = Data(reference(slice, polynomial: polynomial, width: width)).base64EncodedString()
                    #expect(checksum(algorithm, Array(slice)) == expected, "\(algorithm) \(length) bytes at \(offset)")
                    if algorithm == .crc32c {
                        // The SSE4.2 instruction (used where folding is missing) and the tables alone.
                        var variants: [any ChecksumHasher] = [CRCHasher(table: CRCHasher.castagnoli)]
                        if HardwareCRC.hasSSE42 { variants.append(CRCHasher(table: CRCHasher.castagnoli, instruction: true)) }
                        for var hasher in variants {
                            slice.withUnsafeBytes { hasher.update($0) }
                            #expect(hasher.finalBase64() == expected, "CRC32C variant, \(length) bytes")
                        }
                    }
                }
            }
        }
    }

    /// The CRC of a whole object follows from its parts' CRCs and lengths (FULL_OBJECT).
    @Test func combiningPartsGivesTheWholeObjectsCRC() throws {
        let parts: [[UInt8]] = [Array(repeating: 7, count: 5000), [], Array("tail".utf8), (0..<777).map { UInt8($0 % 251) }]
        for algorithm in [ChecksumAlgorithm.crc32, .crc32c, .crc64nvme] {
            let p = try #require(CRCCombine.parameters(algorithm))
            let pieces = try parts.map { part in
                (crc: try #require(CRCCombine.value(checksum(algorithm, part), p)), length: Int64(part.count))
            }
            #expect(CRCCombine.base64(CRCCombine.combine(pieces, p), p) == checksum(algorithm, parts.flatMap { $0 }), "\(algorithm)")
        }
    }
}
