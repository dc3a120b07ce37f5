import NuageCore

/// Where each chunk of an object version sits inside its shard blobs.
///
/// A shard blob is a ``ShardHeader`` (``ShardHeader/size`` bytes) followed by one record per
/// segment: the chunk, then its 16-byte tag. Segment `i` (all but the last are full) holds
/// `segmentSize` bytes of plaintext, sealed into `plain + 16` bytes and split into `k` chunks
/// of `ceil((plain + 16) / k)` bytes (the last data chunk zero-padded). See docs/FORMAT.md.
public struct ShardLayout: Hashable, Sendable {
    public static let tagSize = 16
    public static let sealOverhead = 16

    public let size: Int64
    public let segmentSize: Int
    public let dataShards: Int

    public init(size: Int64, segmentSize: Int, dataShards: Int) {
        self.size = size
        self.segmentSize = segmentSize
        self.dataShards = dataShards
    }

    /// At least one segment, so that an empty object still carries an authenticated last segment.
    public var segmentCount: Int {
        max(1, Int((size + Int64(segmentSize) - 1) / Int64(segmentSize)))
    }

    public func plaintextLength(ofSegment index: Int) -> Int {
        index < segmentCount - 1 ? segmentSize : Int(size - Int64(segmentCount - 1) * Int64(segmentSize))
    }

    public func sealedLength(ofSegment index: Int) -> Int { plaintextLength(ofSegment: index) + Self.sealOverhead }

    public func chunkLength(ofSegment index: Int) -> Int {
        (sealedLength(ofSegment: index) + dataShards - 1) / dataShards
    }

    /// Bytes of one full segment's record (chunk and tag) in a shard blob.
    public var stride: Int64 { Int64((segmentSize + Self.sealOverhead + dataShards - 1) / dataShards + Self.tagSize) }

    /// Offset of segment `index`'s record in every shard blob.
    public func offset(ofSegment index: Int) -> Int64 { Int64(ShardHeader.size) + Int64(index) * stride }

    /// Bytes of the records of segments `range` in one shard blob.
    public func byteRange(ofSegments range: Range<Int>) -> Range<Int64> {
        let last = range.upperBound - 1
        return offset(ofSegment: range.lowerBound)..<(offset(ofSegment: last) + Int64(chunkLength(ofSegment: last) + Self.tagSize))
    }

    /// Length of every shard blob of this object version.
    public var blobLength: Int64 { byteRange(ofSegments: (segmentCount - 1)..<segmentCount).upperBound }

    /// The segments holding plaintext bytes `range`.
    public func segments(covering range: Range<Int64>) -> Range<Int> {
        guard !range.isEmpty else { return 0..<0 }
        return Int(range.lowerBound / Int64(segmentSize))..<Int((range.upperBound - 1) / Int64(segmentSize) + 1)
    }
}
