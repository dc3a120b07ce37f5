import Foundation

/// The catalog's record of how one object version is stored: everything needed to find,
/// authenticate and decode its shard blobs.
public struct Manifest: Codable, Hashable, Sendable {
    /// Version of the shard blob format (docs/FORMAT.md).
    public var format: Int
    /// 16 random bytes naming this object version, bound into every sealed segment.
    public var versionID: [UInt8]
    public var size: Int64
    public var segmentSize: Int
    /// Segment sizes a new object may use (4 KiB to 64 MiB of plaintext).
    public static let segmentSizes = 4096...(64 << 20)
    public var dataShards: Int
    public var parityShards: Int
    /// Which master key wrapped the data key (and, in format 2, the chunk-tag key).
    public var keyID: UInt32
    /// The data key, wrapped under the master key (nonce ‖ ciphertext ‖ tag), or under the
    /// customer's key when ``customerKeyCheck`` is set (SSE-C), or under a KMS key when
    /// ``kmsKeyID`` is set (SSE-KMS).
    public var wrappedKey: [UInt8]
    /// Format 2: the chunk-tag key, wrapped under the master key. Nil in format 1, whose chunk
    /// tags are keyed from the data key.
    public var wrappedTagKey: [UInt8]?
    /// SSE-C: the salted HMAC that recognises the customer's key (which is never stored).
    public var customerKeyCheck: [UInt8]?
    /// Format 3, SSE-KMS: the id of the KMS key that wrapped the data key.
    public var kmsKeyID: [UInt8]?
    /// Shard `i` lives on `shards[i]`; `nil` for a shard that was never written (to be repaired).
    public var shards: [BlobRef?]

    /// Whether only the client's key (SSE-C) opens this version.
    public var needsCustomerKey: Bool { customerKeyCheck != nil }
    /// Whether the data key is wrapped under the master key (not SSE-C, not SSE-KMS): what a
    /// master-key rotation rewraps.
    public var dataKeyUnderMasterKey: Bool { customerKeyCheck == nil && kmsKeyID == nil }

    public init(format: Int, versionID: [UInt8], size: Int64, segmentSize: Int, dataShards: Int,
                parityShards: Int, keyID: UInt32, wrappedKey: [UInt8], wrappedTagKey: [UInt8]? = nil,
                customerKeyCheck: [UInt8]? = nil, kmsKeyID: [UInt8]? = nil, shards: [BlobRef?]) {
        self.format = format
        self.versionID = versionID
        self.size = size
        self.segmentSize = segmentSize
        self.dataShards = dataShards
        self.parityShards = parityShards
        self.keyID = keyID
        self.wrappedKey = wrappedKey
        self.wrappedTagKey = wrappedTagKey
        self.customerKeyCheck = customerKeyCheck
        self.kmsKeyID = kmsKeyID
        self.shards = shards
    }

    /// Every blob the manifest points at.
    public var blobs: [BlobRef] { shards.compactMap { $0 } }

    private enum CodingKeys: String, CodingKey {
        case format, versionID, size, segmentSize, dataShards, parityShards, keyID, wrappedKey, wrappedTagKey, customerKeyCheck, kmsKeyID, shards
    }

    /// Byte strings are written as base64 strings. They were once arrays of numbers, which every
    /// reader still takes: decoding those byte by byte was about a tenth of a small GET's CPU.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        format = try container.decode(Int.self, forKey: .format)
        versionID = try container.bytes(.versionID)
        size = try container.decode(Int64.self, forKey: .size)
        segmentSize = try container.decode(Int.self, forKey: .segmentSize)
        dataShards = try container.decode(Int.self, forKey: .dataShards)
        parityShards = try container.decode(Int.self, forKey: .parityShards)
        keyID = try container.decode(UInt32.self, forKey: .keyID)
        wrappedKey = try container.bytes(.wrappedKey)
        wrappedTagKey = try container.contains(.wrappedTagKey) && !container.decodeNil(forKey: .wrappedTagKey)
            ? container.bytes(.wrappedTagKey) : nil
        customerKeyCheck = try container.contains(.customerKeyCheck) && !container.decodeNil(forKey: .customerKeyCheck)
            ? container.bytes(.customerKeyCheck) : nil
        kmsKeyID = try container.contains(.kmsKeyID) && !container.decodeNil(forKey: .kmsKeyID)
            ? container.bytes(.kmsKeyID) : nil
        shards = try container.decode([BlobRef?].self, forKey: .shards)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(format, forKey: .format)
        try container.encode(Data(versionID).base64EncodedString(), forKey: .versionID)
        try container.encode(size, forKey: .size)
        try container.encode(segmentSize, forKey: .segmentSize)
        try container.encode(dataShards, forKey: .dataShards)
        try container.encode(parityShards, forKey: .parityShards)
        try container.encode(keyID, forKey: .keyID)
        try container.encode(Data(wrappedKey).base64EncodedString(), forKey: .wrappedKey)
        try container.encodeIfPresent(wrappedTagKey.map { Data($0).base64EncodedString() }, forKey: .wrappedTagKey)
        try container.encodeIfPresent(customerKeyCheck.map { Data($0).base64EncodedString() }, forKey: .customerKeyCheck)
        try container.encodeIfPresent(kmsKeyID.map { Data($0).base64EncodedString() }, forKey: .kmsKeyID)
        try container.encode(shards, forKey: .shards)
    }
}

extension KeyedDecodingContainer {
    /// A byte string: base64 text, or (as written before) an array of numbers.
    fileprivate func bytes(_ key: Key) throws -> [UInt8] {
        if let text = try? decode(String.self, forKey: key) {
            guard let data = Data(base64Encoded: text) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "not base64")
            }
            return Array(data)
        }
        return try decode([UInt8].self, forKey: key)
    }
}

/// One blob on one provider, or one piece of a pack: a blob shared by the shard blobs of
/// several small objects written together (docs/FORMAT.md, "Packs").
public struct BlobRef: Codable, Hashable, Sendable, CustomStringConvertible {
    public var provider: String
    public var blob: String
    /// A piece: where in the pack its shard blob starts. Nil: the shard blob is the whole blob.
    public var offset: Int64?
    /// A piece: its shard blob's length.
    public var length: Int64?

    public init(provider: String, blob: String) {
        self.provider = provider
        self.blob = blob
    }

    public init(provider: String, pack: String, offset: Int64, length: Int64) {
        self.provider = provider
        self.blob = pack
        self.offset = offset
        self.length = length
    }

    /// Whether this is a piece of a pack, which it shares with other versions' shards.
    public var isPiece: Bool { offset != nil }

    /// The bytes of the provider's blob that hold `range` of this shard blob (nil: all of it).
    public func blobRange(_ range: Range<Int64>?) -> Range<Int64>? {
        guard let offset, let length else { return range }
        guard let range else { return offset..<(offset + length) }
        return (offset + min(range.lowerBound, length))..<(offset + min(range.upperBound, length))
    }

    /// Whether a provider blob of `size` bytes holds this shard blob of `length` bytes: exactly
    /// its size, or for a piece, a pack reaching past the piece's end.
    public func holds(_ length: Int64, inBlobOf size: Int64) -> Bool {
        guard let offset, let pieceLength = self.length else { return size == length }
        return pieceLength == length && size >= offset + pieceLength
    }

    /// The whole blob this refers to (the pack, for a piece).
    public var whole: BlobRef { BlobRef(provider: provider, blob: blob) }

    public var description: String {
        guard let offset, let length else { return "\(provider)/\(blob)" }
        return "\(provider)/\(blob)@\(offset)+\(length)"
    }
}

/// A hex rendering for identifiers (version ids, etags).
extension Array where Element == UInt8 {
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(count * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes a hex string spells (either case), or nil when it is not hex.
    public init?(hex text: String) {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case 48...57: digit - 48
            case 97...102: digit - 87
            case 65...70: digit - 55
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        self = bytes
    }

    /// Random bytes from the system generator, eight at a time.
    public static func random(count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var offset = 0
            while offset < count {
                var word = generator.next()
                let n = Swift.min(8, count - offset)
                Swift.withUnsafeBytes(of: &word) { UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[offset..<(offset + n)]).copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[..<n])) }
                offset += n
            }
            initialized = count
        }
    }
}
