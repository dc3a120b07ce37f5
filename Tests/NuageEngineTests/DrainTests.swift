import Foundation
import NuageCatalog
import NuageCore
@testable import NuageEngine
import NuageProviders
import Testing

/// Draining a provider: every shard moves off it, objects stay whole, nothing is read from it.
@Suite struct DrainTests {
    /// The same catalog and providers with `draining` marked draining (as nuage.toml's `state`).
    func engine(_ f: EngineFixture, draining: String) throws -> Engine {
        try f.engine.marking(draining: [draining])
    }

    @Test func everyShardMovesOffAndObjectsStayWhole() async throws {
        // Seven providers in seven countries: six remain for 4 + 2.
        let f = try await EngineFixture(countries: EngineFixture.sixCountries + ["AU"])
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        var objects: [String: [UInt8]] = [:]
        for i in 0..<30 {
            let data = bytes([0, 1, 4096, 50_000, 130_000][i % 5], seed: UInt64(i))
            try await f.engine.put(bucket: "bkt", key: "o\(i)", size: Int64(data.count), body: BytesBody(data))
            objects["o\(i)"] = data
        }
        // A multipart object too (two parts, each its own version).
        let upload = try await f.engine.createUpload(bucket: "bkt", key: "multi")
        let one = bytes(Int(Engine.minimumPartSize), seed: 90), two = bytes(1000, seed: 91)
        let p1 = try await f.engine.uploadPart(uploadID: upload.id, bucket: "bkt", key: "multi", number: 1, size: Int64(one.count), body: BytesBody(one))
        let p2 = try await f.engine.uploadPart(uploadID: upload.id, bucket: "bkt", key: "multi", number: 2, size: Int64(two.count), body: BytesBody(two))
        try await f.engine.completeUpload(uploadID: upload.id, bucket: "bkt", key: "multi", parts: [(1, p1.etag), (2, p2.etag)])
        objects["multi"] = one + two
        let drained = "de-2"
        let before = try await f.engine.catalog.referencedBlobs(provider: drained)
        #expect(!before.isEmpty)

        // Not yet marked draining: refused, so that nothing lands on it meanwhile.
        await #expect(throws: NuageError.self) { try await f.engine.drain(provider: drained) }
        let engine = try engine(f, draining: drained)
        let plan = try await engine.drain(provider: drained, dryRun: true)
        #expect(plan.shards > 0 && plan.failed.isEmpty && plan.placeableWithout)
        #expect(plan.read[drained] == nil, "a rebuild never reads the drained provider")
        // The drained provider is unreachable throughout: its shards are rebuilt from the others.
        f.faults[drained]!.set([.down])
        let report = try await engine.drain(provider: drained, parallel: 3)
        #expect(report.failed.isEmpty, "\(report.failed)")
        #expect(report.shards == plan.shards && report.written == plan.written, "the dry run said what would move")
        for (key, data) in objects {
            let record = try await engine.head(bucket: "bkt", key: key)
            #expect(record.blobs.allSatisfy { $0.provider != drained }, "\(key) has no shard left on \(drained)")
            let rules = engine.verdict(for: record.parts[0])
            #expect(rules.allSatisfy { $0.passed }, "\(key): the placement rules hold: \(rules)")
            #expect(try await engine.getBytes(bucket: "bkt", key: key) == data)
        }
        // Unreachable, so it could not be swept: the old blobs wait on the garbage list.
        #expect(report.blobsLeft.contains { $0.hasPrefix("not listed") } && report.blobsDeleted == 0, "\(report.blobsLeft)")
        let garbage = Set(try await engine.catalog.garbage(limit: 10_000).filter { $0.provider == drained }.map(\.blob))
        #expect(garbage == before)
        // Resumable: a second run finds nothing to move; reachable again, it is swept empty,
        // an orphan included, except for the part of an upload still in progress.
        f.faults[drained]!.set([])
        try await f.engine.providers[drained]!.put("orphan-blob", bytes: [1, 2, 3])
        let pending = try await engine.createUpload(bucket: "bkt", key: "pending")
        _ = try await engine.uploadPart(uploadID: pending.id, bucket: "bkt", key: "pending", number: 1, size: 10, body: BytesBody(bytes(10, seed: 5)))
        let again = try await engine.drain(provider: drained)
        #expect(again.shards == 0 && again.failed.isEmpty && again.uploadShards == 0)
        // The old shards, the orphan, and any spare journal copy a hedged write left there.
        #expect(again.blobsDeleted >= before.count + 1 && again.blobsLeft.isEmpty, "\(again)")
        #expect(try await f.engine.providers[drained]!.listAll().isEmpty)
        #expect(try await engine.catalog.garbage(limit: 10_000).filter { $0.provider == drained }.isEmpty)
        for (key, data) in objects { #expect(try await engine.getBytes(bucket: "bkt", key: key) == data) }
    }

    /// `copyFromSource`: shards are copied from the drained provider, one read each instead of
    /// `k`; a corrupt one is caught by its tags and rebuilt from the others instead.
    @Test func copyFromSourceChecksEveryChunk() async throws {
        let f = try await EngineFixture(countries: EngineFixture.sixCountries + ["AU"])
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        var objects: [String: [UInt8]] = [:]
        for i in 0..<12 {
            let data = bytes([1, 4096, 50_000, 130_000][i % 4], seed: UInt64(100 + i))
            try await f.engine.put(bucket: "bkt", key: "o\(i)", size: Int64(data.count), body: BytesBody(data))
            objects["o\(i)"] = data
        }
        let drained = "de-2"
        let engine = try engine(f, draining: drained)
        // Corrupt the last byte of one chunk of one shard on the drained provider.
        let before = try await engine.catalog.listObjects(bucket: "bkt", prefix: "", after: nil, limit: 100)
        let victim = before.first { $0.size == 130_000 && $0.blobs.contains { $0.provider == drained } }!
        let ref = victim.blobs.first { $0.provider == drained }!
        var blob = try await engine.providers[drained]!.get(ref.blob, range: nil).bytes
        blob[blob.count - 20] ^= 0xFF
        try await engine.providers[drained]!.delete(ref.blob)
        try await engine.providers[drained]!.put(ref.blob, bytes: blob)

        let plan = try await engine.drain(provider: drained, dryRun: true, copyFromSource: true)
        let report = try await engine.drain(provider: drained, copyFromSource: true)
        #expect(report.failed.isEmpty, "\(report.failed)")
        #expect(plan.copied == report.shards && report.copied == report.shards - 1, "every shard but the corrupt one was copied")
        #expect(report.notCopied.count == 1 && report.notCopied[0].contains(victim.key) && report.notCopied[0].contains("fails its tag"),
                "\(report.notCopied)")
        for (key, data) in objects {
            let record = try await engine.head(bucket: "bkt", key: key)
            #expect(record.blobs.allSatisfy { $0.provider != drained })
            #expect(try await engine.getBytes(bucket: "bkt", key: key) == data, "\(key)")
        }
        // Each copied shard is read once, from the drained provider; the rebuilt one from k others.
        func length(_ m: Manifest) -> Int64 { ShardLayout(size: m.size, segmentSize: m.segmentSize, dataShards: m.dataShards).blobLength }
        let victimLength = length(victim.parts[0])
        let onDrained = before.filter { $0.blobs.contains { $0.provider == drained } }.map { length($0.parts[0]) }.reduce(0, +)
        #expect(report.read[drained] == onDrained - victimLength)
        #expect(report.read.filter { $0.key != drained }.values.reduce(0, +) == Int64(victim.parts[0].dataShards) * victimLength)
        let scrub = try await engine.scrub(deep: true)
        #expect(scrub.damaged.isEmpty, "\(scrub.damaged)")
    }
}
