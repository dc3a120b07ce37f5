import Crypto
import Foundation
import NuageCore
@testable import NuageCrypto
import Testing

func hex(_ string: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = string.startIndex
    while index < string.endIndex {
        let next = string.index(index, offsetBy: 2)
        bytes.append(UInt8(string[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

@Suite struct SealingTests {
    let key = try! DataKey(bytes: Array(0..<32))
    let versionID: [UInt8] = Array(100..<116)

    func seal(_ plaintext: [UInt8], index: UInt64, last: Bool, version: [UInt8]? = nil) throws -> [UInt8] {
        let (ciphertext, tag) = try plaintext.withUnsafeBytes {
            try key.seal(segment: $0, index: index, isLast: last, versionID: version ?? versionID)
        }
        return Array(ciphertext) + Array(tag)
    }

    func open(_ sealed: [UInt8], index: UInt64, last: Bool, version: [UInt8]? = nil) throws -> [UInt8] {
        try sealed.withUnsafeBytes { Array(try key.open(segment: $0, index: index, isLast: last, versionID: version ?? versionID)) }
    }

    /// Produced by Python `cryptography` from docs/FORMAT.md: AES-256-GCM, nonce 0⁴ ‖ index,
    /// associated data version id ‖ index ‖ last flag.
    @Test func segmentGoldenVector() throws {
        let plaintext = Array(repeating: Array("Nuage golden segment ".utf8) + [0, 1, 2], count: 3).flatMap { $0 }
        let expected = hex("d6d4a305a69ef22204362c9f6584308576614982517b356f66aa0c45639f3dd5dfee6421e27e0587d4b93351c61372efc542673bf36486a9a81b1c29c8f4eb4735842805e61f12be5c2b876a404620eab4bd51e8f3da968b")
        #expect(try seal(plaintext, index: 5, last: true) == expected)
        #expect(try open(expected, index: 5, last: true) == plaintext)
    }

    /// GMAC under HKDF-SHA256(data key, "nuage/v1/chunk-tag"), nonce shard ‖ segment, chunk as AAD.
    @Test func chunkTagGoldenVector() {
        let chunk = (0..<100).map { UInt8(($0 * 7) & 255) }
        var tag = [UInt8](repeating: 0, count: 16)
        let tagKey = key.derivedTagKey
        chunk.withUnsafeBytes { c in tag.withUnsafeMutableBytes { tagKey.tag(chunk: c, shard: 3, segment: 9, into: $0) } }
        #expect(tag == hex("e5cb39f6810f2628212d6c15b8399434"))
        #expect(chunk.withUnsafeBytes { c in tag.withUnsafeBytes { tagKey.verify(chunk: c, tag: $0, shard: 3, segment: 9) } })
    }

    @Test func masterKeyDerivationsAreStable() throws {
        let master = try MasterKey(bytes: Array(200..<232))
        #expect(master.id == 0x3729_62BE)
    }

    @Test func roundTripsEverySize() throws {
        for size in [0, 1, 15, 16, 17, 1000, 65_536] {
            let plaintext = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 13) }
            let sealed = try seal(plaintext, index: 0, last: false)
            #expect(sealed.count == size + 16)
            #expect(try open(sealed, index: 0, last: false) == plaintext)
        }
    }

    @Test func reorderingSwappingTruncationAndTamperingAreDetected() throws {
        let sealed = try seal(Array("segment".utf8), index: 3, last: false)
        let integrity: (any Error) -> Bool = { ($0 as? NuageError)?.code == .integrity }
        #expect(performing: { try open(sealed, index: 4, last: false) }, throws: integrity)       // reordered
        #expect(performing: { try open(sealed, index: 3, last: true) }, throws: integrity)        // truncated after it
        #expect(performing: { try open(sealed, index: 3, last: false, version: Array(0..<16)) }, throws: integrity)  // other object
        for position in [0, sealed.count / 2, sealed.count - 1] {
            var tampered = sealed
            tampered[position] ^= 0x01
            #expect(performing: { try open(tampered, index: 3, last: false) }, throws: integrity)
        }
        #expect(performing: { try open(Array(sealed.prefix(10)), index: 3, last: false) }, throws: integrity)
    }

    @Test func chunkTagsBindShardSegmentAndBytes() {
        let chunk = Array("chunk bytes".utf8)
        var tag = [UInt8](repeating: 0, count: 16)
        let tagKey = ChunkTagKey.random()
        chunk.withUnsafeBytes { c in tag.withUnsafeMutableBytes { tagKey.tag(chunk: c, shard: 1, segment: 2, into: $0) } }
        func verify(_ bytes: [UInt8], shard: Int, segment: UInt64, using key: ChunkTagKey? = nil) -> Bool {
            bytes.withUnsafeBytes { c in tag.withUnsafeBytes { (key ?? tagKey).verify(chunk: c, tag: $0, shard: shard, segment: segment) } }
        }
        #expect(verify(chunk, shard: 1, segment: 2))
        #expect(!verify(chunk, shard: 0, segment: 2))
        #expect(!verify(chunk, shard: 1, segment: 3))
        #expect(!verify(Array("chunk bytez".utf8), shard: 1, segment: 2))
        #expect(!verify(chunk, shard: 1, segment: 2, using: ChunkTagKey.random()))
    }

    @Test func wrappedKeysAreBoundToTheirContext() throws {
        let master = try MasterKey(bytes: Array(repeating: 9, count: 32))
        let dataKey = DataKey.random()
        let wrapped = try master.wrap(dataKey, context: [1, 2, 3])
        #expect(wrapped.count == 60)
        #expect(try master.unwrap(wrapped, context: [1, 2, 3]).rawBytes == dataKey.rawBytes)
        #expect(throws: NuageError.self) { try master.unwrap(wrapped, context: [1, 2, 4]) }
        let other = try MasterKey(bytes: Array(repeating: 8, count: 32))
        #expect(throws: NuageError.self) { try other.unwrap(wrapped, context: [1, 2, 3]) }
        #expect(throws: NuageError.self) { try master.unwrap(Array(wrapped.prefix(20)), context: [1, 2, 3]) }
    }

    @Test func wrappedTagKeysAreBoundToTheirVersionAndNeverPassForADataKey() throws {
        let master = try MasterKey(bytes: Array(repeating: 9, count: 32))
        let tagKey = ChunkTagKey.random()
        let wrapped = try master.wrap(tagKey, versionID: versionID)
        #expect(try master.unwrapTagKey(wrapped, versionID: versionID).rawBytes == tagKey.rawBytes)
        #expect(throws: NuageError.self) { try master.unwrapTagKey(wrapped, versionID: Array(0..<16)) }
        #expect(throws: NuageError.self) { try master.unwrap(wrapped, context: versionID) }
        let wrappedData = try master.wrap(DataKey.random(), context: versionID)
        #expect(throws: NuageError.self) { try master.unwrapTagKey(wrappedData, versionID: versionID) }
    }

    /// SSE-C: the data key opens only under the customer's key; the stored check tells a wrong
    /// key apart, is salted by the version, and the ETag is not the plaintext's MD5.
    @Test func customerKeysWrapCheckAndHideTheDigest() throws {
        let customer = try CustomerKey(bytes: Array(repeating: 0x42, count: 32))
        let other = try CustomerKey(bytes: Array(repeating: 0x43, count: 32))
        // The MD5 S3 clients send for 32 bytes of 0x42 (base64 of MD5("BBBB…")).
        #expect(customer.keyMD5 == Data(Insecure.MD5.hash(data: Array(repeating: UInt8(0x42), count: 32))).base64EncodedString())
        let dataKey = DataKey.random()
        let wrapped = try customer.wrap(dataKey, versionID: versionID)
        #expect(try customer.unwrap(wrapped, versionID: versionID).rawBytes == dataKey.rawBytes)
        #expect(throws: NuageError.self) { try other.unwrap(wrapped, versionID: versionID) }
        #expect(throws: NuageError.self) { try customer.unwrap(wrapped, versionID: Array(0..<16)) }
        let check = customer.check(versionID: versionID)
        #expect(check.count == 32)
        #expect(customer.matches(check, versionID: versionID))
        #expect(!other.matches(check, versionID: versionID))
        #expect(customer.check(versionID: Array(0..<16)) != check)  // salted by the version
        let md5 = Array(Insecure.MD5.hash(data: Array("hello".utf8)))
        #expect(customer.etag(md5: md5).count == 32)
        #expect(customer.etag(md5: md5) != md5.hex)
        #expect(customer.etag(md5: md5) != other.etag(md5: md5))
        #expect(throws: NuageError.self) { try CustomerKey(bytes: Array(repeating: 1, count: 16)) }
    }

    @Test func masterKeyFileIsPrivateAndNeverOverwritten() throws {
        let path = NSTemporaryDirectory() + "nuage-key-\(UUID().uuidString)"
        defer { unlink(path) }
        let created = try MasterKey.create(at: path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect(attributes[.posixPermissions] as? Int == 0o600)
        #expect(attributes[.size] as? Int == 32)
        #expect(try MasterKey.load(from: path).id == created.id)
        #expect(throws: NuageError.self) { try MasterKey.create(at: path) }
        chmod(path, 0o644)
        #expect { try MasterKey.load(from: path) } throws: { "\($0)".contains("chmod 600") }
    }

    @Test func constantTimeComparison() {
        #expect(ConstantTime.equal([1, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.equal([1, 2, 3], [1, 2, 4]))
        #expect(!ConstantTime.equal([1, 2, 3], [1, 2]))
    }
}
