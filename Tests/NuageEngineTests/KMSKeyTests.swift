import Foundation
import NuageCatalog
import NuageCore
import NuageCrypto
@testable import NuageEngine
import NuageProviders
import NuageTestSupport
import Testing

/// SSE-KMS: objects under a named KMS key read while it is enabled, are refused while it is
/// disabled or pending deletion, and are unreadable for good once it is destroyed, with the
/// key's wrapped bytes gone from the journal at the providers (crypto-shredding).
@Suite struct KMSKeyTests {
    func code(_ error: any Error) -> NuageError.Code? { (error as? NuageError)?.code }

    /// Journal blobs at the providers that hold the key's wrapped bytes.
    func journalBlobsHolding(_ key: KMSKeyRecord, _ f: EngineFixture, keys: [MasterKey]) throws -> [String] {
        try f.journalFiles().filter { path in
            let name = (path as NSString).lastPathComponent
            guard name.hasPrefix(Engine.segmentPrefix) || name.hasPrefix(Engine.snapshotPrefix) else { return false }
            let file = try JournalFile.open(Array(try Data(contentsOf: URL(fileURLWithPath: path))), name: name, with: keys)
            let records = (file.snapshot?.kmsKeys ?? []) + (file.entries ?? []).compactMap { entry in
                if case .kmsKeyChanged(let record) = entry.change { record } else { nil }
            }
            return records.contains { $0.id == key.id && $0.wrappedKey == key.wrappedKey }
        }
    }

    @Test func disableEnableAndDestroy() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let key = try await f.engine.createKMSKey(name: "finance")
        #expect(key.state == .enabled && key.wrappedKey.count == 60 && key.masterKeyID == f.engine.masterKey.id)
        let data = bytes(70_000, seed: 11)
        let record = try await f.engine.put(bucket: "bkt", key: "ledger", size: Int64(data.count), body: BytesBody(data), kmsKey: "finance")
        let manifest = record.parts[0]
        #expect(manifest.format == 3 && manifest.kmsKeyID == key.id && manifest.wrappedTagKey != nil)
        // Neither the master key alone opens the data key, nor another KMS key.
        #expect(throws: NuageError.self) { try f.engine.masterKey.unwrap(manifest.wrappedKey, context: manifest.versionID) }
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "ledger") == data)
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "ledger", range: 10..<20) == Array(data[10..<20]))
        // The shard headers name the key, so recovery keeps it.
        for ref in manifest.blobs {
            let header = try ShardHeader.open(try await f.engine.providers[ref.provider]!.get(ref.blob, range: 0..<Int64(ShardHeader.size)).bytes,
                                              with: f.engine.masterKey)
            #expect(header.kmsKeyID == key.id && header.wrappedKey == manifest.wrappedKey)
        }
        await #expect { try await f.engine.put(bucket: "bkt", key: "x", size: 1, body: BytesBody([1]), kmsKey: "nobody") } throws: { code($0) == .kmsNotFound }
        await #expect { try await f.engine.createKMSKey(name: "finance") } throws: { code($0) == .invalidArgument }
        await #expect { try await f.engine.createKMSKey(name: "alias/x") } throws: { code($0) == .invalidArgument }

        // Disabled: reads and writes refused; repair and scrub still work (the tag key is the master key's).
        try await f.engine.setKMSKey(name: "finance", enabled: false)
        await #expect { try await f.engine.getBytes(bucket: "bkt", key: "ledger") } throws: { code($0) == .kmsDisabled }
        await #expect { try await f.engine.put(bucket: "bkt", key: "y", size: 1, body: BytesBody([1]), kmsKey: "finance") } throws: { code($0) == .kmsDisabled }
        try FileManager.default.removeItem(atPath: f.path(of: manifest.shards[0]!))
        #expect(try await f.engine.scrub(deep: true).damaged.count == 1)
        let repair = try await f.engine.repair()
        #expect(repair.repaired == 1 && repair.failed.isEmpty, "\(repair)")
        try await f.engine.setKMSKey(name: "finance", enabled: true)
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "ledger") == data)

        // Pending deletion: refused; cancelled: disabled, as AWS leaves it.
        let scheduled = try await f.engine.scheduleKMSKeyDestruction(name: "finance", days: 7, now: Date(timeIntervalSince1970: 1_000_000))
        #expect(scheduled.state == .pendingDeletion && scheduled.deletionDate == Date(timeIntervalSince1970: 1_000_000 + 7 * 86_400))
        await #expect { try await f.engine.getBytes(bucket: "bkt", key: "ledger") } throws: { code($0) == .kmsInvalidState }
        await #expect { try await f.engine.setKMSKey(name: "finance", enabled: true) } throws: { code($0) == .kmsInvalidState }
        await #expect { try await f.engine.scheduleKMSKeyDestruction(name: "finance", days: 31) } throws: { code($0) == .invalidArgument }
        #expect(try await f.engine.cancelKMSKeyDestruction(name: "finance").state == .disabled)
        try await f.engine.setKMSKey(name: "finance", enabled: true)
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "ledger") == data)

        // A destruction that is not due yet does nothing; once due, the key is destroyed.
        try await f.engine.scheduleKMSKeyDestruction(name: "finance", days: 1, now: Date(timeIntervalSince1970: 2_000_000))
        #expect(try await f.engine.destroyDueKMSKeys(now: Date(timeIntervalSince1970: 2_000_000 + 86_000)).isEmpty)
        try await f.engine.journalDurable()
        #expect(try !journalBlobsHolding(key, f, keys: f.engine.keys).isEmpty, "the journal holds the wrapped key before the destruction")
        let destroyed = try await f.engine.destroyDueKMSKeys(now: Date(timeIntervalSince1970: 2_000_000 + 86_401))
        #expect(destroyed.map(\.key.name) == ["finance"] && destroyed[0].problems.isEmpty, "\(destroyed)")
        #expect(destroyed[0].key.state == .destroyed && destroyed[0].key.wrappedKey.isEmpty && destroyed[0].journalBlobsRetired >= 1)
        #expect(try journalBlobsHolding(key, f, keys: f.engine.keys).isEmpty, "no journal blob at a provider holds the wrapped key any more")
        await #expect { try await f.engine.getBytes(bucket: "bkt", key: "ledger") } throws: { code($0) == .kmsInvalidState }
        await #expect { try await f.engine.put(bucket: "bkt", key: "z", size: 1, body: BytesBody([1]), kmsKey: "finance") } throws: { code($0) == .kmsNotFound }
        await #expect { try await f.engine.createKMSKey(name: "finance") } throws: { code($0) == .invalidArgument }
        #expect(try await f.engine.encryptionDescription(of: record).contains("DESTROYED"))

        // The exposure report says so, and gc removes the shredded object and its shards.
        try await f.engine.put(bucket: "bkt", key: "plain", size: 3, body: BytesBody([1, 2, 3]))
        let exposure = try await f.engine.exposure()
        #expect(exposure.shreddedObjects == 1 && exposure.destroyedKMSKeys == ["finance"] && exposure.shreddedBytes > 0, "\(exposure)")
        #expect(exposure.jurisdictions.allSatisfy { $0.objectsWithKShards <= 1 })
        let blobs = try await f.engine.head(bucket: "bkt", key: "ledger").blobs
        let gc = try await f.engine.collectGarbage(deleteDelay: .zero)
        #expect(gc.shreddedObjects == 1, "\(gc)")
        await #expect { try await f.engine.head(bucket: "bkt", key: "ledger") } throws: { code($0) == .noSuchKey }
        #expect(blobs.allSatisfy { !FileManager.default.fileExists(atPath: f.path(of: $0)) })
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "plain") == [1, 2, 3])
    }

    @Test func uploadsRotationAndRecoveryKeepTheKey() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        try await f.engine.createKMSKey(name: "hr")
        let upload = try await f.engine.createUpload(bucket: "bkt", key: "multi", kmsKey: "hr")
        await #expect { try await f.engine.createUpload(bucket: "bkt", key: "m2", kmsKey: "none") } throws: { code($0) == .kmsNotFound }
        let one = bytes(Int(Engine.minimumPartSize), seed: 12), two = bytes(1000, seed: 13)
        let p1 = try await f.engine.uploadPart(uploadID: upload.id, bucket: "bkt", key: "multi", number: 1, size: Int64(one.count), body: BytesBody(one))
        let p2 = try await f.engine.uploadPart(uploadID: upload.id, bucket: "bkt", key: "multi", number: 2, size: Int64(two.count), body: BytesBody(two))
        let record = try await f.engine.completeUpload(uploadID: upload.id, bucket: "bkt", key: "multi", parts: [(1, p1.etag), (2, p2.etag)])
        let key = try #require(try await f.engine.kmsRecord(name: "hr"))
        #expect(record.metadata.isEmpty && record.parts.allSatisfy { $0.kmsKeyID == key.id })
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "multi") == one + two)

        // A master-key rotation rewraps the KMS key and the tag keys; the data keys stay under the KMS key.
        let old = f.engine.masterKey, new = try MasterKey(bytes: .random(count: 32))
        let rotated = try f.engine(masterKey: new, olderKeys: [old])
        #expect(try await rotated.retirementBlockers(keyID: old.id).contains { $0.contains("KMS key hr") })
        let rekey = try await rotated.rekey()
        #expect(rekey.failed.isEmpty && rekey.kmsKeys == 1 && rekey.versions == 2, "\(rekey)")
        #expect(try await rotated.retirementBlockers(keyID: old.id).isEmpty)
        _ = try await rotated.collectDueGarbage(delay: .zero)  // the journal blobs under the old key
        let retired = try f.engine(masterKey: new)
        #expect(try await retired.kmsRecord(name: "hr")?.masterKeyID == new.id)
        #expect(try await retired.getBytes(bucket: "bkt", key: "multi") == one + two)

        // Recovery from the providers brings the key and the object back; disabling it still refuses reads.
        let recovered = try f.engine(catalog: try await TestCatalog.fresh(in: f.root, name: "recovered"), masterKey: new)
        let recovery = try await recovered.recover()
        #expect(recovery.problems.isEmpty && recovery.objects == 1, "\(recovery)")
        #expect(try await recovered.getBytes(bucket: "bkt", key: "multi") == one + two)
        try await recovered.setKMSKey(name: "hr", enabled: false)
        await #expect { try await recovered.getBytes(bucket: "bkt", key: "multi") } throws: { code($0) == .kmsDisabled }
    }

    /// A key disabled by another process (or gateway) is refused here once the cached state is
    /// older than the cache's lifetime, not before: the clock is injected.
    @Test func theCacheRereadsStatesAfterItsLifetime() async throws {
        let clock = Locked(ContinuousClock.now)
        let cache = KMSKeyCache(lifetime: .seconds(2), now: { clock.value })
        let enabled = KMSKeyRecord(name: "k", id: [1], state: .enabled, masterKeyID: 1, wrappedKey: [], created: Date())
        var disabled = enabled
        disabled.state = .disabled
        let stored = Locked(enabled)
        let loads = Locked(0)
        let load: () async throws -> [KMSKeyRecord] = { loads.withLock { $0 += 1 }; return [stored.value] }
        #expect(try await cache.records(load: load).byName["k"]?.state == .enabled)
        try cache.remember(KMSKey(id: [1], bytes: .random(count: 32)))
        stored.withLock { $0 = disabled }
        clock.withLock { $0 = $0.advanced(by: .milliseconds(1999)) }
        #expect(try await cache.records(load: load).byName["k"]?.state == .enabled, "still within the lifetime")
        #expect(cache.unwrapped(id: [1]) != nil)
        clock.withLock { $0 = $0.advanced(by: .milliseconds(2)) }
        #expect(try await cache.records(load: load).byName["k"]?.state == .disabled)
        #expect(cache.unwrapped(id: [1]) == nil, "a key no longer enabled is forgotten")
        #expect(loads.value == 2)
    }
}
