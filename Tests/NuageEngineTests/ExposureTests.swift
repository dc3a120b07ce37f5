import Foundation
import NuageCatalog
import NuageCore
@testable import NuageEngine
import NuageProviders
import Testing

/// The exposure report, checked against a count made here from the catalog, and its what-if
/// against the drain that follows.
@Suite struct ExposureTests {
    @Test func figuresMatchAnIndependentCountAndTheWhatIfMatchesTheDrain() async throws {
        // Seven providers; de-2 is operated from the US, so it counts for DE and US.
        let f = try await EngineFixture(countries: EngineFixture.sixCountries + ["AU"], operators: ["de-2": "US"],
                                  policy: try PlacementPolicy(surviveJurisdictionLoss: 0))
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        for i in 0..<25 {
            try await f.engine.put(bucket: "bkt", key: "o\(i)", size: Int64(i * 3000), body: BytesBody(bytes(i * 3000, seed: UInt64(i))))
        }
        let report = try await f.engine.exposure(whatIfDeny: ["CH"])
        // Count shards per provider straight from the records, then per jurisdiction.
        var perProvider: [String: Int] = [:]
        var heldByUS: [String: Int] = [:]
        for record in try await f.engine.catalog.listObjects(bucket: "bkt", prefix: "", after: nil, limit: 1000) {
            for ref in record.parts[0].shards.compactMap({ $0 }) {
                perProvider[ref.provider, default: 0] += 1
                if ref.provider.hasPrefix("us-") || ref.provider == "de-2" { heldByUS[record.key, default: 0] += 1 }
            }
        }
        let us = try #require(report.jurisdictions.first { $0.code == "US" })
        #expect(us.providers == ["de-2", "us-0"])
        #expect(us.shards == (perProvider["us-0"] ?? 0) + (perProvider["de-2"] ?? 0))
        #expect(us.objects == heldByUS.count)
        #expect(us.objectsLostWithIt == heldByUS.values.filter { $0 > 2 }.count)
        #expect(us.objectsWithKShards == heldByUS.values.filter { $0 >= 4 }.count)
        let de = try #require(report.jurisdictions.first { $0.code == "DE" })
        #expect(de.shards == perProvider["de-2"] ?? 0)
        #expect(report.objects == 25 && report.jurisdictions.reduce(0) { $0 + $1.shards } == perProvider.values.reduce(0, +) + (perProvider["de-2"] ?? 0))
        #expect(report.catalogDigest.count == 64)
        let again = try await f.engine.exposure()
        #expect(again.catalogDigest == report.catalogDigest, "the same catalog state, the same digest")

        // What if CH were banned: exactly the shards a drain of ch-4 then moves.
        let whatIf = try #require(report.whatIf)
        #expect(whatIf.affectedProviders == ["ch-4"])
        #expect(whatIf.shardsToMove == perProvider["ch-4"] ?? 0)
        #expect(whatIf.placeable, "six providers remain for 4 + 2")
        let entries = f.engine.placement.providers.map { Engine.ProviderEntry(descriptor: $0, provider: f.engine.providers[$0.name]!) }
        let banned = try Engine(catalog: f.engine.catalog, providers: entries,
                                policy: try PlacementPolicy(deny: ["us-icts", "CH"], surviveJurisdictionLoss: 0),
                                masterKey: f.engine.masterKey, segmentSize: 4096)
        let drained = try await banned.drain(provider: "ch-4")
        #expect(drained.failed.isEmpty && drained.shards == whatIf.shardsToMove)
        #expect(drained.versions == whatIf.affectedObjects)
        let after = try await banned.exposure()
        #expect(after.jurisdictions.first { $0.code == "CH" }?.shards == 0)
        #expect(after.shardsOnExcludedProviders == 0)
    }
}
