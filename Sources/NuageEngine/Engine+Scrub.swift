import Foundation
import NuageCatalog
import NuageCore
import NuageProviders

extension Engine {
    /// What a scrub checked and found.
    public struct ScrubReport: Sendable, Codable, Hashable {
        public var deep: Bool
        /// Object versions looked at (each part of a multipart object is one).
        public var versions = 0
        /// Shard blobs checked, parity included (reads never look at parity).
        public var shards = 0
        /// Bytes read from providers (deep scrub).
        public var bytesRead: Int64 = 0
        /// Damaged shards, one line each (`bucket/key shard N on PROVIDER: why`), noted for repair.
        public var damaged: [String] = []
        /// Shards never written, already waiting for repair.
        public var notWritten = 0
        /// Providers (or shards) that could not be checked now, with why.
        public var unchecked: [String] = []
    }

    /// Checks every shard blob the catalog references, parity included, and notes what is
    /// missing, short or corrupt for repair (`nuage repair`, or the serve loop, rebuilds it).
    ///
    /// Light: one listing per provider; each blob must exist with its expected length. Deep: every
    /// shard is read; its header must open and name its version and index, and every chunk's
    /// tag must verify.
    /// - Parameters:
    ///   - provider: only the shards on this provider.
    ///   - bytesPerSecond: a deep scrub's read rate at most (client traffic keeps priority).
    public func scrub(deep: Bool, provider only: String? = nil, bytesPerSecond: Int64? = nil) async throws -> ScrubReport {
        var report = ScrubReport(deep: deep)
        var listings: [String: [String: Int64]] = [:]
        var unlisted: Set<String> = []
        let start = ContinuousClock.now
        try await forEachVersionPage { page in
            var scrubbed: [ObjectRecord] = []
            for record in page {
                // Whether every shard of the object was checked (its scrub time is kept then).
                var whole = only == nil
                defer { if whole { scrubbed.append(record) } }
                for manifest in record.parts {
                    report.versions += 1
                    let layout = ShardLayout(size: manifest.size, segmentSize: manifest.segmentSize, dataShards: manifest.dataShards)
                    var damaged: [(shard: Int, why: String)] = []
                    for (index, ref) in manifest.shards.enumerated() {
                        guard let ref else { report.notWritten += 1; continue }
                        guard only == nil || ref.provider == only else { continue }
                        guard providers[ref.provider] != nil, !neverContacted.contains(ref.provider) else {
                            unlisted.insert(ref.provider)
                            whole = false
                            continue
                        }
                        report.shards += 1
                        if deep {
                            do {
                                if let why = try await deepCheck(index, of: manifest, bucket: record.bucket, key: record.key, layout: layout,
                                                                 report: &report, start: start, bytesPerSecond: bytesPerSecond) {
                                    damaged.append((index, why))
                                }
                            } catch let error as ProviderError where error.kind == .notFound {
                                damaged.append((index, "missing"))
                            } catch let error as ProviderError where error.kind == .unavailable {
                                report.unchecked.append("\(record.bucket)/\(record.key) shard \(index) on \(ref.provider): \(error)")
                                whole = false
                            } catch let error as ProviderError {
                                damaged.append((index, "\(error.kind): \(error.message)"))
                            }
                        } else {
                            if listings[ref.provider] == nil && !unlisted.contains(ref.provider) {
                                do {
                                    listings[ref.provider] = Dictionary(try await providers[ref.provider]!.listAll().map { ($0.name, $0.size) },
                                                                        uniquingKeysWith: { first, _ in first })
                                } catch {
                                    unlisted.insert(ref.provider)
                                    report.unchecked.append("\(ref.provider): cannot be listed: \(error)")
                                }
                            }
                            guard let listing = listings[ref.provider] else { whole = false; continue }
                            switch listing[ref.blob] {
                            case nil: damaged.append((index, "missing"))
                            case let size? where !ref.holds(layout.blobLength, inBlobOf: size):
                                damaged.append((index, ref.isPiece ? "pack of \(size) bytes, too short for a \(layout.blobLength)-byte shard at \(ref.offset ?? 0)"
                                                                   : "\(size) bytes instead of \(layout.blobLength)"))
                            default: break
                            }
                        }
                    }
                    for (shard, why) in damaged {
                        let provider = manifest.shards[shard]?.provider ?? "?"
                        report.damaged.append("\(record.bucket)/\(record.key) shard \(shard) on \(provider): \(why)")
                    }
                    if !damaged.isEmpty {
                        try await catalog.noteRepair(bucket: record.bucket, key: record.key, versionID: manifest.versionID,
                                                     shards: damaged.map(\.shard),
                                                     reason: "scrub: " + damaged.map { "shard \($0.shard) \($0.why)" }.joined(separator: "; "))
                    }
                }
            }
            try await catalog.noteScrubbed(scrubbed, deep: deep, at: Date())
        }
        for provider in unlisted.sorted() where !report.unchecked.contains(where: { $0.hasPrefix(provider + ":") }) {
            report.unchecked.append("\(provider): not checked (\(neverContacted.contains(provider) ? "read = \"never\"" : "not configured"))")
        }
        return report
    }

    /// Reads one shard whole, window by window: nil when its header and every chunk are authentic.
    private func deepCheck(_ shard: Int, of manifest: Manifest, bucket: String, key: String, layout: ShardLayout,
                           report: inout ScrubReport, start: ContinuousClock.Instant, bytesPerSecond: Int64?) async throws -> String? {
        let ref = manifest.shards[shard]!
        let provider = try provider(named: ref.provider)
        let headerBytes = try await provider.get(ref.blob, range: ref.blobRange(0..<Int64(ShardHeader.size))).bytes
        report.bytesRead += Int64(headerBytes.count)
        guard headerBytes.count == ShardHeader.size else { return "short (\(headerBytes.count)-byte header)" }
        do {
            let header = try openHeader(headerBytes)
            guard header.versionID == manifest.versionID, header.shardIndex == shard else { return "header of another shard" }
        } catch {
            return "header does not open"
        }
        let reader = SegmentReader(engine: self, bucket: bucket, key: key, manifest: manifest,
                                   dataKey: nil, tagKey: try await tagKey(manifest),
                                   codec: try codec(dataShards: manifest.dataShards, parityShards: manifest.parityShards))
        let window = max(1, (16 << 20) / max(1, layout.chunkLength(ofSegment: 0) + ShardLayout.tagSize))
        var bad: [Int] = []
        for first in Swift.stride(from: 0, to: layout.segmentCount, by: window) {
            let segments = first..<min(first + window, layout.segmentCount)
            let block: ByteBlock
            do { block = try await reader.readShard(shard, segments) } catch let error as ProviderError where error.kind == .corrupt {
                return "short: \(error.message)"
            }
            report.bytesRead += Int64(block.count)
            bad += zip(segments, reader.verify(block, shard: shard, segments: segments)).filter { !$0.1 }.map(\.0)
            if let rate = bytesPerSecond, rate > 0 {
                let due = start + .milliseconds(report.bytesRead * 1000 / rate)
                if due > .now { try await Task.sleep(until: due) }
            }
        }
        guard bad.isEmpty else {
            return "corrupt: \(bad.count) chunk(s) fail their tag (segment \(bad.prefix(5).map(String.init).joined(separator: ", "))\(bad.count > 5 ? ", …" : ""))"
        }
        return nil
    }
}
