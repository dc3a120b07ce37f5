import Foundation
import NuageCatalog
import NuageCore
import NuageProviders

extension Engine {
    /// What `recover` found at providers and rebuilt.
    public struct RecoveryReport: Sendable, Codable, Hashable {
        /// Providers listed, and those that could not be (with why).
        public var providersListed = 0
        public var unreachable: [String] = []
        /// Journal blobs read: the snapshot used (its sequence number) and segments after it.
        public var snapshotSeq: Int64 = 0
        public var segmentsRead = 0
        public var changesReplayed = 0
        /// The recovered state's sequence number: every change through it is in the catalog.
        public var seq: Int64 = 0
        public var buckets = 0
        public var objects = 0
        public var accessKeys = 0
        public var bytes: Int64 = 0
        /// Objects with fewer than `k` shards of a part at the providers that could be listed
        /// (restored, but unreadable until those providers are back), one line each.
        public var unreadable: [String] = []
        /// Shards not found at a reachable provider, noted for repair.
        public var missingShards = 0
        /// Problems with the journal itself: blobs that do not open, changes that could not be read.
        public var problems: [String] = []
    }

    /// Rebuilds the catalog from the journal at providers: the newest snapshot that opens, then
    /// every change after it in order. The catalog must be new and empty. Each blob is read once
    /// from one copy (another copy when it does not open); shards are checked against the
    /// providers' listings, not read.
    /// - Parameter progress: called with (journal blobs read, journal blobs found).
    public func recover(progress: @Sendable (Int, Int) -> Void = { _, _ in }) async throws -> RecoveryReport {
        var report = RecoveryReport()
        // 1. Every provider's listing, all at once.
        struct Listing: Sendable {
            var name: String
            var blobs: [BlobInfo]?
            var error: String?
        }
        let listings = await withTaskGroup(of: Listing.self) { group in
            for descriptor in placement.providers where !neverContacted.contains(descriptor.name) {
                guard let provider = providers[descriptor.name] else { continue }
                let name = descriptor.name
                group.addTask {
                    do { return Listing(name: name, blobs: try await provider.listAll()) } catch { return Listing(name: name, error: "\(error)") }
                }
            }
            var listings: [Listing] = []
            for await listing in group { listings.append(listing) }
            return listings.sorted { $0.name < $1.name }
        }
        var present: [String: [String: Int64]] = [:]
        var copies: [String: [BlobRef]] = [:], auditCopies: [String: [BlobRef]] = [:]
        for listing in listings {
            let name = listing.name
            guard let blobs = listing.blobs else {
                report.unreachable.append("\(name): \(listing.error ?? "unknown error")")
                continue
            }
            report.providersListed += 1
            present[name] = Dictionary(blobs.map { ($0.name, $0.size) }, uniquingKeysWith: { first, _ in first })
            for blob in blobs where blob.name.hasPrefix(Self.segmentPrefix) || blob.name.hasPrefix(Self.snapshotPrefix) {
                copies[blob.name, default: []].append(BlobRef(provider: name, blob: blob.name))
            }
            for blob in blobs where blob.name.hasPrefix(Self.auditPrefix) {
                auditCopies[blob.name, default: []].append(BlobRef(provider: name, blob: blob.name))
            }
        }
        for name in neverContacted.sorted() { report.unreachable.append("\(name): not contacted (read = \"never\")") }

        // 2. Every journal blob, from the first copy that opens.
        var done = 0
        var files: [(name: String, file: JournalFile, copies: [BlobRef])] = []
        for (name, refs) in copies.sorted(by: { $0.key < $1.key }) {
            var problems: [String] = []
            for ref in refs {
                do {
                    let bytes = try await provider(named: ref.provider).get(ref.blob, range: nil).bytes
                    files.append((name, try JournalFile.open(bytes, name: name, with: keys), refs))
                    problems = []
                    break
                } catch {
                    problems.append("\(ref.provider): \(error)")
                }
            }
            if !problems.isEmpty { report.problems.append("\(name) does not open: \(problems.joined(separator: "; "))") }
            done += 1
            progress(done, copies.count)
        }

        // 3. The newest snapshot, then the changes after it, in order, up to the first gap.
        let snapshots = files.filter { $0.file.snapshot != nil }.sorted { $0.file.snapshot!.seq < $1.file.snapshot!.seq }
        var state = snapshots.last?.file.snapshot ?? CatalogSnapshot(seq: 0, buckets: [], objects: [], accessKeys: [])
        report.snapshotSeq = state.seq
        var changes: [Int64: JournalEntry] = [:]
        var kept: [JournalBlob] = []
        if let newest = snapshots.last { kept.append(JournalBlob(kind: .snapshot, first: 0, last: state.seq, copies: newest.copies)) }
        for (_, file, refs) in files {
            guard let entries = file.entries, let first = entries.first, let last = entries.last, last.seq > state.seq else { continue }
            report.segmentsRead += 1
            kept.append(JournalBlob(kind: .segment, first: first.seq, last: last.seq, copies: refs))
            for entry in entries where entry.seq > state.seq { changes[entry.seq] = entry }
        }
        var ordered: [JournalEntry] = []
        var next = state.seq + 1
        while let entry = changes[next] {
            ordered.append(entry)
            next += 1
        }
        if let newest = changes.keys.max(), newest >= next {
            report.problems.append("changes \(next)…\(newest) cannot all be read (change \(next) is missing: its segment is on no reachable provider); "
                                   + "the catalog is recovered as of change \(next - 1)")
        }
        state = state.applying(ordered)
        report.changesReplayed = ordered.count
        report.seq = state.seq

        // 4. Shards against the listings: missing ones are noted for repair; objects without k are listed.
        var repairs: [(ObjectRecord, Manifest, [Int])] = []
        for object in state.objects + state.versions.filter({ !$0.deleteMarker }) {
            report.bytes += object.size
            for (index, manifest) in object.parts.enumerated() {
                var found = 0, missing: [Int] = []
                for (shard, ref) in manifest.shards.enumerated() {
                    guard let ref else { missing.append(shard); continue }
                    guard let listing = present[ref.provider] else { continue }  // unreachable: unknown
                    if listing[ref.blob] != nil { found += 1 } else { missing.append(shard) }
                }
                let unknown = manifest.shards.count - found - missing.count
                if found < manifest.dataShards {
                    report.unreadable.append("\(object.bucket)/\(object.key)\(object.parts.count > 1 ? " part \(index + 1)" : ""): "
                                             + "\(found) of \(manifest.dataShards) shards needed found"
                                             + (unknown > 0 ? " (\(unknown) on unreachable providers)" : ""))
                }
                if !missing.isEmpty { repairs.append((object, manifest, missing)) }
            }
        }
        // The audit log's copies stay (gc would take them for orphans otherwise).
        kept += auditCopies.values.map { JournalBlob(kind: .audit, first: 0, last: 0, copies: $0) }
        try await catalog.restore(state, blobs: kept)
        for (object, manifest, shards) in repairs {
            report.missingShards += shards.count
            try await catalog.noteRepair(bucket: object.bucket, key: object.key, versionID: manifest.versionID, shards: shards,
                                         reason: "recover: not found at its provider")
        }
        report.buckets = state.buckets.count
        report.objects = state.objects.count
        report.accessKeys = state.accessKeys.count
        return report
    }
}
