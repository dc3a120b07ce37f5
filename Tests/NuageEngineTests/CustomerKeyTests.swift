import Crypto
import Foundation
import NuageCatalog
import NuageCore
import NuageCrypto
@testable import NuageEngine
import NuageProviders
import NuageTestSupport
import Testing

/// SSE-C: objects under a client's key open only with that key, while repair, scrub, drain,
/// rotation and recovery do their work without it (format 2 tags chunks under a key the gateway
/// holds). Objects written in format 1 stay readable and repairable.
@Suite struct CustomerKeyTests {
    let customer = try! CustomerKey(bytes: Array(repeating: 0x5A, count: 32))
    let other = try! CustomerKey(bytes: Array(repeating: 0x5B, count: 32))

    func code(_ error: any Error) -> NuageError.Code? { (error as? NuageError)?.code }

    @Test func onlyTheClientsKeyOpensTheObject() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let data = bytes(70_000, seed: 1)
        let record = try await f.engine.put(bucket: "bkt", key: "secret", size: Int64(data.count), body: BytesBody(data), customerKey: customer)
        let manifest = record.parts[0]
        #expect(manifest.format == 2 && manifest.needsCustomerKey && manifest.wrappedTagKey != nil)
        #expect(record.etag != Array(Insecure.MD5.hash(data: data)).hex, "the ETag is not the plaintext's MD5")
        #expect(record.etag == customer.etag(md5: Array(Insecure.MD5.hash(data: data))))
        // The master key alone does not unwrap the data key.
        #expect(throws: NuageError.self) { try f.engine.masterKey.unwrap(manifest.wrappedKey, context: manifest.versionID) }
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "secret", customerKey: customer) == data)
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "secret", range: 100..<200, customerKey: customer) == Array(data[100..<200]))
        await #expect { try await f.engine.get(bucket: "bkt", key: "secret") } throws: { code($0) == .customerKeyRequired }
        await #expect { try await f.engine.get(bucket: "bkt", key: "secret", customerKey: other) } throws: { code($0) == .customerKeyMismatch }
        // A plain object refuses a key, and is not stored under one.
        try await f.engine.put(bucket: "bkt", key: "plain", size: 3, body: BytesBody([1, 2, 3]))
        await #expect { try await f.engine.get(bucket: "bkt", key: "plain", customerKey: customer) } throws: { code($0) == .customerKeyNotApplicable }
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "plain") == [1, 2, 3])
        // Every shard header carries the check and the wrapped tag key, so recovery keeps them.
        for ref in manifest.blobs {
            let header = try ShardHeader.open(try await f.engine.providers[ref.provider]!.get(ref.blob, range: 0..<Int64(ShardHeader.size)).bytes,
                                              with: f.engine.masterKey)
            #expect(header.customerKeyCheck == manifest.customerKeyCheck && header.wrappedTagKey == manifest.wrappedTagKey)
            #expect(header.wrappedKey == manifest.wrappedKey)
        }
    }

    @Test func repairScrubDrainRekeyAndRecoveryNeedNoCustomerKey() async throws {
        let f = try await EngineFixture(countries: EngineFixture.sixCountries + ["AU"])
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let data = bytes(300_000, seed: 2)
        let record = try await f.engine.put(bucket: "bkt", key: "secret", size: Int64(data.count), body: BytesBody(data), customerKey: customer)
        // A lost blob and a corrupt one: a deep scrub finds both by their tags, a repair rebuilds them.
        let lost = record.parts[0].shards[0]!, corrupt = record.parts[0].shards[4]!
        try FileManager.default.removeItem(atPath: f.path(of: lost))
        var generator = SeededGenerator(seed: 3)
        try flipByte(in: f.path(of: corrupt), using: &generator)
        let scrub = try await f.engine.scrub(deep: true)
        #expect(scrub.damaged.count == 2, "\(scrub)")
        let repair = try await f.engine.repair()
        #expect(repair.repaired == 2 && repair.failed.isEmpty, "\(repair)")
        #expect(try await f.engine.scrub(deep: true).damaged.isEmpty)
        // A drain moves its shards off a provider.
        let drained = try #require(try await f.engine.head(bucket: "bkt", key: "secret").parts[0].shards[1]).provider
        let draining = try f.engine.marking(draining: [drained])
        let drain = try await draining.drain(provider: drained)
        #expect(drain.failed.isEmpty && drain.shards >= 1, "\(drain)")
        #expect(try await draining.head(bucket: "bkt", key: "secret").blobs.allSatisfy { $0.provider != drained })
        // A master-key rotation moves the tag key; the data key stays under the client's key.
        let old = f.engine.masterKey, new = try MasterKey(bytes: .random(count: 32))
        let rotated = try f.engine(masterKey: new, olderKeys: [old])
        let rekey = try await rotated.rekey()
        #expect(rekey.failed.isEmpty && rekey.versions == 1, "\(rekey)")
        let retired = try f.engine(masterKey: new)
        let after = try await retired.head(bucket: "bkt", key: "secret").parts[0]
        #expect(after.keyID == new.id && after.customerKeyCheck == record.parts[0].customerKeyCheck)
        #expect(try await retired.getBytes(bucket: "bkt", key: "secret", customerKey: customer) == data)
        #expect(try await retired.scrub(deep: true).damaged.isEmpty)
        // Recovery from the providers brings it back, still under the client's key.
        let recovered = try f.engine(catalog: try await TestCatalog.fresh(in: f.root, name: "recovered"), masterKey: new, olderKeys: [old])
        let recovery = try await recovered.recover()
        #expect(recovery.problems.isEmpty && recovery.objects == 1, "\(recovery)")
        await #expect { try await recovered.get(bucket: "bkt", key: "secret") } throws: { code($0) == .customerKeyRequired }
        #expect(try await recovered.getBytes(bucket: "bkt", key: "secret", customerKey: customer) == data)
    }

    @Test func everyPartOfAnUploadIsUnderTheKeyItStartedWith() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let upload = try await f.engine.createUpload(bucket: "bkt", key: "multi", metadata: ["x-amz-meta-a": "b"], customerKey: customer)
        let one = bytes(Int(Engine.minimumPartSize), seed: 4), two = bytes(1000, seed: 5)
        for (key, expected) in [(nil, NuageError.Code.customerKeyRequired), (other, .customerKeyMismatch)] {
            await #expect { try await f.engine.uploadPart(uploadID: upload.id, bucket: "bkt", key: "multi", number: 1, size: 1,
                                                          body: BytesBody([1]), customerKey: key) } throws: { code($0) == expected }
        }
        let p1 = try await f.engine.uploadPart(uploadID: upload.id, bucket: "bkt", key: "multi", number: 1, size: Int64(one.count),
                                               body: BytesBody(one), customerKey: customer)
        let p2 = try await f.engine.uploadPart(uploadID: upload.id, bucket: "bkt", key: "multi", number: 2, size: Int64(two.count),
                                               body: BytesBody(two), customerKey: customer)
        await #expect { try await f.engine.completeUpload(uploadID: upload.id, bucket: "bkt", key: "multi", parts: [(1, p1.etag), (2, p2.etag)],
                                                          customerKey: other) } throws: { code($0) == .customerKeyMismatch }
        let record = try await f.engine.completeUpload(uploadID: upload.id, bucket: "bkt", key: "multi", parts: [(1, p1.etag), (2, p2.etag)])
        #expect(record.metadata == ["x-amz-meta-a": "b"], "the upload's key check is not the object's metadata")
        #expect(record.parts.allSatisfy { $0.needsCustomerKey })
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "multi", customerKey: customer) == one + two)
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "multi", range: Int64(one.count - 5)..<Int64(one.count + 5),
                                            customerKey: customer) == Array((one + two)[(one.count - 5)..<(one.count + 5)]))
        // A plain upload takes no key.
        let plain = try await f.engine.createUpload(bucket: "bkt", key: "plain")
        await #expect { try await f.engine.uploadPart(uploadID: plain.id, bucket: "bkt", key: "plain", number: 1, size: 1,
                                                      body: BytesBody([1]), customerKey: customer) } throws: { code($0) == .customerKeyNotApplicable }
    }

    /// What gateways before format 2 wrote (chunk tags keyed from the data key) stays readable,
    /// repairable and rotatable.
    @Test func formatOneObjectsStayReadableRepairableAndRotatable() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let data = bytes(90_000, seed: 6)
        let record = try await Engine.$writeFormat.withValue(1) {
            try await f.engine.put(bucket: "bkt", key: "old", size: Int64(data.count), body: BytesBody(data))
        }
        #expect(record.parts[0].format == 1 && record.parts[0].wrappedTagKey == nil)
        let ref = record.parts[0].shards[0]!
        let header = try await f.engine.providers[ref.provider]!.get(ref.blob, range: 0..<Int64(ShardHeader.size)).bytes
        #expect(Array(header[8..<12]) == [0, 1, 0, 0], "a format-1 header")
        try FileManager.default.removeItem(atPath: f.path(of: ref))
        #expect(try await f.engine.scrub(deep: true).damaged.count == 1)
        #expect(try await f.engine.repair().repaired == 1)
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "old") == data)
        let new = try MasterKey(bytes: .random(count: 32))
        let rotated = try f.engine(masterKey: new, olderKeys: [f.engine.masterKey])
        #expect(try await rotated.rekey().versions == 1)
        let retired = try f.engine(masterKey: new)
        #expect(try await retired.head(bucket: "bkt", key: "old").parts[0].format == 1)
        #expect(try await retired.getBytes(bucket: "bkt", key: "old") == data)
        #expect(try await retired.scrub(deep: true).damaged.isEmpty)
    }
}
