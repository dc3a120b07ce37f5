import Foundation
import NuageCatalog
import NuageCore
import NuageCrypto
import NuageErasure
import NuageProviders

extension Engine {
    /// What a repair run did.
    public struct RepairReport: Sendable, Hashable {
        /// Shards rebuilt and written to a provider.
        public var repaired = 0
        /// Notes about versions that no longer exist, forgotten.
        public var dropped = 0
        /// Shards that could not be repaired now (kept for the next run), with why.
        public var failed: [String] = []
        public init() {}
    }

    /// Rebuilds the shards that repair notes name (never written, missing, corrupt): each is
    /// decoded from `k` valid shards, sealed with its header and chunk tags as at put, written
    /// as a new blob (on its provider, or another allowed one when that is down), and swapped
    /// into the manifest in the same transaction that retires the write's intent.
    public func repair(limit: Int = 1000) async throws -> RepairReport {
        var report = RepairReport()
        let notes = try await catalog.pendingRepairs(limit: limit)
        var groups: [[UInt8]: [RepairNote]] = [:]
        for note in notes { groups[note.versionID, default: []].append(note) }
        for (versionID, notes) in groups.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            let first = notes[0], shards = Array(Set(notes.map(\.shard))).sorted()
            // The part may be of any stored version of the key, current or not.
            guard let manifest = try await catalog.versions(bucket: first.bucket, key: first.key).lazy
                    .compactMap({ $0.parts.first { $0.versionID == versionID } }).first else {
                if try await !isUploadedPart(versionID, bucket: first.bucket, key: first.key) {
                    try await catalog.clearRepairs(versionID: versionID, shards: shards)
                    report.dropped += shards.count
                }
                continue
            }
            do {
                if try await rebuild(shards, of: manifest, bucket: first.bucket, key: first.key) {
                    report.repaired += shards.count
                } else {
                    report.dropped += shards.count
                }
                try await catalog.clearRepairs(versionID: versionID, shards: shards)
            } catch {
                report.failed.append("\(first.bucket)/\(first.key) shards \(shards.map(String.init).joined(separator: ",")): \(error)")
            }
        }
        // The moved shards go out in the journal now; if it cannot be written, the next flush takes them.
        if report.repaired > 0 { await tolerating("journal repaired shards (the next flush takes them)") { try await journalDurable() } }
        return report
    }

    /// Whether `versionID` is a part of a multipart upload still in progress (repaired once completed).
    private func isUploadedPart(_ versionID: [UInt8], bucket: String, key: String) async throws -> Bool {
        for upload in try await catalog.listUploads(bucket: bucket, prefix: key, after: nil, limit: 1000) where upload.key == key {
            if try await catalog.parts(uploadID: upload.id).contains(where: { $0.manifest.versionID == versionID }) { return true }
        }
        return false
    }

    /// Writes new blobs for `shards` of a version and swaps them into its manifest.
    /// - Returns: false when the version was replaced meanwhile (nothing to repair any more).
    /// - Parameter avoiding: providers that get none of the new blobs (a drain's).
    func rebuild(_ shards: [Int], of manifest: Manifest, bucket: String, key: String, avoiding: Set<String> = []) async throws -> Bool {
        let k = manifest.dataShards
        let codec = try codec(dataShards: k, parityShards: manifest.parityShards)
        let tagKey = try await self.tagKey(manifest)
        let reader = SegmentReader(engine: self, bucket: bucket, key: key, manifest: manifest, dataKey: nil, tagKey: tagKey, codec: codec)
        let layout = reader.layout
        // Rebuilt headers are sealed under the active key, their wrapped keys as the manifest has them.
        var header = try await readHeader(manifest, excluding: Set(shards))
        header.keyID = manifest.keyID
        header.wrappedKey = manifest.wrappedKey
        header.wrappedTagKey = manifest.wrappedTagKey
        header.customerKeyCheck = manifest.customerKeyCheck
        header.kmsKeyID = manifest.kmsKeyID
        let targets = try repairTargets(shards, of: manifest, avoiding: avoiding)
        return try await replace(shards, of: manifest, bucket: bucket, key: key, on: targets, blobLength: layout.blobLength) { channels in
            for (position, shard) in shards.enumerated() {
                var shardHeader = header
                shardHeader.shardIndex = shard
                try await channels[position].send(ByteBlock(try shardHeader.sealed(with: masterKey)))
            }
            let all = 0..<layout.segmentCount
            for start in Swift.stride(from: all.lowerBound, to: all.upperBound, by: Engine.readWindow) {
                let window = try await reader.fetch(start..<min(start + Engine.readWindow, all.upperBound), excluding: Set(shards))
                for segment in window.segments {
                    let records = try rebuildChunks(shards, segment: segment, window: window, reader: reader, codec: codec, tagKey: tagKey)
                    for (position, record) in records.enumerated() { try await channels[position].send(record) }
                }
            }
        }
    }

    /// The wrapped keys a rotation puts in a version's headers and manifest.
    struct RewrappedKeys: Sendable {
        var keyID: UInt32
        var wrappedKey: [UInt8]
        var wrappedTagKey: [UInt8]?
    }

    /// Copies one shard blob from where it is to another provider, checking its header and every
    /// chunk's tag on the way (a drain's `--copy-from-source`: `k` times less to read than a
    /// rebuild, but the source is contacted), and swaps the copy into the manifest.
    /// - Returns: false when the version was replaced meanwhile.
    /// - Throws: when the source cannot be read or a byte of it is not authentic (rebuild it then).
    /// - Parameter resealingHeader: a key id and wrapped keys to put in the copy's header,
    ///   sealed under the active master key (a rotation's rekey); nil keeps the header as it is.
    func copy(_ shard: Int, of manifest: Manifest, bucket: String, key: String, avoiding: Set<String>,
              resealingHeader: RewrappedKeys? = nil) async throws -> Bool {
        guard let source = manifest.shards[shard] else { throw NuageError(.insufficientShards, "shard \(shard) was never written") }
        guard !neverContacted.contains(source.provider) else {
            throw NuageError(.invalidArgument, "\(source.provider) is never contacted (read = \"never\")")
        }
        let codec = try codec(dataShards: manifest.dataShards, parityShards: manifest.parityShards)
        let reader = SegmentReader(engine: self, bucket: bucket, key: key, manifest: manifest, dataKey: nil,
                                   tagKey: try await tagKey(manifest), codec: codec)
        let layout = reader.layout
        let headerBytes = try await provider(named: source.provider).get(source.blob, range: source.blobRange(0..<Int64(ShardHeader.size)))
        let header = headerBytes.count == ShardHeader.size ? try? openHeader(headerBytes.bytes) : nil
        guard var header, header.versionID == manifest.versionID, header.shardIndex == shard else {
            throw NuageError(.integrity, "shard \(shard) on \(source.provider): its header does not open as this shard's")
        }
        var firstBytes = headerBytes
        if let resealingHeader {
            header.keyID = resealingHeader.keyID
            header.wrappedKey = resealingHeader.wrappedKey
            header.wrappedTagKey = resealingHeader.wrappedTagKey
            firstBytes = ByteBlock(try header.sealed(with: masterKey))
        }
        let targets = try repairTargets([shard], of: manifest, avoiding: avoiding)
        return try await replace([shard], of: manifest, bucket: bucket, key: key, on: targets, blobLength: layout.blobLength) { channels in
            try await channels[0].send(firstBytes)
            let window = max(1, Engine.readWindow)
            for first in Swift.stride(from: 0, to: layout.segmentCount, by: window) {
                let segments = first..<min(first + window, layout.segmentCount)
                let block = try await reader.readShard(shard, segments)
                if let bad = reader.verify(block, shard: shard, segments: segments).firstIndex(of: false) {
                    throw NuageError(.integrity, "shard \(shard) on \(source.provider): segment \(segments.lowerBound + bad) fails its tag")
                }
                try await channels[0].send(block)
            }
        }
    }

    /// Writes a new blob for each of `shards` on `targets` from what `produce` sends into their
    /// channels (each blob whole, in order), then swaps them into the version's manifest in the
    /// transaction that retires their intent; the replaced blobs go to the garbage list.
    /// - Returns: false when the version was replaced meanwhile (the new blobs are deleted).
    private func replace(_ shards: [Int], of manifest: Manifest, bucket: String, key: String, on targets: [String], blobLength: Int64,
                         produce: ([BoundedChannel<ByteBlock>]) async throws -> Void) async throws -> Bool {
        let refs = targets.map { BlobRef(provider: $0, blob: [UInt8].random(count: 16).hex) }
        let intent = WriteIntent(id: "repair-" + [UInt8].random(count: 16).hex, created: Date(), blobs: refs)
        try await catalog.recordIntent(intent)
        do {
            let failures = ShardFailures()
            try await withThrowingTaskGroup(of: Void.self) { group in
                let channels = shards.map { _ in BoundedChannel<ByteBlock>(capacity: 4) }
                for (position, ref) in refs.enumerated() {
                    let provider = try provider(named: ref.provider)
                    group.addTask {
                        do {
                            try await provider.put(ref.blob, length: blobLength, body: channels[position])
                        } catch {
                            // A writer that gave up reads no more: close its channel, or the
                            // producer would wait forever to send it the next record.
                            failures.record(position, error)
                            channels[position].close()
                            throw error
                        }
                    }
                }
                do {
                    try await produce(channels)
                    for channel in channels { channel.finish() }
                } catch {
                    for channel in channels { channel.finish(throwing: error) }
                    group.cancelAll()
                    // A writer that failed closed its channel: its error is the cause, not `Closed`.
                    if error is BoundedChannel<ByteBlock>.Closed, let (position, cause) = failures.all.min(by: { $0.key < $1.key }) {
                        throw NuageError(.insufficientShards, "writing shard \(shards[position]) on \(refs[position].provider) failed",
                                         cause: cause)
                    }
                    throw error
                }
                try await group.waitForAll()
            }
        } catch {
            await tolerating("give up a failed repair's intent (gc gives it up later)") { try await catalog.abandonIntent(intent.id) }
            await collect(refs)
            throw error
        }
        var replaced = manifest
        for (position, shard) in shards.enumerated() { replaced.shards[shard] = refs[position] }
        guard try await catalog.updateManifest(bucket: bucket, key: key, versionID: manifest.versionID, manifest: replaced,
                                               retiringIntent: intent.id) else {
            await tolerating("give up a failed repair's intent (gc gives it up later)") { try await catalog.abandonIntent(intent.id) }
            await collect(refs)
            return false
        }
        // Reads that started before the swap may still be reading the old shards.
        await collectReplaced(shards.compactMap { manifest.shards[$0] })
        return true
    }

    /// One segment's rebuilt chunks (with their tags) for `shards`, from the window's valid chunks.
    private func rebuildChunks(_ shards: [Int], segment: Int, window: SegmentReader.Window, reader: SegmentReader,
                               codec: ReedSolomon, tagKey: ChunkTagKey) throws -> [ByteBlock] {
        let (offset, chunk) = reader.position(of: segment, in: window.segments)
        let index = segment - window.segments.lowerBound
        let sources: [UnsafeRawPointer?] = (0..<codec.totalShards).map { shard in
            guard !shards.contains(shard), window.valid[shard][index], let block = window.blocks[shard] else { return nil }
            return block.withUnsafeBytes { UnsafeRawPointer($0.baseAddress! + offset) }
        }
        let records = shards.map { _ in ByteBlock(uninitializedCount: chunk + ShardLayout.tagSize) }
        let outputs = records.map { $0.unsafeMutableBytes.baseAddress! }
        try withExtendedLifetime(window) {
            try codec.reconstruct(length: chunk, shards: sources, wanted: shards, into: outputs)
        }
        for (position, shard) in shards.enumerated() {
            tagKey.tag(chunk: UnsafeRawBufferPointer(start: outputs[position], count: chunk), shard: shard, segment: UInt64(segment),
                       into: UnsafeMutableRawBufferPointer(start: outputs[position] + chunk, count: ShardLayout.tagSize))
        }
        return records
    }

    /// The version's header, from the first shard (in read order) whose header opens.
    private func readHeader(_ manifest: Manifest, excluding: Set<Int>) async throws -> ShardHeader {
        var problems: [String] = []
        for shard in readOrder(manifest) where !excluding.contains(shard) {
            guard let ref = manifest.shards[shard] else { continue }
            do {
                let bytes = try await provider(named: ref.provider).get(ref.blob, range: ref.blobRange(0..<Int64(ShardHeader.size))).bytes
                let header = try openHeader(bytes)
                guard header.versionID == manifest.versionID else { throw NuageError(.integrity, "header of another version") }
                return header
            } catch {
                problems.append("shard \(shard) on \(ref.provider): \(error)")
            }
        }
        throw NuageError(.insufficientShards, "no readable shard header: \(problems.joined(separator: "; "))")
    }

    /// Where rebuilt shards go: their own provider unless it is down, else an allowed, healthy
    /// provider holding no shard of this version with which the placement rules still pass.
    func repairTargets(_ shards: [Int], of manifest: Manifest, avoiding: Set<String> = []) throws -> [String] {
        // Where placement would put the version today, when it can (a ban may make it infeasible).
        let chosen = (try? placement.choose(for: manifest.versionID).map(\.name)) ?? []
        var planned = manifest
        for shard in shards { planned.shards[shard] = nil }
        return try shards.map { shard in
            let home = manifest.shards[shard]?.provider ?? (shard < chosen.count ? chosen[shard] : "")
            let used = Set(planned.blobs.map(\.provider))
            let candidates = [home] + placement.providers.map(\.name).filter { $0 != home }
            let target = candidates.first { name in
                guard !avoiding.contains(name), placement.exclusions[name] == nil, providers[name] != nil, !used.contains(name),
                      health[name]?.state != .down else { return false }
                var trial = planned
                trial.shards[shard] = BlobRef(provider: name, blob: "planned")
                // Rules can only be judged once every shard has a place: the last one decides.
                return name == home || shard != shards.last || verdict(for: trial).allSatisfy(\.passed)
            }
            guard let target else {
                throw NuageError(.insufficientShards, "no healthy allowed provider can take shard \(shard) with the placement rules still met")
            }
            planned.shards[shard] = BlobRef(provider: target, blob: "planned")
            return target
        }
    }
}
