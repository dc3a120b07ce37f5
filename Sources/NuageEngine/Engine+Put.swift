import Crypto
import Foundation
import NuageCatalog
import NuageCore
import NuageCrypto
import NuageErasure
import NuageProviders
import Synchronization

extension Engine {
    /// What must hold for a put to commit.
    public enum PutCondition: Sendable, Equatable {
        case none
        /// The key must not exist (`If-None-Match: *`).
        case mustNotExist
        /// The current version must have this ETag (`If-Match`).
        case etagMatches(String)
    }

    /// The metadata stored with an object: for an SSE-C object, without the checksums of its
    /// plaintext (`x-amz-checksum-*`, checked on the way in), which would give whoever holds the
    /// master key a digest of data only the client may read.
    static func storedMetadata(_ metadata: [String: String], customerKey: CustomerKey?) -> [String: String] {
        customerKey == nil ? metadata : metadata.filter { !$0.key.hasPrefix("x-amz-checksum-") }
    }

    /// Stores an object, replacing any current version atomically.
    ///
    /// Reads exactly `size` bytes from `body`, holding a few segments in memory at a time. The
    /// object becomes visible only when at least the write quorum of shard blobs is durable;
    /// shards that failed are recorded for repair. On any failure nothing is visible and the
    /// blobs written so far are deleted (or left to `gc` through the write intent).
    ///
    /// - Parameters:
    ///   - metadata: stored headers (content type, `x-amz-meta-*`, …), returned as given.
    ///   - etag: the ETag to record. Nil records the MD5 of the body (S3's ETag for a plain put),
    ///     computed as a stage of the pipeline; MD5 runs at under 1 GB/s on one core, so it bounds
    ///     a single stream. A given ETag skips that stage unless the body checks an MD5.
    ///   - customerKey: the client's key (SSE-C): the data key is wrapped under it instead of the
    ///     master key, and the ETag is not the MD5 (``CustomerKey/etag(md5:)``).
    ///   - kmsKey: the name of a KMS key (SSE-KMS) to wrap the data key under instead.
    /// - Throws: `invalidKey`, `keyTooLong`, `noSuchBucket`, `incompleteBody` (a body shorter than `size`),
    ///   `kmsNotFound`, `kmsDisabled`, `kmsInvalidState` for a KMS key that cannot be used,
    ///   `invalidArgument` (longer), `preconditionFailed`, `policyUnsatisfiable`, `insufficientShards` naming the
    ///   providers that failed.
    @discardableResult
    public func put(bucket: String, key: String, size: Int64, body: some ObjectBody,
                    metadata: [String: String] = [:], etag: String? = nil,
                    condition: PutCondition = .none, customerKey: CustomerKey? = nil, kmsKey: String? = nil) async throws -> ObjectRecord {
        try ObjectNames.validateKey(key)
        guard size >= 0 else { throw NuageError(.invalidArgument, "negative object size") }
        guard let bucketRecord = try await catalog.bucket(bucket) else {
            throw NuageError(.noSuchBucket, "bucket \(bucket) does not exist")
        }
        let expected = try await expectedVersion(bucket: bucket, key: key, condition: condition)
        let kms = try await kmsKeyForWriting(optional: kmsKey)
        let stream = try await writeStream(bucket: bucket, key: key, size: size, body: body,
                                           headerMetadata: Self.storedMetadata(metadata, customerKey: customerKey),
                                           hashing: etag == nil, customerKey: customerKey, kmsKey: kms, packing: true)
        var record = ObjectRecord(bucket: bucket, key: key, size: size, etag: "", modified: stream.created,
                                  metadata: Self.storedMetadata(metadata.merging(body.trailingMetadata) { _, trailing in trailing },
                                                                customerKey: customerKey),
                                  manifest: stream.manifest)
        record.versioned = bucketRecord.versioning == .enabled
        do {
            record.etag = try stream.etag(etag)
            try await finish(stream) {
                if let replaced = try await catalog.commit(record, intent: stream.intent, expectedVersion: expected) {
                    await collectReplaced(replaced.blobs)
                }
            }
        } catch {
            await stream.pack?.release(committed: false)
            throw error
        }
        await stream.pack?.release(committed: true)
        try await journalDurable()
        return record
    }

    /// Sets (or removes, with nil) stored metadata entries of a version without rewriting it
    /// (its tags, retention, legal hold), retrying when another write replaced the current
    /// version meanwhile.
    /// - Parameter change: given the version, whether to change it (what it throws stops the change).
    /// - Throws: `noSuchKey`, `noSuchVersion`, `noSuchBucket`, `deleteMarker`; `objectLocked`
    ///   when the change would weaken retention in force.
    @discardableResult
    public func setMetadata(bucket: String, key: String, version: VersionSelector = .current, _ entries: [String: String?],
                            bypassGovernance: Bool = false,
                            checking check: (ObjectRecord) throws -> Void = { _ in }) async throws -> ObjectRecord {
        for _ in 0..<5 {
            let current = try await head(bucket: bucket, key: key, version: version)
            try check(current)
            var metadata = current.metadata
            for (name, value) in entries { metadata[name] = value }
            if let updated = try await catalog.replaceMetadata(bucket: bucket, key: key, versionID: current.versionID, metadata: metadata,
                                                               bypassGovernance: bypassGovernance, now: Date()) {
                try await journalDurable()
                return updated
            }
        }
        throw NuageError(.preconditionFailed, "object \(key) kept changing while its metadata was being set")
    }

    /// A sealed stream whose shard blobs are durable (at least the write quorum), not yet
    /// committed: its intent still holds its blobs.
    struct WrittenStream: Sendable {
        var bucket: String
        var key: String
        var manifest: Manifest
        var intent: String
        var created: Date
        /// The ETag of the plaintext (its MD5, or for SSE-C a keyed digest of it), computed
        /// alongside sealing and encoding; nil when not asked for.
        var computedETag: String?
        /// Why shards that did not land failed, by shard index.
        var failed: [Int: String]
        /// The blobs of those shards, which may still appear (a straggler finishing late).
        var failedBlobs: [BlobRef]
        /// For a small object written in a pack: its share of the batch, whose pack intent it
        /// commits under (released once the put is done, committed or not).
        var pack: PackTicket.Share? = nil

        /// The ETag to record: `given`, else the one computed from the plaintext.
        func etag(_ given: String?) throws -> String {
            guard let etag = given ?? computedETag else { throw NuageError(.internalError, "no ETag given and no MD5 computed") }
            return etag
        }
    }

    /// Runs `commit`; on failure gives the stream's blobs up, on success notes the shards that
    /// did not land for repair.
    func finish(_ stream: WrittenStream, commit: () async throws -> Void) async throws {
        do {
            try await commit()
        } catch {
            // A pack intent is the batch's: it goes once every put of the batch is done.
            if stream.pack == nil {
                await tolerating("give up a failed write's intent (gc gives it up later)") { try await catalog.abandonIntent(stream.intent) }
                await collectPromptly(stream.manifest.blobs)
            }
            throw error
        }
        if !stream.failed.isEmpty {
            await tolerating("note shards that did not land for repair (a scrub finds them)", level: .error) {
                try await catalog.noteRepair(bucket: stream.bucket, key: stream.key, versionID: stream.manifest.versionID,
                                          shards: stream.failed.keys.sorted(),
                                          reason: "write failed: " + stream.failed.sorted { $0.key < $1.key }.map(\.value).joined(separator: "; "))
            }
            // The commit garbage-listed the failed shards' blobs (a straggler may still land one).
            await collectPromptly(stream.failedBlobs)
        }
    }

    /// The shard blob format new streams are written in: 2 (3 under a KMS key); tests of what
    /// older gateways wrote set 1.
    @TaskLocal static var writeFormat = Int(ShardHeader.format)

    /// Seals, encodes and writes `size` bytes of `body` as a new stream under a write intent.
    /// On failure nothing is left behind but garbage-listed blobs.
    /// - Parameters:
    ///   - headerMetadata: stored in the shard headers (for rebuilding the catalog).
    ///   - hashing: whether to compute the MD5 of the body (always, when the body checks one).
    ///   - customerKey: the client's key that wraps the data key (SSE-C); nil: the master key.
    ///   - kmsKey: the KMS key that wraps the data key (SSE-KMS); nil: the master key.
    ///   - packing: whether a stream of at most ``packLimit`` bytes goes into packs with those of
    ///     other puts (a whole object's, not an upload part's).
    func writeStream(bucket: String, key: String, size: Int64, body: some ObjectBody,
                     headerMetadata: [String: String], hashing: Bool, customerKey: CustomerKey? = nil,
                     kmsKey: KMSKey? = nil, packing: Bool = false) async throws -> WrittenStream {
        try requirePlaceable()
        let policy = placement.policy
        let k = policy.dataShards, n = policy.totalShards
        let codec = try codec(dataShards: k, parityShards: policy.parityShards)
        let layout = ShardLayout(size: size, segmentSize: segmentSize, dataShards: k)
        let versionID = [UInt8].random(count: 16)
        // Format 2: the data key seals, an independent tag key tags chunks; the tag key is always
        // under the master key, the data key under the client's key when it gave one. Format 3
        // is format 2 with the data key under a KMS key.
        guard customerKey == nil || kmsKey == nil else {
            throw NuageError(.invalidArgument, "an object is stored under a customer key or a KMS key, not both")
        }
        let format = kmsKey == nil ? Self.writeFormat : 3
        guard format >= 2 || (format == 1 && customerKey == nil) else {
            throw NuageError(.invalidArgument, "objects are written in format 2 (format 1 only without a customer key)")
        }
        let dataKey = DataKey.random(), tagKey = format == 1 ? dataKey.derivedTagKey : ChunkTagKey.random()
        let wrappedKey: [UInt8]
        if let customerKey {
            wrappedKey = try customerKey.wrap(dataKey, versionID: versionID)
        } else if let kmsKey {
            wrappedKey = try kmsKey.wrap(dataKey, versionID: versionID)
        } else {
            wrappedKey = try await masterKey.wrap(dataKey, context: versionID)
        }
        let wrappedTagKey = format == 1 ? nil : try await masterKey.wrap(tagKey, versionID: versionID)
        let customerKeyCheck = customerKey?.check(versionID: versionID)
        let targets = try placement.choose(for: versionID)
        let created = Date()
        let headers = try (0..<n).map { index in
            ByteBlock(try ShardHeader(versionID: versionID, shardIndex: index, dataShards: k,
                                      parityShards: policy.parityShards, segmentSize: segmentSize, objectSize: size,
                                      createdMilliseconds: Int64(created.timeIntervalSince1970 * 1000),
                                      keyID: masterKey.id, wrappedKey: wrappedKey, wrappedTagKey: wrappedTagKey,
                                      customerKeyCheck: customerKeyCheck, kmsKeyID: kmsKey?.id, bucket: bucket, key: key,
                                      metadata: headerMetadata)
                .sealed(with: masterKey))
        }
        func manifest(_ shards: [BlobRef?]) -> Manifest {
            Manifest(format: format, versionID: versionID, size: size, segmentSize: segmentSize,
                     dataShards: k, parityShards: policy.parityShards, keyID: masterKey.id,
                     wrappedKey: wrappedKey, wrappedTagKey: wrappedTagKey, customerKeyCheck: customerKeyCheck,
                     kmsKeyID: kmsKey?.id, shards: shards)
        }
        func etag(_ md5: [UInt8]?) -> String? { md5.map { customerKey?.etag(md5: $0) ?? $0.hex } }

        if packing, packLimit > 0, size <= Int64(packLimit) {
            // Small: the whole stream is sealed and encoded in memory, then written with others.
            let writer = StripeWriter(codec: codec, layout: layout, dataKey: dataKey, tagKey: tagKey, versionID: versionID,
                                      patience: stragglerGrace, time: time, quorum: policy.writeQuorum, failures: ShardFailures(),
                                      digest: hashing || body.checksMD5 ? RunningMD5() : nil)
            let channels = (0..<n).map { _ in BoundedChannel<ByteBlock>(capacity: layout.segmentCount + 1) }
            try await writer.write(from: body, headers: headers, to: channels) {}
            var blobs: [[ByteBlock]] = []
            for channel in channels {
                channel.finish()
                var blocks: [ByteBlock] = []
                for try await block in channel { blocks.append(block) }
                blobs.append(blocks)
            }
            let md5 = writer.digest?.finalize()
            if let md5 { try body.verify(md5: md5) }
            let written = try await packWriter.write(PackWriter.Member(blobs: blobs, providers: targets.map(\.name), length: layout.blobLength),
                                                     engine: self)
            do { try requireQuorum(written.failures, providers: targets.map(\.name)) } catch {
                await written.ticket.release(committed: false)
                throw error
            }
            return WrittenStream(bucket: bucket, key: key, manifest: manifest(written.pieces), intent: written.ticket.intent, created: created,
                                 computedETag: etag(md5), failed: written.failures.mapValues { "\($0)" }, failedBlobs: [],
                                 pack: written.ticket)
        }

        let refs = targets.map { BlobRef(provider: $0.name, blob: [UInt8].random(count: 16).hex) }
        let intent = WriteIntent(id: versionID.hex, created: created, blobs: refs)
        try await catalog.recordIntent(intent)
        let failures = ShardFailures()
        let quorum = policy.writeQuorum, grace = stragglerGrace
        var md5: [UInt8]?
        let writer = StripeWriter(codec: codec, layout: layout, dataKey: dataKey, tagKey: tagKey, versionID: versionID,
                                  patience: grace, time: time, quorum: quorum, failures: failures,
                                  digest: hashing || body.checksMD5 ? RunningMD5() : nil)
        do {
            try await withThrowingTaskGroup(of: Int.self) { group in
                let channels = (0..<n).map { _ in BoundedChannel<ByteBlock>(capacity: 4) }
                for index in 0..<n {
                    let provider = try provider(named: refs[index].provider)
                    group.addTask {
                        do {
                            try await provider.put(refs[index].blob, length: layout.blobLength, body: channels[index])
                        } catch {
                            failures.record(index, error)
                            channels[index].close()
                        }
                        return index
                    }
                }
                do {
                    try await writer.write(from: body, headers: headers, to: channels) {
                        try self.requireQuorum(failures.all, providers: refs.map(\.provider))
                    }
                    for channel in channels { channel.finish() }
                } catch {
                    for channel in channels { channel.finish(throwing: error) }
                    throw error
                }
                // Once the quorum is durable, stragglers get `grace` and are then given up.
                var finished = Set<Int>(), timerStarted = false
                while finished.count < n, let next = try await group.next() {
                    guard next >= 0 else {
                        for index in 0..<n where !finished.contains(index) {
                            failures.record(index, ProviderError(.unavailable, provider: refs[index].provider,
                                                                 "put \(refs[index].blob): still writing \(grace) after the write quorum was durable"))
                            channels[index].finish(throwing: CancellationError())
                        }
                        group.cancelAll()
                        break
                    }
                    finished.insert(next)
                    if !timerStarted, finished.count < n, finished.subtracting(failures.all.keys).count >= quorum {
                        timerStarted = true
                        let time = time
                        group.addTask { try? await time.sleep(grace); return -1 }
                    }
                }
                group.cancelAll()
            }
            try requireQuorum(failures.all, providers: refs.map(\.provider))
            md5 = writer.digest?.finalize()
            if let md5 { try body.verify(md5: md5) }
        } catch {
            await tolerating("give up a failed write's intent (gc gives it up later)") { try await catalog.abandonIntent(intent.id) }
            await collectPromptly(refs)
            throw error
        }

        let failed = failures.all
        return WrittenStream(bucket: bucket, key: key, manifest: manifest(refs.indices.map { failed[$0] == nil ? refs[$0] : nil }),
                             intent: intent.id, created: created, computedETag: etag(md5),
                             failed: failed.mapValues { "\($0)" }, failedBlobs: failed.keys.sorted().map { refs[$0] })
    }

    func expectedVersion(bucket: String, key: String, condition: PutCondition) async throws -> [UInt8]? {
        switch condition {
        case .none: return nil
        case .mustNotExist:
            if try await catalog.object(bucket: bucket, key: key) != nil {
                throw NuageError(.preconditionFailed, "object \(key) already exists")
            }
            return []
        case .etagMatches(let etag):
            guard let current = try await catalog.object(bucket: bucket, key: key) else {
                throw NuageError(.noSuchKey, "no object \(key) in bucket \(bucket)")
            }
            guard current.etag == etag else { throw NuageError(.preconditionFailed, "ETag of \(key) does not match") }
            return current.versionID
        }
    }

    /// Throws once so many shard writes failed that the write quorum is out of reach.
    /// - Parameter providers: where each shard is written, by shard index.
    func requireQuorum(_ failures: [Int: any Error], providers: [String]) throws {
        let quorum = placement.policy.writeQuorum
        guard providers.count - failures.count < quorum else { return }
        let detail = failures.sorted { $0.key < $1.key }.map { "shard \($0.key) on \(providers[$0.key]): \($0.value)" }
        throw NuageError(.insufficientShards,
                         "only \(providers.count - failures.count) of \(providers.count) shard writes can succeed, \(quorum) needed: \(detail.joined(separator: "; "))")
    }
}

/// Turns plaintext into shard records, segment by segment: seal, split, encode parity, tag.
struct StripeWriter: Sendable {
    let codec: ReedSolomon
    let layout: ShardLayout
    let dataKey: DataKey
    let tagKey: ChunkTagKey
    let versionID: [UInt8]
    /// How long a shard may refuse data before it is given up (while the quorum stays reachable).
    let patience: Duration
    var time: TimeSource = .continuous
    let quorum: Int
    let failures: ShardFailures
    /// The MD5 of the plaintext written so far, when one is wanted.
    let digest: RunningMD5?

    /// Reads the body, sends each shard its header then one record per segment. `check` runs
    /// after every segment and may abort the write.
    func write(from body: some ObjectBody, headers: [ByteBlock], to channels: [BoundedChannel<ByteBlock>],
               check: () throws -> Void) async throws {
        // The MD5 (S3's ETag) is its own pipeline stage: a task hashes segments while this one
        // reads, seals, encodes and hands out the next ones.
        let hashing = digest.map { digest in
            let segments = BoundedChannel<(ByteBlock, Int)>(capacity: 4)
            let task = Task { do { for try await (block, count) in segments { await digest.update(block, count: count) } } catch {} }
            return (segments: segments, task: task)
        }
        defer {
            hashing?.segments.finish()
            hashing?.task.cancel()
        }
        try await send(headers, to: channels)
        for segment in 0..<layout.segmentCount {
            let length = layout.plaintextLength(ofSegment: segment)
            // A fresh block per segment (from the pool): the hasher may still be reading the last.
            let plaintext = ByteBlock(uninitializedCount: layout.segmentSize)
            try await readFully(body, into: plaintext, count: length, segment: segment)
            try await hashing?.segments.send((plaintext, length))
            let records = try plaintext.withUnsafeBytes { buffer in
                try encode(segment: segment, plaintext: UnsafeRawBufferPointer(rebasing: buffer[..<length]))
            }
            try await send(records, to: channels)
            try check()
        }
        let probe = ByteBlock(count: 1)
        let more = try await body.read(into: probe.unsafeMutableBytes)
        withExtendedLifetime(probe) {}
        guard more == 0 else {
            throw NuageError(.invalidArgument, "the body is longer than the declared \(layout.size) bytes")
        }
        hashing?.segments.finish()
        await hashing?.task.value
    }

    /// One segment's `n` records: chunk `i` and its tag.
    func encode(segment: Int, plaintext: UnsafeRawBufferPointer) throws -> [ByteBlock] {
        let k = codec.dataShards, n = codec.totalShards
        let chunk = layout.chunkLength(ofSegment: segment)
        let index = UInt64(segment)
        let sealed = try dataKey.seal(segment: plaintext, index: index, isLast: segment == layout.segmentCount - 1,
                                      versionID: versionID)
        let records = (0..<n).map { _ in ByteBlock(uninitializedCount: chunk + ShardLayout.tagSize) }
        // Scatter ciphertext ‖ tag over the k data chunks; zero the padding of the last ones.
        var position = 0
        for piece in [sealed.ciphertext, sealed.tag] {
            piece.withUnsafeBytes { source in
                var offset = 0
                while offset < source.count {
                    let shard = position / chunk, within = position % chunk
                    let n = min(chunk - within, source.count - offset)
                    records[shard].withUnsafeMutableBytes { target in
                        (target.baseAddress! + within).copyMemory(from: source.baseAddress! + offset, byteCount: n)
                    }
                    offset += n
                    position += n
                }
            }
        }
        while position < k * chunk {
            let shard = position / chunk, within = position % chunk
            records[shard].withUnsafeMutableBytes { target in
                (target.baseAddress! + within).initializeMemory(as: UInt8.self, repeating: 0, count: chunk - within)
            }
            position += chunk - within
        }
        let pointers = records.map { $0.withUnsafeMutableBytes { $0.baseAddress! } }
        withExtendedLifetime(records) {
            codec.encode(length: chunk, data: pointers[..<k].map { UnsafeRawPointer($0) }, parity: Array(pointers[k...]))
            for shard in 0..<n {
                tagKey.tag(chunk: UnsafeRawBufferPointer(start: pointers[shard], count: chunk), shard: shard, segment: index,
                           into: UnsafeMutableRawBufferPointer(start: pointers[shard] + chunk, count: ShardLayout.tagSize))
            }
        }
        return records
    }

    /// Sends record `i` to channel `i`; a channel whose provider failed is skipped. A channel
    /// that stays full for `patience` is given up as a straggler while enough others remain
    /// for the quorum (else the write waits for it).
    private func send(_ records: [ByteBlock], to channels: [BoundedChannel<ByteBlock>]) async throws {
        var full: [Int] = []
        for (index, (record, channel)) in zip(records, channels).enumerated() {
            do { if try !channel.trySend(record) { full.append(index) } } catch is BoundedChannel<ByteBlock>.Closed { continue }
        }
        for index in full {
            let channel = channels[index], record = records[index]
            do {
                if failures.all.count + 1 <= channels.count - quorum {
                    let patience = patience
                    try await withDeadline(patience, time: time, onTimeout: { Straggling(patience: patience) }) { try await channel.send(record) }
                } else {
                    try await channel.send(record)
                }
            } catch is BoundedChannel<ByteBlock>.Closed {
                continue
            } catch let straggling as Straggling {
                failures.record(index, straggling)
                channel.finish(throwing: straggling)
            }
        }
    }

    struct Straggling: Error, CustomStringConvertible {
        let patience: Duration
        var description: String { "accepted no data for \(patience) while the other shards did: given up as a straggler" }
    }

    private func readFully(_ body: some ObjectBody, into block: ByteBlock, count: Int, segment: Int) async throws {
        var done = 0
        let buffer = block.unsafeMutableBytes
        while done < count {
            let n = try await body.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done..<count]))
            withExtendedLifetime(block) {}
            guard n > 0 else {
                let received = Int64(segment) * Int64(layout.segmentSize) + Int64(done)
                throw NuageError(.incompleteBody, "the body ended after \(received) of the declared \(layout.size) bytes")
            }
            done += n
        }
    }
}

/// Shard writes that failed, by shard index, shared between the writer tasks and the producer.
final class ShardFailures: Sendable {
    private let failures = Mutex<[Int: any Error]>([:])
    func record(_ shard: Int, _ error: any Error) { failures.withLock { $0[shard] = error } }
    var all: [Int: any Error] { failures.withLock { $0 } }
}

/// An MD5 updated by one writer at a time (the stripe writer awaits each update before the next).
final class RunningMD5: @unchecked Sendable {
    private var md5 = Insecure.MD5()

    func update(_ block: ByteBlock, count: Int) async {
        block.withUnsafeBytes { md5.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[..<count])) }
    }

    func finalize() -> [UInt8] { Array(md5.finalize()) }
}
