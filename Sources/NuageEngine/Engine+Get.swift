import Foundation
import Metrics
import NuageCatalog
import NuageCore
import NuageCrypto
import NuageErasure
import NuageProviders
import Synchronization

extension Engine {
    /// Segments fetched per provider request (and kept ahead of the reader).
    static let readWindow = 4
    /// Windows kept in flight ahead of the reader.
    static let readAhead = 2

    /// Reads an object (or a byte range of it) as a stream of plaintext pieces.
    ///
    /// Data shards are read first; a chunk that is missing or fails its tag is an erasure,
    /// replaced by the same chunk of a parity shard and decoded. The object is flagged for repair
    /// when that happens. Bytes come out only after their segment authenticated: a reader sees
    /// exactly what was written, or an error.
    ///
    /// - Parameters:
    ///   - range: plaintext bytes to read, within the object; nil for all of it.
    ///   - customerKey: the client's key of an object stored under one (SSE-C).
    /// - Throws: `noSuchBucket`, `noSuchKey`, `invalidArgument` for a range outside the object;
    ///   `customerKeyRequired`, `customerKeyMismatch`, `customerKeyNotApplicable` before any byte is read;
    ///   the stream throws `insufficientShards` naming the providers when fewer than `k` valid
    ///   chunks of a segment can be read, `integrity` when a segment does not authenticate.
    public func get(bucket: String, key: String, version: VersionSelector = .current, range: Range<Int64>? = nil,
                    customerKey: CustomerKey? = nil) async throws -> ObjectReader {
        try await get(try await head(bucket: bucket, key: key, version: version), range: range, customerKey: customerKey)
    }

    /// Reads the version `record` (from ``head(bucket:key:version:)``): the bytes of that
    /// version, whatever was written since (a replaced version's blobs outlive reads that started).
    public func get(_ record: ObjectRecord, range: Range<Int64>? = nil, customerKey: CustomerKey? = nil) async throws -> ObjectReader {
        let bucket = record.bucket, key = record.key
        try Self.checkCustomerKey(customerKey, for: record)
        let wanted = range ?? 0..<record.size
        guard wanted.lowerBound >= 0, wanted.upperBound <= record.size, range == nil || !wanted.isEmpty else {
            throw NuageError(.invalidArgument, "range \(wanted) is outside the object's \(record.size) bytes")
        }
        // The parts the range touches, each with the range within it.
        var pieces: [(reader: SegmentReader, range: Range<Int64>)] = []
        var start: Int64 = 0
        for manifest in record.parts {
            let end = start + manifest.size
            let lower = max(wanted.lowerBound, start), upper = min(wanted.upperBound, end)
            if lower < upper || (wanted.isEmpty && pieces.isEmpty && wanted.lowerBound == start) {
                let reader = SegmentReader(engine: self, bucket: bucket, key: key, manifest: manifest,
                                           dataKey: try await dataKey(manifest, customerKey: customerKey), tagKey: try await tagKey(manifest),
                                           codec: try codec(dataShards: manifest.dataShards, parityShards: manifest.parityShards))
                pieces.append((reader, (lower - start)..<(upper - start)))
            }
            start = end
        }
        let channel = BoundedChannel<Data>(capacity: 2)
        let task = Task {
            do {
                for piece in pieces { try await piece.reader.read(piece.range, into: channel) }
                channel.finish()
            } catch {
                channel.finish(throwing: error)
            }
        }
        return ObjectReader(record: record, range: wanted, channel: channel, task: task)
    }

    /// Reads a whole object into memory (tests, small objects).
    public func getBytes(bucket: String, key: String, version: VersionSelector = .current, range: Range<Int64>? = nil,
                         customerKey: CustomerKey? = nil) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        for try await piece in try await get(bucket: bucket, key: key, version: version, range: range, customerKey: customerKey) { bytes += piece }
        return bytes
    }
}

/// A stream of an object's plaintext. Dropping it stops the reading.
public final class ObjectReader: AsyncSequence, Sendable {
    public typealias Element = Data
    /// The version being read: size, ETag and metadata for response headers.
    public let record: ObjectRecord
    /// The plaintext bytes this reader yields.
    public let range: Range<Int64>
    private let channel: BoundedChannel<Data>
    private let task: Task<Void, Never>

    init(record: ObjectRecord, range: Range<Int64>, channel: BoundedChannel<Data>, task: Task<Void, Never>) {
        self.record = record
        self.range = range
        self.channel = channel
        self.task = task
    }

    deinit {
        channel.close()
        task.cancel()
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var inner: BoundedChannel<Data>.AsyncIterator
        let owner: ObjectReader
        public mutating func next() async throws -> Data? { try await inner.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(inner: channel.makeAsyncIterator(), owner: self) }
}

/// Fetches, verifies, decodes and opens the segments of one object version.
struct SegmentReader: Sendable {
    let engine: Engine
    let bucket: String
    let key: String
    let manifest: Manifest
    /// Opens segments; nil for a reader that only checks and moves chunks (repair, drain, scrub).
    let dataKey: DataKey?
    let tagKey: ChunkTagKey
    let codec: ReedSolomon
    var layout: ShardLayout {
        ShardLayout(size: manifest.size, segmentSize: manifest.segmentSize, dataShards: manifest.dataShards)
    }

    /// One shard's part of a window, or why it could not be read.
    struct ShardRead: Sendable {
        let shard: Int
        let block: ByteBlock?
        let problem: String?
    }

    /// Chunks of a window of segments, as read from the shards that were asked.
    struct Window: @unchecked Sendable {
        // Immutable once built; ByteBlocks are shared read-only.
        var segments: Range<Int>
        var blocks: [ByteBlock?]
        /// valid[shard][segment - segments.lowerBound]
        var valid: [[Bool]]
        var problems: [Int: String]
    }

    func read(_ range: Range<Int64>, into channel: BoundedChannel<Data>) async throws {
        let segments = range.isEmpty ? 0..<(manifest.size == 0 ? 1 : 0) : layout.segments(covering: range)
        let windows = Swift.stride(from: segments.lowerBound, to: segments.upperBound, by: Engine.readWindow).map {
            $0..<min($0 + Engine.readWindow, segments.upperBound)
        }
        var problems: [Int: String] = [:]
        defer {
            if !problems.isEmpty {
                let engine = engine, versionID = manifest.versionID, shards = problems.keys.sorted(), bucket = bucket, key = key
                let reason = problems.sorted { $0.key < $1.key }.map { "shard \($0.key): \($0.value)" }.joined(separator: "; ")
                Task { await engine.tolerating("note shards a read found damaged for repair (a scrub finds them)", level: .error) {
                    try await engine.catalog.noteRepair(bucket: bucket, key: key, versionID: versionID, shards: shards, reason: reason)
                } }
            }
        }
        // Windows fetched ahead of the one being opened, so that provider reads overlap decoding.
        var pending = windows.prefix(Engine.readAhead).map { next in Task { try await fetch(next) } }
        defer { for task in pending { task.cancel() } }
        for position in windows.indices {
            let window = try await pending.removeFirst().value
            if position + Engine.readAhead < windows.count {
                let next = windows[position + Engine.readAhead]
                pending.append(Task { try await fetch(next) })
            }
            problems.merge(window.problems) { a, _ in a }
            for segment in window.segments {
                let plaintext = try open(segment, in: window)
                let start = Int64(segment) * Int64(manifest.segmentSize)
                let lower = Int(max(range.lowerBound - start, 0))
                let upper = Int(min(range.upperBound - start, Int64(plaintext.count)))
                if lower < upper { try await channel.send(plaintext[(plaintext.startIndex + lower)..<(plaintext.startIndex + upper)]) }
            }
        }
    }

    /// Reads the window from `k` shards, healthy providers and data shards first, and hedges:
    /// a failed or invalid read, or a read still running after the hedge delay, brings in the
    /// next shard; once every segment has `k` valid chunks the other reads are cancelled.
    /// - Parameter excluding: shards not to read (a repair rebuilding them).
    func fetch(_ segments: Range<Int>, excluding: Set<Int> = []) async throws -> Window {
        let k = manifest.dataShards, n = codec.totalShards
        var blocks = [ByteBlock?](repeating: nil, count: n)
        var valid = [[Bool]](repeating: [Bool](repeating: false, count: segments.count), count: n)
        var problems: [Int: String] = [:]
        var untried = engine.readOrder(manifest).filter { !excluding.contains($0) }[...]
        let hedgeDelay = engine.hedgeDelay(manifest, shards: Array(untried.prefix(k)))
        func satisfied() -> Bool {
            (0..<segments.count).allSatisfy { s in valid.reduce(0) { $0 + ($1[s] ? 1 : 0) } >= k }
        }
        func take(_ block: ByteBlock, shard: Int) {
            let checked = verify(block, shard: shard, segments: segments)
            blocks[shard] = block
            valid[shard] = checked
            let bad = segments.filter { !checked[$0 - segments.lowerBound] }
            if !bad.isEmpty { problems[shard] = "chunk tag mismatch in segment(s) \(bad.map(String.init).joined(separator: ","))" }
        }
        // Of the first k shards in read order, those their providers have at hand (a directory
        // provider's hot file) are read here, with no task, timer or thread crossing (a hot small
        // object is read so); the others are asked with get below, as before.
        var atHand = 0
        for shard in Array(untried.prefix(k)) {
            guard let block = readShardAtHand(shard, segments) else { continue }
            untried.removeAll { $0 == shard }
            take(block, shard: shard)
            if problems[shard] == nil { atHand += 1 }
        }
        if satisfied() { return Window(segments: segments, blocks: blocks, valid: valid, problems: problems) }
        let wanted = k - atHand
        // The hedge timer is the "read" of shard -1.
        await withTaskGroup(of: ShardRead.self) { group in
            var inFlight = 0, hedging = false
            func launch() {
                guard let shard = untried.popFirst() else { return }
                inFlight += 1
                group.addTask {
                    do { return ShardRead(shard: shard, block: try await readShard(shard, segments), problem: nil) } catch {
                        return ShardRead(shard: shard, block: nil, problem: "\(error)")
                    }
                }
            }
            func armHedge() {
                guard !hedging, !untried.isEmpty else { return }
                hedging = true
                group.addTask {
                    try? await engine.time.sleep(hedgeDelay)
                    return ShardRead(shard: -1, block: nil, problem: nil)
                }
            }
            for _ in 0..<wanted { launch() }
            armHedge()
            while inFlight > 0, let read = await group.next() {
                guard read.shard >= 0 else {
                    hedging = false
                    if !untried.isEmpty { Counter(label: "nuage_hedged_reads_total").increment() }
                    launch()
                    armHedge()
                    continue
                }
                inFlight -= 1
                if let block = read.block {
                    take(block, shard: read.shard)
                } else {
                    problems[read.shard] = read.problem
                }
                if satisfied() {
                    group.cancelAll()
                    return
                }
                if read.block == nil || problems[read.shard] != nil { launch() }
                // Too few reads left in flight to reach k valid chunks: ask more now.
                while inFlight < wanted && !untried.isEmpty && !satisfied() { launch() }
            }
            group.cancelAll()
        }
        guard satisfied() else {
            let unwritten = manifest.shards.indices.filter { manifest.shards[$0] == nil }.map { "shard \($0): never written (pending repair)" }
            let detail = unwritten + problems.sorted { $0.key < $1.key }.map { shard, problem in
                "shard \(shard) on \(manifest.shards[shard]?.provider ?? "nowhere"): \(problem)"
            }
            throw NuageError(.insufficientShards,
                             "object \(key) in \(bucket): fewer than \(k) of \(n) shards readable for segments \(segments): \(detail.joined(separator: "; "))")
        }
        return Window(segments: segments, blocks: blocks, valid: valid, problems: problems)
    }

    /// The shard's part of the window if its provider has it at hand (``Provider/cachedGet(_:range:)``).
    func readShardAtHand(_ shard: Int, _ segments: Range<Int>) -> ByteBlock? {
        guard let ref = manifest.shards[shard], let provider = engine.providers[ref.provider] else { return nil }
        let range = layout.byteRange(ofSegments: segments)
        guard let block = provider.cachedGet(ref.blob, range: ref.blobRange(range)!), block.count == range.count else { return nil }
        return block
    }

    func readShard(_ shard: Int, _ segments: Range<Int>) async throws -> ByteBlock {
        guard let ref = manifest.shards[shard] else { throw NuageError(.insufficientShards, "shard was never written") }
        let range = layout.byteRange(ofSegments: segments)
        let block = try await engine.provider(named: ref.provider).get(ref.blob, range: ref.blobRange(range))
        guard block.count == range.count else {
            throw ProviderError(.corrupt, provider: ref.provider, "returned \(block.count) bytes for a \(range.count)-byte range")
        }
        return block
    }

    /// Checks each chunk's tag: whether each segment's chunk in `block` is authentic.
    func verify(_ block: ByteBlock, shard: Int, segments: Range<Int>) -> [Bool] {
        let bytes = UnsafeRawBufferPointer(block.unsafeMutableBytes)
        let valid = segments.map { segment in
            let (offset, chunk) = position(of: segment, in: segments)
            return tagKey.verify(chunk: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + chunk)]),
                                  tag: UnsafeRawBufferPointer(rebasing: bytes[(offset + chunk)..<(offset + chunk + ShardLayout.tagSize)]),
                                  shard: shard, segment: UInt64(segment))
        }
        withExtendedLifetime(block) {}
        return valid
    }

    /// Offset of a segment's chunk within a window block, and the chunk length.
    func position(of segment: Int, in segments: Range<Int>) -> (offset: Int, length: Int) {
        (Int(layout.offset(ofSegment: segment) - layout.offset(ofSegment: segments.lowerBound)), layout.chunkLength(ofSegment: segment))
    }

    /// Rebuilds a segment's sealed bytes from valid chunks (decoding erasures) and opens it.
    private func open(_ segment: Int, in window: Window) throws -> Data {
        guard let dataKey else { throw NuageError(.internalError, "a reader without the data key cannot open segments") }
        let k = manifest.dataShards, n = codec.totalShards
        let (offset, chunk) = position(of: segment, in: window.segments)
        let index = segment - window.segments.lowerBound
        var pointers: [UnsafeRawPointer?] = (0..<n).map { shard in
            guard window.valid[shard][index], let block = window.blocks[shard] else { return nil }
            return block.withUnsafeBytes { UnsafeRawPointer($0.baseAddress! + offset) }
        }
        let missing = (0..<k).filter { pointers[$0] == nil }
        let rebuilt = missing.map { _ in ByteBlock(uninitializedCount: chunk) }
        if !missing.isEmpty {
            try codec.reconstruct(length: chunk, shards: pointers, wanted: missing,
                                  into: rebuilt.map { $0.unsafeMutableBytes.baseAddress! })
            for (shard, block) in zip(missing, rebuilt) { pointers[shard] = UnsafeRawPointer(block.unsafeMutableBytes.baseAddress!) }
        }
        return try withExtendedLifetime((window, rebuilt)) {
            try dataKey.open(segmentPieces: pointers[..<k].map { UnsafeRawBufferPointer(start: $0!, count: chunk) },
                             sealedLength: layout.sealedLength(ofSegment: segment), index: UInt64(segment),
                             isLast: segment == layout.segmentCount - 1, versionID: manifest.versionID)
        }
    }
}

extension Engine {
    /// The order in which to ask a version's shards: written shards on healthy providers first,
    /// then degraded, then down, then providers the policy denies (read only when `k` others
    /// cannot be); within each, data shards (no decoding) before parity, and faster providers (by
    /// recent read latency) first. Providers configured `read = "never"` are never asked.
    func readOrder(_ manifest: Manifest) -> [Int] {
        func key(_ shard: Int) -> (Int, Int, Duration, Int) {
            let provider = manifest.shards[shard]?.provider
            let tracker = provider.flatMap { health[$0] }
            let denied = provider.map { placement.exclusions[$0] != nil || providers[$0] == nil } ?? false
            let rank = switch tracker?.state {
            case _ where denied: 3
            case .down?: 2
            case .degraded?: 1
            default: 0
            }
            return (rank, shard >= manifest.dataShards ? 1 : 0, tracker?.readLatency ?? .zero, shard)
        }
        return manifest.shards.indices.filter { manifest.shards[$0].map { !neverContacted.contains($0.provider) } ?? false }
            .sorted { key($0) < key($1) }
    }

    /// How long a read may run before another shard is asked too: twice the slowest recent
    /// read latency of the providers asked first (250 ms when unknown), within 20 ms…5 s.
    func hedgeDelay(_ manifest: Manifest, shards: [Int]) -> Duration {
        let latencies = shards.compactMap { manifest.shards[$0].flatMap { health[$0.provider]?.readLatency } }
        guard latencies.count == shards.count, let slowest = latencies.max() else { return .milliseconds(250) }
        return min(max(slowest * 2, .milliseconds(20)), .seconds(5))
    }
}
