import Foundation
import NuageCore
import NuageCrypto

/// The first ``size`` bytes of every shard blob: enough, sealed under a key derived from the
/// master key, to rebuild the catalog entry of the object from the providers alone.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | magic `NUAGESHD` |
/// | 8 | 2 | format version, big-endian (1, 2 or 3) |
/// | 10 | 2 | reserved, zero |
/// | 12 | 12 | nonce |
/// | 24 | 2008 | body, AES-256-GCM ciphertext (layout below) |
/// | 2032 | 16 | GCM tag; the first 12 bytes are associated data |
///
/// Body, zero-padded to 2008 bytes: version id (16), shard index (1), k (1), m (1), flags (1:
/// bit 0 set when the metadata did not fit and was left out), segment size (4), object size
/// (8), created ms since 1970 (8), master key id (4), then length-prefixed (2 bytes) fields:
/// wrapped data key, from format 2 on the wrapped chunk-tag key and the SSE-C key check (empty
/// when the object is not SSE-C), in format 3 the id of the KMS key that wrapped the data key
/// (SSE-KMS; format 3 is written only for those), then bucket, key, metadata as JSON with sorted keys. All integers
/// big-endian. The fixed size hides the lengths of names and metadata from the provider.
public struct ShardHeader: Hashable, Sendable {
    public static let size = 2048
    public static let magic = Array("NUAGESHD".utf8)
    /// The format new objects are written in (3 for SSE-KMS objects); readers keep format 1.
    public static let format: UInt16 = 2
    /// The newest format readers know.
    public static let newestFormat: UInt16 = 3
    static let bodySize = size - 12 - 12 - 16

    public var versionID: [UInt8]
    public var shardIndex: Int
    public var dataShards: Int
    public var parityShards: Int
    public var segmentSize: Int
    public var objectSize: Int64
    public var createdMilliseconds: Int64
    public var keyID: UInt32
    public var wrappedKey: [UInt8]
    /// Format 2: the chunk-tag key wrapped under the master key; nil in format 1.
    public var wrappedTagKey: [UInt8]?
    /// Format 2, SSE-C: the check that recognises the customer's key.
    public var customerKeyCheck: [UInt8]?
    /// Format 3, SSE-KMS: the KMS key's id.
    public var kmsKeyID: [UInt8]?
    public var bucket: String
    public var key: String
    /// Stored headers (content type, user metadata); empty when they did not fit.
    public var metadata: [String: String]
    /// Whether the metadata was too large for the header and was left out.
    public var metadataOmitted: Bool

    public init(versionID: [UInt8], shardIndex: Int, dataShards: Int, parityShards: Int, segmentSize: Int,
                objectSize: Int64, createdMilliseconds: Int64, keyID: UInt32, wrappedKey: [UInt8],
                wrappedTagKey: [UInt8]? = nil, customerKeyCheck: [UInt8]? = nil, kmsKeyID: [UInt8]? = nil,
                bucket: String, key: String, metadata: [String: String] = [:], metadataOmitted: Bool = false) {
        self.versionID = versionID
        self.shardIndex = shardIndex
        self.dataShards = dataShards
        self.parityShards = parityShards
        self.segmentSize = segmentSize
        self.objectSize = objectSize
        self.createdMilliseconds = createdMilliseconds
        self.keyID = keyID
        self.wrappedKey = wrappedKey
        self.wrappedTagKey = wrappedTagKey
        self.customerKeyCheck = customerKeyCheck
        self.kmsKeyID = kmsKeyID
        self.bucket = bucket
        self.key = key
        self.metadata = metadata
        self.metadataOmitted = metadataOmitted
    }

    /// The sealed header, exactly ``size`` bytes. Metadata that does not fit is left out (and
    /// flagged); the names always fit (bucket ≤ 63 and key ≤ 1024 bytes).
    public func sealed(with master: MasterKey) throws -> [UInt8] {
        guard wrappedTagKey != nil || (customerKeyCheck == nil && kmsKeyID == nil) else {
            throw NuageError(.invalidArgument, "an SSE-C or SSE-KMS shard header needs a wrapped chunk-tag key")
        }
        let format: UInt16 = wrappedTagKey == nil ? 1 : kmsKeyID == nil ? 2 : 3
        var keyFields = wrappedTagKey.map { [wrappedKey, $0, customerKeyCheck ?? []] } ?? [wrappedKey]
        if let kmsKeyID { keyFields.append(kmsKeyID) }
        var body: [UInt8] = versionID
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var metadataJSON = metadata.isEmpty ? [] : Array(try encoder.encode(metadata))
        let fixed = 16 + 4 + 4 + 8 + 8 + 4 + 2 * (3 + keyFields.count) + keyFields.reduce(0) { $0 + $1.count }
            + bucket.utf8.count + key.utf8.count
        let omitted = metadataOmitted || fixed + metadataJSON.count > Self.bodySize
        if omitted { metadataJSON = [] }
        body += [UInt8(shardIndex), UInt8(dataShards), UInt8(parityShards), omitted ? 1 : 0]
        body.appendBigEndian(UInt32(segmentSize))
        body.appendBigEndian(UInt64(objectSize))
        body.appendBigEndian(UInt64(bitPattern: createdMilliseconds))
        body.appendBigEndian(keyID)
        for field in keyFields + [Array(bucket.utf8), Array(key.utf8), metadataJSON] {
            body.appendBigEndian(UInt16(field.count))
            body += field
        }
        guard body.count <= Self.bodySize else {
            throw NuageError(.invalidArgument, "shard header body of \(body.count) bytes exceeds \(Self.bodySize)")
        }
        body += [UInt8](repeating: 0, count: Self.bodySize - body.count)
        let prefix = Self.prefix(format: format)
        return prefix + (try master.sealHeader(body, context: prefix))
    }

    /// Opens a sealed header.
    /// - Throws: `NuageError.integrity` when the bytes are not a header sealed by this master key.
    public static func open(_ bytes: [UInt8], with master: MasterKey) throws -> ShardHeader {
        guard bytes.count == size, Array(bytes[0..<8]) == magic else {
            throw NuageError(.integrity, "not a Nuage shard blob header")
        }
        let format = Int(bytes[8]) << 8 | Int(bytes[9])
        guard (1...Int(Self.newestFormat)).contains(format), bytes[10] == 0, bytes[11] == 0 else {
            throw NuageError(.integrity, "shard blob format \(format) is not supported")
        }
        var reader = ByteReader(try master.openHeader(Array(bytes[12...]), context: Array(bytes[0..<12])))
        let versionID = try reader.bytes(16)
        let fields = try reader.bytes(4)
        let segmentSize = Int(try reader.integer(UInt32.self))
        guard let objectSize = Int64(exactly: try reader.integer(UInt64.self)) else {
            throw NuageError(.integrity, "shard header object size out of range")
        }
        let created = Int64(bitPattern: try reader.integer(UInt64.self))
        let keyID = try reader.integer(UInt32.self)
        let wrapped = try reader.bytes(Int(try reader.integer(UInt16.self)))
        var wrappedTagKey: [UInt8]?, customerKeyCheck: [UInt8]?, kmsKeyID: [UInt8]?
        if format >= 2 {
            wrappedTagKey = try reader.bytes(Int(try reader.integer(UInt16.self)))
            let check = try reader.bytes(Int(try reader.integer(UInt16.self)))
            customerKeyCheck = check.isEmpty ? nil : check
        }
        if format >= 3 { kmsKeyID = try reader.bytes(Int(try reader.integer(UInt16.self))) }
        let bucket = String(decoding: try reader.bytes(Int(try reader.integer(UInt16.self))), as: UTF8.self)
        let key = String(decoding: try reader.bytes(Int(try reader.integer(UInt16.self))), as: UTF8.self)
        let json = try reader.bytes(Int(try reader.integer(UInt16.self)))
        var metadata: [String: String] = [:]
        if !json.isEmpty {
            do { metadata = try JSONDecoder().decode([String: String].self, from: Data(json)) } catch {
                throw NuageError(.integrity, "shard header metadata is not valid JSON")
            }
        }
        return ShardHeader(versionID: versionID, shardIndex: Int(fields[0]), dataShards: Int(fields[1]),
                           parityShards: Int(fields[2]), segmentSize: segmentSize, objectSize: objectSize,
                           createdMilliseconds: created, keyID: keyID, wrappedKey: wrapped, wrappedTagKey: wrappedTagKey,
                           customerKeyCheck: customerKeyCheck, kmsKeyID: kmsKeyID, bucket: bucket, key: key,
                           metadata: metadata, metadataOmitted: fields[3] & 1 != 0)
    }

    private static func prefix(format: UInt16) -> [UInt8] {
        var prefix = magic
        prefix.appendBigEndian(format)
        prefix += [0, 0]
        return prefix
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }
}

/// Reads big-endian fields from bytes, throwing instead of trapping past the end.
struct ByteReader {
    private let bytes: [UInt8]
    private var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func bytes(_ count: Int) throws -> [UInt8] {
        guard count >= 0, offset + count <= bytes.count else {
            throw NuageError(.integrity, "record ends early")
        }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    mutating func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        try bytes(MemoryLayout<T>.size).reduce(T.zero) { $0 << 8 | T($1) }
    }
}
