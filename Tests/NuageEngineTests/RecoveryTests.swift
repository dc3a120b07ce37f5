import Foundation
import NuageCatalog
import NuageCore
@testable import NuageEngine
import NuageProviders
import NuageTestSupport
import Testing

/// The catalog rebuilt from the journal at providers matches the one that was lost.
@Suite struct RecoveryTests {
    /// An engine over the fixture's providers and master key with a new, empty catalog.
    func freshEngine(_ f: EngineFixture) async throws -> Engine {
        try f.engine(catalog: try await TestCatalog.fresh(in: f.root, name: "recovered"))
    }

    /// Buckets, puts, overwrites, deletes, multipart uploads (one completed, one left open),
    /// access keys and a drain's manifest changes; returns what each key should hold.
    func workload(_ engine: Engine, snapshotEvery: Int64? = nil) async throws -> [String: [UInt8]] {
        var expected: [String: [UInt8]] = [:]
        for bucket in ["alpha", "beta", "gone"] { try await engine.createBucket(bucket) }
        for i in 0..<40 {
            let data = bytes([0, 1, 5000, 70_000][i % 4], seed: UInt64(i))
            let bucket = i % 3 == 0 ? "beta" : "alpha"
            try await engine.put(bucket: bucket, key: "k\(i)", size: Int64(data.count), body: BytesBody(data),
                                 metadata: ["content-type": "text/x-\(i)", "x-amz-meta-n": "\(i)"])
            expected["\(bucket)/k\(i)"] = data
            if let snapshotEvery { try await engine.compactJournal(threshold: snapshotEvery) }
        }
        for i in stride(from: 0, to: 40, by: 5) {  // overwrites
            let data = bytes(3000 + i, seed: UInt64(1000 + i))
            let bucket = i % 3 == 0 ? "beta" : "alpha"
            try await engine.put(bucket: bucket, key: "k\(i)", size: Int64(data.count), body: BytesBody(data))
            expected["\(bucket)/k\(i)"] = data
        }
        for i in stride(from: 1, to: 40, by: 7) {  // deletes
            let bucket = i % 3 == 0 ? "beta" : "alpha"
            try await engine.delete(bucket: bucket, key: "k\(i)")
            expected["\(bucket)/k\(i)"] = nil
        }
        try await engine.put(bucket: "gone", key: "x", size: 1, body: BytesBody([7]))
        try await engine.delete(bucket: "gone", key: "x")
        try await engine.deleteBucket("gone")
        let upload = try await engine.createUpload(bucket: "alpha", key: "multi", metadata: ["content-type": "video/mp4"])
        let one = bytes(Int(Engine.minimumPartSize), seed: 77), two = bytes(999, seed: 78)
        let p1 = try await engine.uploadPart(uploadID: upload.id, bucket: "alpha", key: "multi", number: 1, size: Int64(one.count), body: BytesBody(one))
        let p2 = try await engine.uploadPart(uploadID: upload.id, bucket: "alpha", key: "multi", number: 2, size: Int64(two.count), body: BytesBody(two))
        try await engine.completeUpload(uploadID: upload.id, bucket: "alpha", key: "multi", parts: [(1, p1.etag), (2, p2.etag)])
        expected["alpha/multi"] = one + two
        let open = try await engine.createUpload(bucket: "beta", key: "open")
        _ = try await engine.uploadPart(uploadID: open.id, bucket: "beta", key: "open", number: 1, size: 10, body: BytesBody(bytes(10, seed: 3)))
        for name in ["first", "second"] {
            try await engine.catalog.createAccessKey(AccessKeyRecord(id: "KEY\(name.uppercased())", name: name, sealedSecret: [1, 2, 3],
                                                                     readOnly: name == "second", buckets: name == "second" ? ["beta"] : [],
                                                                     created: Date(timeIntervalSince1970: 1_800_000_000)))
        }
        _ = try await engine.catalog.deleteAccessKey(id: "KEYFIRST")
        try await engine.journalDurable()
        return expected
    }

    func expectSameState(_ recovered: Engine, _ original: Engine, _ expected: [String: [UInt8]]) async throws {
        let before = try await original.catalog.snapshot(), after = try await recovered.catalog.snapshot()
        #expect(after.buckets == before.buckets)
        #expect(after.accessKeys == before.accessKeys)
        #expect(after.objects.count == before.objects.count)
        // Every object with the same version, size, ETag, metadata and manifest.
        let originals = Dictionary(uniqueKeysWithValues: before.objects.map { ("\($0.bucket)/\($0.key)", $0) })
        let differing = after.objects.filter { originals["\($0.bucket)/\($0.key)"] != $0 }.map { "\($0.bucket)/\($0.key)" }
        #expect(differing.isEmpty, "recovered differently: \(differing)")
        #expect(Set(after.objects.map { "\($0.bucket)/\($0.key)" }) == Set(expected.keys))
        for (path, data) in expected {
            let parts = path.split(separator: "/", maxSplits: 1).map(String.init)
            #expect(try await recovered.getBytes(bucket: parts[0], key: parts[1]) == data, "\(path)")
        }
    }

    @Test func theCatalogComesBackFromTheJournal() async throws {
        let f = try await EngineFixture(countries: EngineFixture.sixCountries + ["AU"])
        defer { f.cleanUp() }
        let expected = try await workload(f.engine)
        // A drain moves shards: the manifests' changes are in the journal too.
        let draining = try f.engine.marking(draining: ["de-2"])
        #expect(try await draining.drain(provider: "de-2").failed.isEmpty)
        try await draining.journalDurable()

        let recovered = try await freshEngine(f)
        let report = try await recovered.recover()
        #expect(report.problems.isEmpty && report.unreadable.isEmpty && report.unreachable.isEmpty, "\(report)")
        #expect(report.objects == expected.count && report.buckets == 2 && report.accessKeys == 1)
        try await expectSameState(recovered, draining, expected)
        // The recovered catalog goes on journaling after the recovered state.
        let state = try await recovered.catalog.journalState()
        #expect(state.head == report.seq && state.durable == report.seq)
        try await recovered.put(bucket: "alpha", key: "after", size: 3, body: BytesBody([1, 2, 3]))
        #expect(try await recovered.catalog.journalState().durable == report.seq + 1)
    }

    /// Several gateways on one catalog each flush the journal before they answer: two that read
    /// the same durable point write segments covering the same changes. Recovery takes each
    /// change once, whichever segments hold it.
    @Test func segmentsOfSeveralGatewaysOverlapAndTheCatalogStillComesBack() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        let a = f.engine, b = try f.engine(catalog: f.engine.catalog)  // two gateways, one catalog
        try await a.createBucket("shared")
        var expected: [String: [UInt8]] = [:]
        try await withThrowingTaskGroup(of: (String, [UInt8]).self) { group in
            for i in 0..<24 {
                group.addTask {
                    let data = bytes(100 + 700 * i, seed: UInt64(i)), engine = i % 2 == 0 ? a : b
                    try await engine.put(bucket: "shared", key: "k\(i % 16)", size: Int64(data.count), body: BytesBody(data))
                    return ("k\(i % 16)", data)
                }
            }
            for try await _ in group {}
        }
        for i in 0..<16 { expected["shared/k\(i)"] = try await a.getBytes(bucket: "shared", key: "k\(i)") }
        // The race made certain: a reads what is not yet durable, b flushes it, then a writes
        // the same changes as a segment of its own.
        for i in 0..<3 { try await a.catalog.createAccessKey(AccessKeyRecord(id: "KEY\(i)", name: "k\(i)", sealedSecret: [UInt8(i)], readOnly: false,
                                                                             buckets: [], created: Date(timeIntervalSince1970: 1_800_000_000))) }
        let state = try await a.catalog.journalState()
        let pending = try await a.catalog.journalEntries(after: state.durable, limit: 5000)
        try #require(pending.count >= 3)
        try await a.catalog.createAccessKey(AccessKeyRecord(id: "KEY3", name: "k3", sealedSecret: [3], readOnly: true, buckets: ["shared"],
                                                            created: Date(timeIntervalSince1970: 1_800_000_000)))
        try await b.journalDurable()
        let head = try await b.catalog.journalState().durable
        try #require(head > pending.last!.seq)
        let copies = try await a.writeJournal(JournalFile(entries: pending), prefix: Engine.segmentPrefix)
        try await a.catalog.noteJournalSegment(JournalBlob(kind: .segment, first: pending.first!.seq, last: pending.last!.seq, copies: copies))
        #expect(try await a.catalog.journalState().durable == head, "a segment noted late does not move durable back")

        let recovered = try await freshEngine(f)
        let report = try await recovered.recover()
        #expect(report.problems.isEmpty && report.unreadable.isEmpty, "\(report)")
        #expect(report.objects == 16 && report.accessKeys == 4)
        try await expectSameState(recovered, a, expected)
    }

    @Test(arguments: [false, true])
    func everyVersionAndLockComesBack(snapshot: Bool) async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        let engine = f.engine, lock = [ObjectLock.modeKey: "COMPLIANCE", ObjectLock.retainUntilKey: "2100-01-01T00:00:00.000Z"]
        try await engine.createBucket("vault", objectLock: "{}")
        try await engine.createBucket("paused")
        var bodies: [[UInt8]: [UInt8]] = [:]
        for i in 0..<6 {
            let data = bytes(100 * i + 1, seed: UInt64(i))
            let record = try await engine.put(bucket: "vault", key: "k\(i % 2)", size: Int64(data.count), body: BytesBody(data),
                                              metadata: i == 0 ? lock : [:])
            bodies[record.versionID] = data
        }
        try await engine.delete(bucket: "vault", key: "k1")  // a delete marker
        try await engine.put(bucket: "paused", key: "n", size: 1, body: BytesBody([1]))
        var paused = try #require(try await engine.catalog.bucket("paused"))
        paused.versioning = .suspended
        try await engine.catalog.updateBucket(paused)
        try await engine.put(bucket: "paused", key: "n", size: 1, body: BytesBody([2]))  // replaces the null version
        if snapshot { _ = try await engine.compactJournal(threshold: 1) }
        try await engine.journalDurable()

        let recovered = try await freshEngine(f)
        let report = try await recovered.recover()
        #expect(report.problems.isEmpty && report.unreadable.isEmpty, "\(report)")
        let before = try await engine.catalog.snapshot(), after = try await recovered.catalog.snapshot()
        #expect(after.buckets == before.buckets && after.objects == before.objects && after.versions == before.versions)
        #expect(after.versions.count == 6, "five noncurrent versions and a delete marker; the replaced null version is gone")
        for version in after.objects + after.versions where !version.deleteMarker && version.bucket == "vault" {
            #expect(try await recovered.getBytes(bucket: "vault", key: version.key, version: .id(version.versionID)) == bodies[version.versionID])
        }
        // The lock came back with its version.
        let locked = try #require(after.versions.first { $0.metadata[ObjectLock.modeKey] != nil })
        await #expect(throws: NuageError.self) {
            try await recovered.catalog.deleteVersion(bucket: "vault", key: locked.key, versionID: locked.versionID, bypassGovernance: true, now: Date())
        }
        #expect(try await recovered.getBytes(bucket: "paused", key: "n") == [2])
    }

    @Test func aSnapshotAndTheSegmentsAfterItAreEnough() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        let expected = try await workload(f.engine, snapshotEvery: 15)
        let blobs = try await f.engine.catalog.journalBlobs()
        #expect(blobs.filter { $0.kind == .snapshot }.count == 1, "older snapshots and covered segments are retired")
        let snapshot = blobs.first { $0.kind == .snapshot }!
        #expect(snapshot.last > 15 && blobs.allSatisfy { $0.kind == .snapshot || $0.last > snapshot.last })
        #expect(blobs.allSatisfy { Set($0.copies.map(\.provider)).count == $0.copies.count && (3...4).contains($0.copies.count) },
                "m + 1 copies (or one more) in distinct jurisdictions")
        // Retired journal blobs are deleted by gc; recovery never needed them.
        _ = try await f.engine.collectGarbage(grace: .zero, deleteDelay: .zero)
        let recovered = try await freshEngine(f)
        let report = try await recovered.recover()
        #expect(report.snapshotSeq == snapshot.last && report.problems.isEmpty, "\(report)")
        try await expectSameState(recovered, f.engine, expected)
    }

    @Test func oneJurisdictionDownAndACorruptCopyStillRecover() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        let expected = try await workload(f.engine)
        // Flip a byte in one copy of every journal blob on ca-1; take de-2 away entirely.
        for blob in try await f.engine.catalog.journalBlobs() {
            for ref in blob.copies where ref.provider == "ca-1" {
                let provider = f.engine.providers["ca-1"]!
                var bytes = try await provider.get(ref.blob, range: nil).bytes
                bytes[bytes.count / 2] ^= 1
                try await provider.delete(ref.blob)
                try await provider.put(ref.blob, bytes: bytes)
            }
        }
        f.faults["de-2"]!.set([.down])
        let recovered = try await freshEngine(f)
        let report = try await recovered.recover()
        #expect(report.problems.isEmpty && report.unreadable.isEmpty, "\(report)")
        #expect(report.unreachable.count == 1 && report.unreachable[0].hasPrefix("de-2"))
        try await expectSameState(recovered, f.engine, expected)
    }

    @Test func aLostSegmentIsAGapNotASilentLoss() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        _ = try await workload(f.engine)
        let segments = try await f.engine.catalog.journalBlobs().filter { $0.kind == .segment }.sorted { $0.last < $1.last }
        let lost = segments[segments.count / 2]
        // Every copy, the spare one a hedged write may have left too.
        for provider in f.engine.providers.values { try? await provider.delete(lost.copies[0].blob) }
        let recovered = try await freshEngine(f)
        let report = try await recovered.recover()
        #expect(report.seq == lost.first - 1, "recovered up to the gap, no further")
        #expect(report.problems.count == 1 && report.problems[0].contains("change \(lost.first) is missing"), "\(report.problems)")
    }

    @Test func journalBlobsRevealNothing() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("secret-bucket-name")
        try await f.engine.put(bucket: "secret-bucket-name", key: "secret-key-name", size: 5, body: BytesBody(Array("hello".utf8)),
                               metadata: ["x-amz-meta-secret": "secret-metadata-value"])
        try await f.engine.snapshotCatalog()
        #expect(!f.journalFiles().isEmpty)
        for file in f.allProviderFiles() {
            let contents = try Data(contentsOf: URL(fileURLWithPath: file))
            for marker in ["secret-bucket-name", "secret-key-name", "secret-metadata-value"] {
                #expect(contents.range(of: Data(marker.utf8)) == nil, "\(file) holds \(marker)")
            }
        }
    }

    /// DeleteObjects: one journal segment for the whole batch, and the recovered catalog agrees.
    @Test func aBatchOfDeletesIsOneJournalWrite() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        for i in 0..<20 { try await f.engine.put(bucket: "bkt", key: "k\(i)", size: 1, body: BytesBody([UInt8(i)])) }
        let before = try await f.engine.catalog.journalBlobs().filter { $0.kind == .segment }.count
        let failed = try await f.engine.delete(bucket: "bkt", keys: (0..<15).map { "k\($0)" } + ["never-there"])
        #expect(failed.isEmpty, "a missing key is deleted too")
        let after = try await f.engine.catalog.journalBlobs().filter { $0.kind == .segment }
        #expect(after.count == before + 1 && after.last!.last - after.last!.first == 14, "15 deletions, one segment")
        let recovered = try await freshEngine(f)
        #expect(try await recovered.recover().objects == 5)
        #expect(try await recovered.catalog.listObjects(bucket: "bkt", prefix: "", after: nil, limit: 100).map(\.key) == ["k15", "k16", "k17", "k18", "k19"])
    }
}
