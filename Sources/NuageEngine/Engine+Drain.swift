import Foundation
import NuageCatalog
import NuageCore
import NuageProviders

extension Engine {
    /// What a drain moved (or, for a dry run, would move).
    public struct DrainReport: Sendable, Codable, Hashable {
        public var provider: String
        public var dryRun: Bool
        /// Object versions (parts of multipart objects count one each) with shards on the provider.
        public var versions = 0
        /// Shards moved off the provider (planned, for a dry run).
        public var shards = 0
        /// Bytes of shard blobs written to each provider.
        public var written: [String: Int64] = [:]
        /// Bytes of shard blobs read from each provider to rebuild them (`k` shards per version:
        /// the rebuild's read amplification); none from the drained provider.
        public var read: [String: Int64] = [:]
        /// Shards of multipart uploads still in progress on the provider: they move once the
        /// upload is completed (then drained again) or go when it is aborted.
        public var uploadShards = 0
        /// Versions that could not be moved now, with why (a drain run again retries them).
        public var failed: [String] = []
        /// Shards copied from the provider itself (`copyFromSource`), checked chunk by chunk.
        public var copied = 0
        /// Shards that could not be copied (unreadable, or not authentic), rebuilt instead.
        public var notCopied: [String] = []
        /// Whether new objects can be placed without the provider.
        public var placeableWithout = true
        /// Once every shard has moved: blobs deleted from the provider (the old shards on the
        /// garbage list, and blobs nothing references).
        public var blobsDeleted = 0
        /// Once every shard has moved: what is still on the provider and why (uploads in
        /// progress, a provider that cannot be listed or deleted from). Empty: it is empty.
        public var blobsLeft: [String] = []

        public var writtenBytes: Int64 { written.values.reduce(0, +) }

        /// Adds what another run over other versions moved.
        mutating func add(_ other: DrainReport) {
            versions += other.versions
            shards += other.shards
            copied += other.copied
            written.merge(other.written, uniquingKeysWith: +)
            read.merge(other.read, uniquingKeysWith: +)
            failed += other.failed
            notCopied += other.notCopied
        }
        public var readBytes: Int64 { read.values.reduce(0, +) }
    }

    /// Moves every shard on `provider` to other providers chosen by the placement rules: each is
    /// rebuilt from `k` shards on the others (the drained provider is never read, so it may
    /// already be cut off), written, and swapped into its manifest in one catalog transaction;
    /// the old blob goes to the garbage list. Shards never written are rebuilt in the same step.
    /// Once every shard has moved, the provider is swept: its old shards and the blobs nothing
    /// references are deleted, and what is left is reported. Running it again moves only what is
    /// left, so a drain that was interrupted resumes where it stopped.
    ///
    /// - Parameters:
    ///   - copyFromSource: copy each shard from the provider itself, checking every chunk's tag
    ///     (`k` times less to read, but the provider is contacted); a shard that cannot be copied
    ///     is rebuilt from the others.
    ///   - parallel: versions moved at once.
    ///   - bytesPerSecond: shard bytes written per second at most (client traffic keeps priority).
    ///   - progress: called after each version with the report so far.
    /// - Throws: `invalidArgument` when the provider still takes new shards (mark it
    ///   `state = "draining"` or deny it first), so that nothing lands on it during the drain.
    public func drain(provider name: String, dryRun: Bool = false, copyFromSource: Bool = false, parallel: Int = 1, bytesPerSecond: Int64? = nil,
                      progress: @Sendable (DrainReport) -> Void = { _ in }) async throws -> DrainReport {
        let start = ContinuousClock.now
        if placement.providers.contains(where: { $0.name == name }) && placement.exclusions[name] == nil {
            throw NuageError(.invalidArgument, "provider \(name) still takes new shards: set state = \"draining\" on it in nuage.toml "
                             + "(and restart any gateway on this data) before draining it")
        }
        var report = DrainReport(provider: name, dryRun: dryRun)
        let remaining = placement.providers.filter { $0.name != name && placement.exclusions[$0.name] == nil }
        report.placeableWithout = (try? Placement(policy: placement.policy, providers: remaining))?.check().failures.isEmpty ?? false
        try await forEachVersionPage { page in
            try await withThrowingTaskGroup(of: DrainReport.self) { group in
                var running = 0
                func settle() async throws {
                    guard let done = try await group.next() else { return }
                    running -= 1
                    report.add(done)
                    progress(report)
                    if let rate = bytesPerSecond, rate > 0, !dryRun {
                        let due = start + .milliseconds(report.writtenBytes * 1000 / rate)
                        if due > .now { try await Task.sleep(until: due) }
                    }
                }
                for record in page {
                    for manifest in record.parts where manifest.shards.contains(where: { $0?.provider == name }) {
                        if running >= max(1, parallel) { try await settle() }
                        group.addTask { await self.move(manifest, of: record, off: name, copyFromSource: copyFromSource, dryRun: dryRun) }
                        running += 1
                    }
                }
                while running > 0 { try await settle() }
            }
        }
        try await forEachUploadedPart { _, part in
            report.uploadShards += part.manifest.shards.filter { $0?.provider == name }.count
        }
        if !dryRun && report.failed.isEmpty { await sweep(name, into: &report) }
        return report
    }

    /// Once no object references the drained provider: deletes its old shards at once (reads
    /// still working on a replaced manifest rebuild the one shard from the others) and the blobs
    /// nothing references, then says what is left on it.
    private func sweep(_ name: String, into report: inout DrainReport) async {
        guard let provider = providers[name], !neverContacted.contains(name) else {
            report.blobsLeft.append("not listed: the provider is \(neverContacted.contains(name) ? "never contacted (read = \"never\")" : "no longer configured")")
            return
        }
        do {
            // The moves must be in the journal at providers before the old shards go, and the
            // journal's own blobs on this provider are covered by a new snapshot elsewhere.
            try await journalDurable()
            if try await catalog.journalBlobs().contains(where: { $0.copies.contains { $0.provider == name } }) {
                try await snapshotCatalog()
            }
            let journaled = try await catalog.journalState().durable
            let garbage = try await catalog.garbage(limit: Int.max, readableBefore: .distantFuture, journaledThrough: journaled)
                .filter { $0.provider == name }
            report.blobsDeleted += await collect(garbage)
            let stillGarbage = Set(try await catalog.garbage(limit: Int.max, readableBefore: .distantFuture, journaledThrough: .max)
                .filter { $0.provider == name }.map(\.blob))
            if !stillGarbage.isEmpty { report.blobsLeft.append("\(stillGarbage.count) old shard(s) could not be deleted yet (they stay on the garbage list)") }
            // Listed before references are read, as gc does: a blob of a write in flight is referenced.
            let listed = try await provider.listAll()
            let referenced = try await catalog.referencedBlobs(provider: name)
            var orphansLeft = 0
            for blob in listed where !referenced.contains(blob.name) {
                do {
                    try await provider.delete(blob.name)
                    report.blobsDeleted += 1
                } catch {
                    orphansLeft += 1
                }
            }
            if orphansLeft > 0 { report.blobsLeft.append("\(orphansLeft) unreferenced blob(s) could not be deleted") }
            let kept = listed.filter { referenced.contains($0.name) && !stillGarbage.contains($0.name) }
            let audit = kept.filter { $0.name.hasPrefix(Self.auditPrefix) }.count
            if audit > 0 {
                report.blobsLeft.append("\(audit) audit log copies (kept: the other copies are elsewhere; remove them by hand once the provider goes)")
            }
            if kept.count > audit {
                report.blobsLeft.append("\(kept.count - audit) blob(s) of multipart uploads in progress or writes in flight")
            }
        } catch {
            report.blobsLeft.append("not listed: \(error)")
        }
    }

    /// Moves one version's shards off `name` (and rebuilds its unwritten ones), or plans it.
    private func move(_ manifest: Manifest, of record: ObjectRecord, off name: String, copyFromSource: Bool,
                      dryRun: Bool) async -> DrainReport {
        var report = DrainReport(provider: name, dryRun: dryRun)
        let moving = manifest.shards.indices.filter { manifest.shards[$0]?.provider == name }
        let unwritten = manifest.shards.indices.filter { manifest.shards[$0] == nil }
        let blobLength = ShardLayout(size: manifest.size, segmentSize: manifest.segmentSize, dataShards: manifest.dataShards).blobLength
        let label = "\(record.bucket)/\(record.key) version \(manifest.versionID.hex.prefix(8))"
        do {
            let targets = try repairTargets(unwritten + moving, of: manifest, avoiding: [name])
            var current = manifest
            var rebuilt = copyFromSource ? unwritten : unwritten + moving
            if copyFromSource {
                for shard in moving {
                    if dryRun {
                        report.read[name, default: 0] += blobLength
                        report.copied += 1
                        continue
                    }
                    do {
                        guard try await copy(shard, of: current, bucket: record.bucket, key: record.key, avoiding: [name]) else { return report }
                        report.read[name, default: 0] += blobLength
                        report.copied += 1
                        // The copy swapped the manifest: what follows works on the new one.
                        guard let fresh = try await storedVersion(of: record)?.parts
                            .first(where: { $0.versionID == manifest.versionID }) else { return report }
                        current = fresh
                    } catch {
                        report.notCopied.append("\(label) shard \(shard): \(error) (rebuilt from the others instead)")
                        rebuilt.append(shard)
                    }
                }
            }
            if !rebuilt.isEmpty {
                if !dryRun {
                    guard try await rebuild(rebuilt, of: current, bucket: record.bucket, key: record.key, avoiding: [name]) else {
                        return report  // replaced meanwhile: its blobs went to the garbage list with it
                    }
                }
                let sources = readOrder(current).filter { !rebuilt.contains($0) && current.shards[$0]?.provider != name }
                    .prefix(manifest.dataShards)
                for shard in sources { if let provider = current.shards[shard]?.provider { report.read[provider, default: 0] += blobLength } }
            }
            if !dryRun {
                // Every shard rebuilt or copied is new: notes about the old ones (a read that
                // found one missing, shards never written) are done.
                try await catalog.clearRepairs(versionID: manifest.versionID, shards: unwritten + moving)
            }
            report.versions += 1
            report.shards += moving.count
            for target in targets { report.written[target, default: 0] += blobLength }
        } catch {
            report.failed.append("\(label): \(error)")
        }
        return report
    }
}
