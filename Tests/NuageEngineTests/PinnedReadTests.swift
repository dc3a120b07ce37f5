import Foundation
import NuageCatalog
import NuageCore
@testable import NuageEngine
import NuageProviders
import Testing

/// A read works on the version it started with, whatever happens to the key meanwhile: the
/// blobs of a replaced version are deleted only after the delete delay.
@Suite struct PinnedReadTests {
    enum Change: String, CaseIterable, Sendable {
        case overwrite, delete, completedUpload, repairSwap, garbageCollection
    }

    /// Starts a read of `bkt/k`, takes its first piece, applies `change`, then reads the rest.
    @Test(arguments: Change.allCases)
    func aReadInProgressReturnsTheOldBytesWhole(_ change: Change) async throws {
        let f = try await EngineFixture(deleteDelay: .seconds(3600))
        defer { f.cleanUp() }
        let engine = f.engine
        try await engine.createBucket("bkt")
        let old = bytes(600_000, seed: 11)  // ~150 segments of 4 KiB: far more than a read keeps ahead
        let record = try await engine.put(bucket: "bkt", key: "k", size: Int64(old.count), body: BytesBody(old))
        let reader = try await engine.get(bucket: "bkt", key: "k")
        var iterator = reader.makeAsyncIterator()
        var got = [UInt8](try #require(try await iterator.next()))
        switch change {
        case .overwrite:
            try await engine.put(bucket: "bkt", key: "k", size: 3, body: BytesBody([1, 2, 3]))
        case .delete:
            try await engine.delete(bucket: "bkt", key: "k")
        case .completedUpload:
            let upload = try await engine.createUpload(bucket: "bkt", key: "k")
            let part = try await engine.uploadPart(uploadID: upload.id, bucket: "bkt", key: "k", number: 1, size: 5, body: BytesBody([9, 9, 9, 9, 9]))
            try await engine.completeUpload(uploadID: upload.id, bucket: "bkt", key: "k", parts: [(1, part.etag)])
        case .repairSwap:
            let shard = try #require(record.parts[0].shards[0])
            try await engine.catalog.noteRepair(bucket: "bkt", key: "k", versionID: record.parts[0].versionID, shards: [0], reason: "test")
            #expect(try await engine.repair().repaired == 1)
            #expect(try await engine.head(bucket: "bkt", key: "k").parts[0].shards[0] != shard, "the shard was swapped")
        case .garbageCollection:
            try await engine.delete(bucket: "bkt", key: "k")
            let report = try await engine.collectGarbage(grace: .seconds(0))
            #expect(report.deletedGarbage == 0, "the deleted version's blobs wait for the delay")
        }
        while let piece = try await iterator.next() { got += piece }
        #expect(got == old, "\(change): the read returned the old bytes whole")
    }

    /// Once the delay has passed the blobs go; blobs no read can need go at once.
    @Test func replacedBlobsAreDeletedAfterTheDelay() async throws {
        let f = try await EngineFixture(deleteDelay: .milliseconds(200))
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        try await f.engine.put(bucket: "bkt", key: "k", size: 10, body: BytesBody(bytes(10, seed: 1)))
        let before = Set(f.providerFiles())
        try await f.engine.put(bucket: "bkt", key: "k", size: 10, body: BytesBody(bytes(10, seed: 2)))
        #expect(Set(f.providerFiles()).isSuperset(of: before), "the replaced blobs stay for reads in progress")
        // Not due within the delay (given explicitly: a loaded machine may take 200 ms to get here).
        #expect(try await f.engine.collectDueGarbage(delay: .seconds(3600)).deleted == 0)
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await f.engine.collectDueGarbage().deleted == before.count)
        #expect(Set(f.providerFiles()).isDisjoint(with: before))
    }
}
