import Foundation
import NuageCatalog
import NuageCore
@testable import NuageEngine
import NuageProviders
import Testing

/// Scrubs find every missing, short and corrupt shard, parity included; repair then makes
/// every object whole and a second deep scrub finds nothing.
@Suite struct ScrubTests {
    @Test func deepScrubFindsEveryDamageAndRepairHealsIt() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        var objects: [String: [UInt8]] = [:]
        var damage: [(key: String, shard: Int, kind: String)] = []
        for i in 0..<12 {
            let data = bytes(20_000 + i * 7000, seed: UInt64(i))
            let record = try await f.engine.put(bucket: "bkt", key: "o\(i)", size: Int64(data.count), body: BytesBody(data))
            objects["o\(i)"] = data
            let shards = record.parts[0].shards
            // Up to m = 2 damaged shards per object, parity shards (4, 5) among them.
            let chosen = [[0, 5], [4], [1, 4], []][i % 4]
            for (n, shard) in chosen.enumerated() {
                let path = f.path(of: shards[shard]!)
                switch (i + n) % 3 {
                case 0: try FileManager.default.removeItem(atPath: path); damage.append(("o\(i)", shard, "missing"))
                case 1:
                    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
                    try handle.truncate(atOffset: UInt64(ShardHeader.size + 100))
                    try handle.close()
                    damage.append(("o\(i)", shard, "short"))
                default:
                    try flipByte(in: path, at: ShardHeader.size + 10)
                    damage.append(("o\(i)", shard, "corrupt"))
                }
            }
        }
        #expect(try await f.engine.catalog.pendingRepairs(limit: 100).isEmpty, "nothing noticed the damage yet")
        // A light scrub sees what is missing or short, not a flipped byte.
        let light = try await f.engine.scrub(deep: false)
        #expect(light.damaged.count == damage.filter { $0.kind != "corrupt" }.count, "\(light.damaged)")
        let deep = try await f.engine.scrub(deep: true)
        #expect(deep.unchecked.isEmpty)
        #expect(deep.shards == 12 * 6)
        for (key, shard, kind) in damage {
            #expect(deep.damaged.contains { $0.hasPrefix("bkt/\(key) shard \(shard) ") }, "\(key) shard \(shard) (\(kind)) found: \(deep.damaged)")
        }
        #expect(deep.damaged.count == damage.count)
        let notes = try await f.engine.catalog.pendingRepairs(limit: 100)
        #expect(Set(notes.map { "\($0.key) \($0.shard)" }) == Set(damage.map { "\($0.key) \($0.shard)" }))
        let repaired = try await f.engine.repair()
        #expect(repaired.repaired == damage.count && repaired.failed.isEmpty, "\(repaired)")
        for (key, data) in objects { #expect(try await f.engine.getBytes(bucket: "bkt", key: key) == data) }
        let again = try await f.engine.scrub(deep: true)
        #expect(again.damaged.isEmpty, "\(again.damaged)")
    }
}
