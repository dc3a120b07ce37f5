#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NuageCatalog
import NuageCore
import NuageCrypto
@testable import NuageEngine
import NuageProviders
import NuageS3Client
import NuageTestSupport
import Testing

/// Six real `rclone serve s3` processes as providers. During a workload one is killed
/// (SIGKILL) and another frozen (SIGSTOP); then both come back. All data stays intact, the
/// engine notices the return, and the shards they missed are repaired.
@Suite struct ProcessChaosTests {
    @Test func killedAndFrozenProvidersAreSurvivedThenRepaired() async throws {
        var resilience = Resilience()
        resilience.timeout = EngineFixture.patience
        resilience.attempts = 2
        let fleet = try await LocalS3Fleet.start(resilience: resilience, clientTimeout: .seconds(30))
        defer { fleet.stop() }
        let servers = fleet.members.map(\.server)
        let entries = fleet.members.map { Engine.ProviderEntry(descriptor: $0.descriptor, provider: $0.provider, health: $0.health) }
        let root = NSTemporaryDirectory() + "nuage-chaos-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let engine = try Engine(catalog: try await TestCatalog.fresh(in: root), providers: entries,
                                policy: try PlacementPolicy(writeQuorum: 4), masterKey: try MasterKey(bytes: .random(count: 32)),
                                segmentSize: 64 << 10, stragglerGrace: .seconds(1))
        try await engine.createBucket("bkt")
        var written: [String: [UInt8]] = [:]
        func put(_ key: String, _ size: Int) async throws {
            let data = bytes(size, seed: UInt64(written.count + 1))
            try await engine.put(bucket: "bkt", key: key, size: Int64(size), body: BytesBody(data))
            written[key] = data
        }
        func verifyAll(_ context: String) async throws {
            for (key, data) in written.sorted(by: { $0.key < $1.key }) {
                #expect(try await engine.getBytes(bucket: "bkt", key: key) == data, "\(context): \(key)")
            }
        }
        for i in 0..<4 { try await put("before-\(i)", 100_000 + i * 70_000) }
        // A healthy shard that straggled under load is rebuilt before the outage begins.
        #expect(try await engine.repair().failed.isEmpty)

        let killed = servers[1], frozen = servers[2]
        let killedName = entries[1].descriptor.name, frozenName = entries[2].descriptor.name
        killed.signal(SIGKILL)
        frozen.signal(SIGSTOP)
        for i in 0..<4 { try await put("during-\(i)", 50_000 + i * 90_000) }
        try await verifyAll("with one provider killed and one frozen")
        let range = try await engine.getBytes(bucket: "bkt", key: "during-3", range: 1000..<200_000)
        #expect(range == Array(written["during-3"]![1000..<200_000]))
        #expect(engine.health[killedName]?.state == .down)

        // Both come back; the engine notices through its probes.
        try await killed.restart()
        frozen.signal(SIGCONT)
        let deadline = ContinuousClock.now + .seconds(30)
        var states = await engine.probeProviders()
        while states.values.contains(where: { $0 == .down }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(250))
            states = await engine.probeProviders()
        }
        #expect(states[killedName] != .down && states[frozenName] != .down, "\(states)")

        // Shards written during the outage are repaired onto the returned providers.
        #expect(try await !engine.catalog.pendingRepairs(limit: 100).isEmpty)
        let report = try await engine.repair()
        #expect(report.failed.isEmpty, "\(report.failed)")
        #expect(try await engine.catalog.pendingRepairs(limit: 100).isEmpty)
        for key in written.keys {
            let status = try await engine.status(bucket: "bkt", key: key)
            #expect(status.shards.allSatisfy { $0.health == .healthy }, "\(key): \(status.shards.map { "\($0.health)" })")
        }
        // The repaired shards carry data: freeze two providers that held shards all along.
        servers[3].signal(SIGSTOP)
        servers[4].signal(SIGSTOP)
        try await verifyAll("after repair, with two other providers frozen")
        servers[3].signal(SIGCONT)
        servers[4].signal(SIGCONT)
    }
}
