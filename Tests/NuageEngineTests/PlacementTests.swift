@testable import NuageCore
@testable import NuageEngine
import Testing

@Suite struct PlacementTests {
    /// Providers "<country>-<i>" located in the given countries, operated from `operators[i]` or the same country.
    func providers(_ countries: [String], operators: [Int: String] = [:]) throws -> [ProviderDescriptor] {
        try countries.enumerated().map { i, country in
            ProviderDescriptor(name: "\(country.lowercased())-\(i)", kind: "directory", jurisdiction: try Jurisdiction(country),
                               operatorName: "Operator \(i)", operatorJurisdiction: try Jurisdiction(operators[i] ?? country))
        }
    }

    func failures(_ placement: Placement) -> String { placement.check().failures.joined(separator: " | ") }

    @Test func demoConfigurationIsFeasibleAndExcludesChina() throws {
        let placement = try Placement(policy: PlacementPolicy(), providers: providers(["US", "CA", "DE", "FR", "CH", "JP", "CN"]))
        #expect(placement.check().failures.isEmpty)
        #expect(placement.eligible.count == 6)
        #expect(placement.exclusions["cn-6"]?.contains("located in denied jurisdiction CN") == true)
        let chosen = try placement.choose(for: .random(count: 16))
        #expect(Set(chosen.map(\.name)).count == 6 && !chosen.contains { $0.name == "cn-6" })
    }

    @Test func usICTSPresetCoversTheListAndGroupsChinaHongKongMacao() throws {
        let listed = ["CN", "HK", "MO", "CU", "IR", "KP", "RU", "VE"]
        let placement = try Placement(policy: PlacementPolicy(), providers: providers(listed + ["US", "DE"]))
        #expect(placement.eligible.map(\.jurisdiction.code) == ["US", "DE"])
        #expect(try Jurisdiction("hk").group == "CN" && Jurisdiction("MO").group == "CN")
        let denyHK = try Placement(policy: PlacementPolicy(deny: ["HK"]), providers: providers(["CN", "MO", "US"]))
        #expect(denyHK.eligible.map(\.name) == ["us-2"], "denying HK denies the whole CN group")
    }

    @Test func operatorJurisdictionIsCounted() throws {
        // Located in Germany, operated from China: excluded by us-icts.
        let denied = try Placement(policy: PlacementPolicy(), providers: providers(["DE", "US"], operators: [0: "CN"]))
        #expect(denied.exclusions["de-0"]?.contains("operated from denied jurisdiction CN") == true)
        // Six countries, but four providers run by US companies: losing the US takes 4 > m = 2.
        let usHeavy = try Placement(policy: PlacementPolicy(),
                                    providers: providers(["US", "DE", "FR", "JP", "CA", "CH"], operators: [1: "US", 2: "US", 3: "US"]))
        #expect(failures(usHeavy).contains("survive-jurisdiction-loss fails"))
        #expect(failures(usHeavy).contains("at most 4 of the 6 shards"), "\(failures(usHeavy))")
    }

    @Test func tooFewProvidersNamesTheNumbers() throws {
        let placement = try Placement(policy: PlacementPolicy(), providers: providers(["US", "DE", "FR", "JP", "CA", "CN"]))
        let text = failures(placement)
        #expect(text.contains("distinct-providers fails"))
        #expect(text.contains("need 6 distinct eligible providers; 5 eligible"), "\(text)")
        #expect { try placement.choose(for: .random(count: 16)) } throws: { ($0 as? NuageError)?.code == .policyUnsatisfiable }
    }

    @Test func oneJurisdictionHoldingMoreThanMIsInfeasible() throws {
        let placement = try Placement(policy: PlacementPolicy(), providers: providers(["US", "US", "US", "DE", "FR", "JP"]))
        let text = failures(placement)
        #expect(text.contains("at most 5 of the 6 shards"), "\(text)")
        #expect(text.contains("US: 3"))
        // Without the loss rule the same providers are fine.
        let relaxed = try Placement(policy: PlacementPolicy(surviveJurisdictionLoss: 0), providers: providers(["US", "US", "US", "DE", "FR", "JP"]))
        #expect(relaxed.check().failures.isEmpty)
    }

    @Test func survivingTwoJurisdictions() throws {
        let countries = ["US", "US", "DE", "DE", "FR", "FR", "JP", "JP"]
        let two = try Placement(policy: PlacementPolicy(dataShards: 4, parityShards: 4, surviveJurisdictionLoss: 2),
                                providers: providers(countries))
        #expect(two.check().failures.isEmpty)
        let chosen = try two.choose(for: .random(count: 16))
        #expect(two.worstLoss(chosen).lost <= 4)
        let three = try Placement(policy: PlacementPolicy(dataShards: 4, parityShards: 4, surviveJurisdictionLoss: 3),
                                  providers: providers(countries))
        #expect(!three.check().failures.isEmpty)
    }

    @Test func choiceIsDeterministicSpreadAndAlwaysSafe() throws {
        let placement = try Placement(policy: PlacementPolicy(),
                                      providers: providers(["US", "CA", "DE", "FR", "CH", "JP", "GB", "US"]))
        var counts: [String: Int] = [:]
        for _ in 0..<400 {
            let version = [UInt8].random(count: 16)
            let chosen = try placement.choose(for: version)
            #expect(try placement.choose(for: version) == chosen)
            #expect(Set(chosen.map(\.name)).count == 6)
            #expect(placement.survivesJurisdictionLoss(chosen))
            for p in chosen { counts[p.name, default: 0] += 1 }
        }
        #expect(counts.count == 8)
        // 400 objects × 6 shards over 8 providers is 300 each; allow wide statistical slack.
        #expect(counts.values.allSatisfy { (200...400).contains($0) }, "\(counts)")
    }

    @Test func policyValuesAreChecked() throws {
        #expect(throws: NuageError.self) { try PlacementPolicy(deny: ["us-ictz"]) }
        #expect(throws: NuageError.self) { try PlacementPolicy(dataShards: 4, parityShards: 2, writeQuorum: 3) }
        #expect(throws: NuageError.self) { try PlacementPolicy(dataShards: 4, parityShards: 2, writeQuorum: 7) }
        #expect(throws: NuageError.self) { try PlacementPolicy(dataShards: 0) }
        #expect(throws: NuageError.self) { try PlacementPolicy(dataShards: 200, parityShards: 57) }
        #expect(throws: NuageError.self) { try Jurisdiction("USA") }
        for unassigned in ["ZZ", "EU", "UK", "XK"] {
            #expect(throws: NuageError.self, "\(unassigned) is not an assigned country code") { try Jurisdiction(unassigned) }
        }
        #expect(try Jurisdiction("gb").code == "GB")
        #expect(Jurisdiction.assigned.count == 249)
        #expect(throws: Never.self) { try PlacementPolicy(dataShards: 32, parityShards: 32, deny: ["RU", "us-icts"]) }
    }

    @Test func anInfeasiblePolicyRefusesWritesWithTheReason() async throws {
        let f = try await EngineFixture(countries: ["US", "US", "US", "DE", "FR", "JP"])
        defer { f.cleanUp() }
        #expect(f.engine.placementProblems.contains { $0.contains("survive-jurisdiction-loss") })
        try await f.engine.createBucket("bkt")
        await #expect { try await f.engine.put(bucket: "bkt", key: "k", size: 1, body: BytesBody([1])) } throws: { error in
            guard let error = error as? NuageError else { return false }
            return error.code == .policyUnsatisfiable && error.message.contains("survive-jurisdiction-loss")
                && error.message.contains("reads, listings and deletes still work")
        }
        await #expect(throws: NuageError.self) { try await f.engine.createUpload(bucket: "bkt", key: "k") }
    }

    /// A country banned after objects were written: every object still reads (its shards on the
    /// banned provider asked last), lists and deletes; only writes are refused.
    @Test func aBanNeverStopsReads() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let data = bytes(50_000, seed: 5)
        let record = try await f.engine.put(bucket: "bkt", key: "k", size: Int64(data.count), body: BytesBody(data))
        let bannedName = try #require(record.parts[0].shards[0]?.provider)
        let banned = try #require(f.engine.placement.providers.first { $0.name == bannedName })
        let entries = f.engine.placement.providers.map { Engine.ProviderEntry(descriptor: $0, provider: f.engine.providers[$0.name]!) }
        let engine = try Engine(catalog: f.engine.catalog, providers: entries,
                                policy: try PlacementPolicy(deny: ["us-icts", banned.jurisdiction.code]),
                                masterKey: f.engine.masterKey, segmentSize: 4096)
        #expect(!engine.placementProblems.isEmpty, "five eligible providers cannot hold six shards")
        #expect(engine.readOrder(record.parts[0]).last == 0, "the banned provider's shard is asked last")
        #expect(try await engine.getBytes(bucket: "bkt", key: "k") == data)
        #expect(try await engine.list(bucket: "bkt").objects.map(\.key) == ["k"])
        await #expect { try await engine.put(bucket: "bkt", key: "new", size: 1, body: BytesBody([1])) } throws: {
            ($0 as? NuageError)?.code == .policyUnsatisfiable
        }
        // With the banned provider unreachable too, the others still hold k shards.
        f.faults[bannedName]!.set([.down])
        #expect(try await engine.getBytes(bucket: "bkt", key: "k") == data)
        try await engine.delete(bucket: "bkt", key: "k")
        await #expect(throws: NuageError.self) { try await engine.head(bucket: "bkt", key: "k") }
    }
}
