import Foundation
import NuageCatalog
import NuageCore
import NuageCrypto
@testable import NuageEngine
import NuageProviders
import NuageTestSupport
import Testing

/// Master-key rotation: everything moves to the new key without re-encrypting data, and the
/// old key can then be retired while every object, repair, scrub and recovery goes on.
@Suite struct RotationTests {
    @Test func everythingMovesToTheNewKeyAndTheOldOneCanGo() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        let old = f.engine.masterKey, new = try MasterKey(bytes: .random(count: 32))
        try await f.engine.createBucket("bkt")
        var objects: [String: [UInt8]] = [:]
        for i in 0..<8 {
            let data = bytes([0, 1, 9000, 70_000][i % 4], seed: UInt64(i))
            try await f.engine.put(bucket: "bkt", key: "k\(i)", size: Int64(data.count), body: BytesBody(data))
            objects["k\(i)"] = data
        }
        let upload = try await f.engine.createUpload(bucket: "bkt", key: "multi")
        let one = bytes(Int(Engine.minimumPartSize), seed: 50), two = bytes(10, seed: 51)
        let p1 = try await f.engine.uploadPart(uploadID: upload.id, bucket: "bkt", key: "multi", number: 1, size: Int64(one.count), body: BytesBody(one))
        let p2 = try await f.engine.uploadPart(uploadID: upload.id, bucket: "bkt", key: "multi", number: 2, size: Int64(two.count), body: BytesBody(two))
        try await f.engine.completeUpload(uploadID: upload.id, bucket: "bkt", key: "multi", parts: [(1, p1.etag), (2, p2.etag)])
        objects["multi"] = one + two
        try await f.engine.catalog.createAccessKey(AccessKeyRecord(id: "NUKEY", name: "k", sealedSecret: try old.sealSecret("s3cr3t", accessKey: "NUKEY"),
                                                                   readOnly: false, buckets: [], created: Date(timeIntervalSince1970: 1_800_000_000)))

        let rotated = try f.engine(masterKey: new, olderKeys: [old])
        #expect(try await !rotated.retirementBlockers(keyID: old.id).isEmpty, "objects are still under the old key")
        #expect(try await rotated.retirementBlockers(keyID: new.id) == ["it is the active key (rotate first: nuage keys rotate-master)"])
        // Reads work across the rotation, before the rekey.
        #expect(try await rotated.getBytes(bucket: "bkt", key: "k2") == objects["k2"])
        let report = try await rotated.rekey()
        #expect(report.failed.isEmpty && report.versions == 10 && report.secrets == 1, "\(report)")
        // Every version under the new key, every header sealed under it, no chunk re-encrypted.
        for record in try await rotated.catalog.listObjects(bucket: "bkt", prefix: "", after: nil, limit: 100) {
            for manifest in record.parts {
                #expect(manifest.keyID == new.id)
                for ref in manifest.shards.compactMap({ $0 }) {
                    let header = try await f.engine.providers[ref.provider]!.get(ref.blob, range: 0..<Int64(ShardHeader.size)).bytes
                    #expect(try ShardHeader.open(header, with: new).keyID == new.id)
                    #expect(throws: NuageError.self) { try ShardHeader.open(header, with: old) }
                }
            }
        }
        _ = try await rotated.collectDueGarbage()
        #expect(try await rotated.retirementBlockers(keyID: old.id) == [], "nothing needs the old key")

        // Without the old key: reads, a deep scrub, a repair and a recovery all work.
        let retired = try f.engine(masterKey: new)
        for (key, data) in objects { #expect(try await retired.getBytes(bucket: "bkt", key: key) == data, "\(key)") }
        #expect(try retired.openSecret(try #require(try await retired.catalog.accessKey(id: "NUKEY")).sealedSecret, accessKey: "NUKEY") == "s3cr3t")
        #expect(try await retired.scrub(deep: true).damaged.isEmpty)
        let recovered = try f.engine(catalog: try await TestCatalog.fresh(in: f.root, name: "recovered"), masterKey: new)
        let recovery = try await recovered.recover()
        #expect(recovery.problems.isEmpty && recovery.objects == objects.count, "\(recovery)")
        for (key, data) in objects { #expect(try await recovered.getBytes(bucket: "bkt", key: key) == data, "\(key)") }
    }
}
