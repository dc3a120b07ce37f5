import Foundation
import NuageCatalog
import NuageCore
@testable import NuageEngine
import NuageProviders
import NuageTestSupport
import Testing

/// Small objects put meanwhile share packs: one blob per provider per batch. Every guarantee of a
/// shard blob of its own holds for a piece of a pack: read, checked by scrub, moved by drain,
/// rebuilt by recovery, and deleted only once no version keeps a piece of it.
@Suite struct PackTests {
    /// A fixture whose first pack writes wait until `pending` puts are handed in, so that the
    /// batch after the first holds all the others (whatever the machine's speed).
    static func gatedFixture(pending: Int, wrap: @escaping @Sendable (String, any Provider) -> any Provider = { $1 }) async throws
        -> (EngineFixture, Gate) {
        let gate = Gate(pending: pending)
        let f = try await EngineFixture(packLimit: 64 << 10) { name, provider in GatedProvider(inner: wrap(name, provider), gate: gate) }
        gate.engine.withLock { $0 = f.engine }
        return (f, gate)
    }

    /// Puts `count` objects at once; returns their bytes by key.
    static func putAll(_ engine: Engine, count: Int) async throws -> [String: [UInt8]] {
        try await withThrowingTaskGroup(of: (String, [UInt8]).self) { group in
            for index in 0..<count {
                group.addTask {
                    let data = bytes(3000 + 1000 * index, seed: UInt64(index + 1)), key = "k\(index)"
                    try await engine.put(bucket: "bkt", key: key, size: Int64(data.count), body: BytesBody(data))
                    return (key, data)
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
    }

    @Test func putsMeanwhileShareOnePackPerProviderUntilTheLastPieceGoes() async throws {
        let (f, _) = try await Self.gatedFixture(pending: 8)
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let objects = try await Self.putAll(f.engine, count: 8)
        for (key, data) in objects { #expect(try await f.engine.getBytes(bucket: "bkt", key: key) == data) }
        // nuage stat: a piece's pack is longer than the piece, and healthy.
        let status = try await f.engine.status(bucket: "bkt", key: "k0")
        #expect(status.shards.allSatisfy { $0.health == .healthy }, "\(status.shards.map { "\($0.health)" })")

        var packs: [String: Set<String>] = [:], byPack: [BlobRef: [String]] = [:]
        for key in objects.keys {
            let manifest = try await f.engine.head(bucket: "bkt", key: key).parts[0]
            for piece in manifest.shards {
                let piece = try #require(piece)
                #expect(piece.isPiece && piece.length == ShardLayout(size: manifest.size, segmentSize: manifest.segmentSize,
                                                                     dataShards: manifest.dataShards).blobLength)
                packs[piece.provider, default: []].insert(piece.blob)
                byPack[piece.whole, default: []].append(key)
            }
        }
        // One batch began with the first put (or two), held until the others queued behind it:
        // at most two packs per provider, one file each, none per object.
        let batches = packs.values.map(\.count)
        #expect(packs.count == 6 && Set(batches).count == 1 && (1...2).contains(batches[0]), "\(packs)")
        #expect(f.providerFiles().count == 6 * batches[0])
        #expect(try await f.engine.catalog.intents(before: .distantFuture).isEmpty, "every batch ended with its last put")
        let largest = try #require(byPack.max { $0.value.count < $1.value.count })
        #expect(largest.value.count >= 4)
        let sizes = try await withThrowingTaskGroup(of: Int64.self) { group in
            for key in largest.value {
                group.addTask { try await f.engine.head(bucket: "bkt", key: key).parts[0].shards.first { $0?.provider == largest.key.provider }!!.length! }
            }
            return try await group.reduce(0, +)
        }
        // The pack on disk is its pieces end to end.
        let onDisk = try FileManager.default.attributesOfItem(atPath: f.path(of: largest.key))[.size] as? Int64
        #expect(onDisk == sizes)

        // Deleting pieces frees nothing while another piece of the pack is live.
        let survivor = largest.value.sorted()[0]
        for key in objects.keys where key != survivor { try await f.engine.delete(bucket: "bkt", key: key) }
        _ = try await f.engine.collectGarbage(grace: .zero, deleteDelay: .zero)
        #expect(f.providerFiles().count == 6, "only the packs \(survivor) keeps a piece of stay")
        #expect(try await f.engine.getBytes(bucket: "bkt", key: survivor) == objects[survivor])
        try await f.engine.delete(bucket: "bkt", key: survivor)
        _ = try await f.engine.collectGarbage(grace: .zero, deleteDelay: .zero)
        #expect(f.providerFiles().isEmpty, "the last piece gone, every pack is deleted")
    }

    @Test func aPackThatDidNotLandLeavesItsShardForRepairAndNothingBehind() async throws {
        let f = try await EngineFixture(packLimit: 64 << 10) { name, provider in
            name == "jp-5" ? RefusingProvider(inner: provider) : provider
        }
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let data = bytes(5000, seed: 9)
        try await f.engine.put(bucket: "bkt", key: "k", size: Int64(data.count), body: BytesBody(data))
        let manifest = try await f.engine.head(bucket: "bkt", key: "k").parts[0]
        let lost = try #require(manifest.shards.firstIndex { $0 == nil })
        #expect(manifest.shards.compactMap { $0 }.allSatisfy { $0.isPiece && $0.provider != "jp-5" })
        #expect(try await f.engine.catalog.pendingRepairs(limit: 10).map(\.shard) == [lost])
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "k") == data)
        // The failed pack was listed at the batch's end; gc forgets it (nothing to delete).
        #expect(try await f.engine.catalog.garbage(limit: 10).allSatisfy { $0.provider == "jp-5" })
        _ = try await f.engine.collectGarbage(grace: .zero, deleteDelay: .zero)
        #expect(try await f.engine.catalog.garbage(limit: 10).isEmpty)
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "k") == data)
    }

    @Test func scrubChecksEachPieceOnItsOwn() async throws {
        let (f, _) = try await Self.gatedFixture(pending: 3)
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let objects = try await Self.putAll(f.engine, count: 3)
        #expect(try await f.engine.scrub(deep: true).damaged.isEmpty)
        #expect(try await f.engine.scrub(deep: false).damaged.isEmpty)

        // A flipped byte in one piece of a shared pack: that object's shard only.
        let victim = try await f.engine.head(bucket: "bkt", key: "k1").parts[0]
        let piece = try #require(victim.shards[1])
        let path = f.path(of: piece.whole)
        var pack = try #require(FileManager.default.contents(atPath: path))
        pack[Int(piece.offset! + piece.length! - 20)] ^= 0xFF
        try pack.write(to: URL(fileURLWithPath: path))
        let deep = try await f.engine.scrub(deep: true)
        #expect(deep.damaged.count == 1 && deep.damaged[0].hasPrefix("bkt/k1 shard 1 on \(piece.provider): corrupt"), "\(deep.damaged)")
        // Cut the pack short before that piece ends: a light scrub sees it from the listing.
        try pack.prefix(Int(piece.offset! + piece.length! - 1)).write(to: URL(fileURLWithPath: path))
        let light = try await f.engine.scrub(deep: false)
        #expect(light.damaged.contains { $0.hasPrefix("bkt/k1 shard 1 on \(piece.provider): pack of") }, "\(light.damaged)")
        _ = try await f.engine.repair()
        for (key, data) in objects { #expect(try await f.engine.getBytes(bucket: "bkt", key: key) == data) }
        #expect(try await f.engine.scrub(deep: true).damaged.isEmpty)
    }

    @Test func drainMovesPiecesAndRecoveryCountsThem() async throws {
        // Seven providers: one drained, six left for 4 + 2.
        let gate = Gate(pending: 5)
        let f = try await EngineFixture(countries: EngineFixture.sixCountries + ["NO"], packLimit: 64 << 10) { _, provider in
            GatedProvider(inner: provider, gate: gate)
        }
        gate.engine.withLock { $0 = f.engine }
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let objects = try await Self.putAll(f.engine, count: 5)
        let drained = try #require(try await f.engine.head(bucket: "bkt", key: "k0").parts[0].shards[0]?.provider)
        let engine = try f.engine.marking(draining: [drained])
        let report = try await engine.drain(provider: drained)
        #expect(report.failed.isEmpty, "\(report)")
        #expect(f.providerFiles().filter { $0.contains("/providers/\(drained)/") }.isEmpty, "its packs are gone")
        for (key, data) in objects {
            #expect(try await engine.getBytes(bucket: "bkt", key: key) == data)
            #expect(try await engine.head(bucket: "bkt", key: key).parts[0].shards.allSatisfy { $0?.provider != drained })
        }
        try await engine.journalDurable()

        // A catalog rebuilt from the journal counts the pieces its versions keep.
        let recovered = try f.engine(catalog: try await TestCatalog.fresh(in: f.root, name: "recovered"))
        #expect(try await recovered.recover().problems.isEmpty)
        for (key, data) in objects { #expect(try await recovered.getBytes(bucket: "bkt", key: key) == data) }
        for key in objects.keys.sorted().dropLast() { try await recovered.delete(bucket: "bkt", key: key) }
        _ = try await recovered.collectGarbage(grace: .zero, deleteDelay: .zero)
        let last = objects.keys.sorted().last!
        #expect(try await recovered.getBytes(bucket: "bkt", key: last) == objects[last])
        try await recovered.delete(bucket: "bkt", key: last)
        _ = try await recovered.collectGarbage(grace: .zero, deleteDelay: .zero)
        #expect(f.providerFiles().isEmpty)
    }
}

/// Holds the first pack writes until the engine's pack writer has `pending` puts handed in.
final class Gate: Sendable {
    let pending: Int
    let engine = Locked<Engine?>(nil)
    private let opened = Locked(false)
    init(pending: Int) { self.pending = pending }

    func pass() async throws {
        guard !opened.value else { return }
        while (engine.value?.packWriter.pending ?? 0) < pending { try await Task.sleep(for: .milliseconds(5)) }
        opened.withLock { $0 = true }
    }
}

struct GatedProvider: Provider {
    let inner: any Provider
    let gate: Gate
    var name: String { inner.name }
    func put<Body: AsyncSequence & Sendable>(_ blob: String, length: Int64, body: Body) async throws where Body.Element == ByteBlock {
        // Packs only: the catalog journal's blobs (j-…, s-…) pass.
        if !blob.contains("-") { try await gate.pass() }
        try await inner.put(blob, length: length, body: body)
    }
    func get(_ blob: String, range: Range<Int64>?) async throws -> ByteBlock { try await inner.get(blob, range: range) }
    func cachedGet(_ blob: String, range: Range<Int64>) -> ByteBlock? { inner.cachedGet(blob, range: range) }
    func head(_ blob: String) async throws -> BlobInfo { try await inner.head(blob) }
    func delete(_ blob: String) async throws { try await inner.delete(blob) }
    func list(prefix: String, after: String?, limit: Int) async throws -> [BlobInfo] {
        try await inner.list(prefix: prefix, after: after, limit: limit)
    }
    func removeAbandonedWrites(olderThan age: Duration) async throws -> Int { try await inner.removeAbandonedWrites(olderThan: age) }
}
