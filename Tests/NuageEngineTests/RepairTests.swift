import Foundation
import NuageCatalog
import NuageCore
@testable import NuageEngine
import NuageProviders
import Testing

@Suite struct RepairTests {
    /// Reads `key` with `providers` refusing everything: proves the other shards suffice.
    func readWithout(_ providers: [String], _ f: EngineFixture, key: String) async throws -> [UInt8] {
        for name in providers { f.faults[name]!.set([.down]) }
        defer { for name in providers { f.faults[name]!.set([]) } }
        return try await f.engine.getBytes(bucket: "bkt", key: key)
    }

    @Test func shardsNeverWrittenAreRebuiltAndSwappedIn() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let data = bytes(100_000, seed: 1)
        f.faults["de-2"]!.set([.down])
        let record = try await f.engine.put(bucket: "bkt", key: "k", size: Int64(data.count), body: BytesBody(data))
        f.faults["de-2"]!.set([])
        let missing = try #require(record.parts[0].shards.firstIndex(where: { $0 == nil }))
        let report = try await f.engine.repair()
        #expect(report.repaired == 1 && report.failed.isEmpty, "\(report)")
        #expect(try await f.engine.catalog.pendingRepairs(limit: 10).isEmpty)
        let status = try await f.engine.status(bucket: "bkt", key: "k")
        #expect(status.shards.allSatisfy { $0.health == .healthy })
        #expect(status.shards[missing].providerName == "de-2", "the shard went back to its own provider")
        // The rebuilt shard is valid: read with two other providers gone.
        let others = status.shards.filter { $0.index != missing }.prefix(2).compactMap(\.providerName)
        #expect(try await readWithout(others, f, key: "k") == data)
    }

    @Test func lostAndCorruptBlobsAreRepairedAfterAReadNoticesThem() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let data = bytes(50_000, seed: 2)
        let record = try await f.engine.put(bucket: "bkt", key: "k", size: Int64(data.count), body: BytesBody(data))
        // Data shards are always read (parity only stands in), so a read is sure to see both.
        let lost = record.parts[0].shards[0]!, corrupt = record.parts[0].shards[1]!
        try FileManager.default.removeItem(atPath: f.path(of: lost))
        var generator = SeededGenerator(seed: 3)
        try flipByte(in: f.path(of: corrupt), using: &generator)
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "k") == data)
        var notes: [RepairNote] = []
        for _ in 0..<50 where notes.count < 2 {
            try await Task.sleep(for: .milliseconds(20))
            notes = try await f.engine.catalog.pendingRepairs(limit: 10)
        }
        #expect(Set(notes.map(\.shard)) == [0, 1])
        let report = try await f.engine.repair()
        #expect(report.repaired == 2, "\(report)")
        let repaired = try await f.engine.head(bucket: "bkt", key: "k").parts[0]
        #expect(repaired.shards[0] != lost && repaired.shards[1] != corrupt, "new blobs replace the bad ones")
        #expect(!FileManager.default.fileExists(atPath: f.path(of: corrupt)), "the corrupt blob was deleted")
        #expect(try await readWithout([repaired.shards[2]!.provider, repaired.shards[3]!.provider], f, key: "k") == data)
        #expect(try await f.engine.collectGarbage(grace: .seconds(0)).deletedOrphans == 0)
    }

    @Test func notesOfReplacedVersionsAreDropped() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        f.faults["fr-3"]!.set([.down])
        try await f.engine.put(bucket: "bkt", key: "k", size: 10, body: BytesBody(bytes(10, seed: 1)))
        f.faults["fr-3"]!.set([])
        try await f.engine.put(bucket: "bkt", key: "k", size: 10, body: BytesBody(bytes(10, seed: 2)))
        let report = try await f.engine.repair()
        #expect(report.dropped == 1 && report.repaired == 0)
        #expect(try await f.engine.catalog.pendingRepairs(limit: 10).isEmpty)
    }

    /// A repair target that fails partway (a full disk) ends the repair with that error; it used
    /// to wait forever to hand the failed writer its next record.
    @Test(arguments: [FaultInjectingProvider.Fault.failWritesAfter(20_000), .down])
    func aTargetThatFailsEndsTheRepairWithItsError(_ fault: FaultInjectingProvider.Fault) async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let data = bytes(400_000, seed: 4)  // a shard of many 4 KiB segments: far more records than the channel holds
        f.faults["de-2"]!.set([.down])
        try await f.engine.put(bucket: "bkt", key: "k", size: Int64(data.count), body: BytesBody(data))
        f.faults["de-2"]!.set([fault])
        let limit = EngineFixture.patience * 5
        let report = try await withDeadline(limit, onTimeout: { NuageError(.internalError, "repair hung for \(limit)") }) {
            try await f.engine.repair()
        }
        #expect(report.repaired == 0 && report.failed.count == 1, "\(report)")
        if case .failWritesAfter = fault {
            #expect(report.failed.first?.contains("No space left on device") == true, "the writer's own error: \(report.failed)")
        }
        #expect(try await f.engine.catalog.pendingRepairs(limit: 10).count == 1, "the note stays for the next run")
        f.faults["de-2"]!.set([])
        #expect(try await f.engine.repair().repaired == 1)
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "k") == data)
    }
}
