import Foundation
import NuageCatalog
import NuageCore
@testable import NuageEngine
import NuageProviders
import NuageTestSupport
import Testing

/// Providers that fail, stall, lie and corrupt, injected into a running engine with the
/// resilience stack: every read returns exactly the bytes written, or, with more than `m`
/// providers faulty, an error naming them. Never wrong bytes, never a hang.
@Suite struct ChaosTests {
    static let faults: [FaultInjectingProvider.Fault] = [
        .down, .errorRate(0.5), .latency(.milliseconds(30)), .stall, .slowBandwidth(2 << 20),
        .flipBytes, .truncatedReads, .otherBlob, .lostWrites,
    ]

    /// Short timeouts so that stalls turn into errors within the test, yet long enough for a
    /// healthy provider on a loaded machine.
    static var resilience: Resilience {
        var r = Resilience()
        r.attempts = 2
        r.timeout = EngineFixture.patience
        r.minimumBandwidth = 1 << 20
        return r
    }

    /// Fails the test instead of hanging.
    func bounded<T: Sendable>(_ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let limit = EngineFixture.patience * 5
        return try await withDeadline(limit, onTimeout: { NuageError(.internalError, "\(what) hung for \(limit)") }, body)
    }

    @Test(arguments: faults)
    func mixedWorkloadUnderAFault(_ fault: FaultInjectingProvider.Fault) async throws {
        let f = try await EngineFixture(policy: try PlacementPolicy(writeQuorum: 4), resilience: Self.resilience, stragglerGrace: .milliseconds(500), onTmpfs: true)
        defer { f.cleanUp() }
        let engine = f.engine
        var generator = SeededGenerator(seed: UInt64(Self.faults.firstIndex(of: fault)! + 1))
        try await engine.createBucket("bkt")
        var written: [String: [UInt8]] = [:]
        for i in 0..<4 {
            let data = bytes(Int.random(in: 0...150_000, using: &generator), seed: UInt64(i))
            try await engine.put(bucket: "bkt", key: "before-\(i)", size: Int64(data.count), body: BytesBody(data))
            written["before-\(i)"] = data
        }
        // Under load a healthy but slow shard may have been given up as a straggler: repair
        // first, so that these objects start with all n shards.
        #expect(try await engine.repair().failed.isEmpty)
        let complete = Set(written.keys)
        let names = f.faults.keys.sorted().shuffled(using: &generator)

        // Up to m = 2 providers faulty: everything keeps working.
        for name in names.prefix(2) { try #require(f.faults[name]).set([fault]) }
        for step in 0..<12 {
            let key = written.keys.sorted()[Int.random(in: 0..<written.count, using: &generator)]
            switch step % 3 {
            case 0:
                let data = bytes(Int.random(in: 1...150_000, using: &generator), seed: UInt64(100 + step))
                try await bounded("put") { try await engine.put(bucket: "bkt", key: "during-\(step)", size: Int64(data.count), body: BytesBody(data)) }
                written["during-\(step)"] = data
            case 1:
                // Objects written before the faults read back; those written during them too,
                // unless a healthy shard also straggled (an error naming the providers then).
                do {
                    #expect(try await bounded("get") { try await engine.getBytes(bucket: "bkt", key: key) } == written[key], "\(fault) get \(key)")
                } catch let error as NuageError where error.code == .insufficientShards && !complete.contains(key) {
                    #expect(names.contains { error.message.contains($0) }, "\(error.message)")
                }
            default:
                let data = written[key]!
                guard !data.isEmpty else { continue }
                let lower = Int.random(in: 0..<data.count, using: &generator), upper = Int.random(in: (lower + 1)...data.count, using: &generator)
                do {
                    let got = try await bounded("range get") { try await engine.getBytes(bucket: "bkt", key: key, range: Int64(lower)..<Int64(upper)) }
                    #expect(got == Array(data[lower..<upper]), "\(fault) range \(lower)..<\(upper) of \(key)")
                } catch let error as NuageError where error.code == .insufficientShards && !complete.contains(key) {
                    #expect(names.contains { error.message.contains($0) }, "\(error.message)")
                }
            }
        }

        // A third faulty provider: reads return the right bytes or an error naming providers.
        // They run at once, so that timeouts of stalled providers overlap.
        try #require(f.faults[names[2]]).set([fault])
        let snapshot = written
        await withTaskGroup(of: Void.self) { group in
            for (key, data) in snapshot {
                group.addTask {
                    do {
                        let got = try await bounded("get") { try await engine.getBytes(bucket: "bkt", key: key) }
                        #expect(got == data, "\(fault): wrong bytes for \(key) with three faulty providers")
                    } catch let error as NuageError where error.code == .insufficientShards {
                        #expect(names.prefix(3).contains { error.message.contains($0) }, "\(error.message)")
                    } catch {
                        Issue.record(error, "\(fault): get \(key) with three faulty providers")
                    }
                }
            }
        }
    }

    @Test func hedgingKeepsReadsFastWithAStalledProvider() async throws {
        var resilience = Resilience()
        resilience.timeout = .seconds(60)  // only hedging can help
        let f = try await EngineFixture(resilience: resilience, onTmpfs: true)
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let data = bytes(200_000, seed: 7)
        for i in 0..<4 { try await f.engine.put(bucket: "bkt", key: "k\(i)", size: Int64(data.count), body: BytesBody(data)) }
        #expect(try await f.engine.repair().failed.isEmpty)  // a shard that straggled under load
        for i in 0..<8 { _ = try await f.engine.getBytes(bucket: "bkt", key: "k\(i % 4)") }  // latencies become known
        // Stall the provider of data shard 0 of k0: reads must go around it.
        let stalled = try #require(try await f.engine.head(bucket: "bkt", key: "k0").parts[0].shards[0]?.provider)
        try #require(f.faults[stalled]).set([.stall])
        var slowest = Duration.zero
        for i in 0..<12 {
            let start = ContinuousClock.now
            #expect(try await bounded("get") { try await f.engine.getBytes(bucket: "bkt", key: "k\(i % 4)") } == data)
            slowest = max(slowest, ContinuousClock.now - start)
        }
        #expect(slowest < .seconds(8), "with one provider stalled (timeouts at 60 s) the slowest read took \(slowest)")
    }

    /// The hedge timer runs on the engine's clock: with every data shard's provider stalled, a
    /// parity shard is asked once the hedge delay has passed on that clock, one more each delay,
    /// and none before (the clock is the test's: nothing here depends on the machine's speed).
    @Test func theHedgeTimerAsksOneMoreShardEachDelayOnTheEnginesClock() async throws {
        let clock = ManualClock()
        let gets = Locked([String: Int]())
        let f = try await EngineFixture(onTmpfs: true, time: clock.timeSource) { name, provider in
            CountingGets(inner: provider, gets: gets)
        }
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let data = bytes(20_000, seed: 9)
        try await f.engine.put(bucket: "bkt", key: "k", size: Int64(data.count), body: BytesBody(data))
        let manifest = try await f.engine.head(bucket: "bkt", key: "k").parts[0]
        let providers = manifest.shards.map { $0!.provider }
        for shard in 0..<manifest.dataShards { try #require(f.faults[providers[shard]]).set([.stall]) }
        let parity = Array(providers[manifest.dataShards...])
        gets.withLock { $0 = [:] }
        let read = Task { try await f.engine.getBytes(bucket: "bkt", key: "k") }
        defer { read.cancel() }
        // Parity providers asked (a shard read may take more than one get).
        let parityGets = { gets.value.keys.filter { parity.contains($0) }.count }
        try await clock.waitForSleepers(1)  // the hedge timer
        try await Task.sleep(for: .milliseconds(200))
        #expect(parityGets() == 0, "no parity shard before the hedge delay")
        let delay = f.engine.hedgeDelay(manifest, shards: Array(0..<manifest.dataShards))
        clock.advance(by: delay)
        try await waitFor { parityGets() == 1 }
        try await clock.waitForSleepers(1)  // armed again
        clock.advance(by: delay)
        try await waitFor { parityGets() == 2 }
    }

    func waitFor(_ condition: () -> Bool) async throws {
        let start = ContinuousClock.now
        while !condition() {
            guard ContinuousClock.now - start < .seconds(30) else { Issue.record("condition not met"); return }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// A provider that accepts calls and never answers (a frozen process) costs a request at
    /// most the straggler grace: the put does not wait to delete the straggler's blob, a delete
    /// does not wait for it, and status reports it unreachable after its budget. The provider's
    /// own timeouts are an hour here, so only that promise can end these calls.
    @Test func aFrozenProviderCostsRequestsAtMostTheGrace() async throws {
        var patient = Resilience()
        patient.timeout = .seconds(3600)
        patient.answerTimeout = .seconds(3600)
        let f = try await EngineFixture(resilience: patient, stragglerGrace: .milliseconds(500), onTmpfs: true)
        defer { f.cleanUp() }
        let engine = f.engine
        try await engine.createBucket("bkt")
        let data = bytes(100_000, seed: 9)
        let before = try await engine.put(bucket: "bkt", key: "before", size: Int64(data.count), body: BytesBody(data))
        let stored = before.parts[0].shards.compactMap { $0 }  // 6, or 5 when a loaded machine made one straggle
        let frozen = stored[0].provider
        f.faults[frozen]!.set([.stall])
        // The budget is the fixture's patience: only the frozen provider exceeds it, not a healthy
        // one slowed by a loaded machine (300 ms was once too short for four healthy ones).
        let status = try await bounded("status") { try await engine.status(bucket: "bkt", key: "before", budget: EngineFixture.patience) }
        #expect(status.shards.filter { if case .unreachable = $0.health { true } else { false } }.map(\.providerName) == [frozen])
        #expect(status.shards.filter { $0.health == .healthy }.count == stored.count - 1)
        // Put: the straggler is cut after the grace and its blob left to gc.
        let written = try await bounded("put") {
            try await engine.put(bucket: "bkt", key: "after", size: Int64(data.count), body: BytesBody(data))
        }
        #expect(written.parts[0].shards.compactMap { $0 }.count == 5)
        #expect(try await bounded("get") { try await engine.getBytes(bucket: "bkt", key: "after") } == data)
        // Delete and overwrite: the blobs on the frozen provider stay on the garbage list.
        try await bounded("delete") { try await engine.delete(bucket: "bkt", key: "before") }
        try await bounded("overwrite") { try await engine.put(bucket: "bkt", key: "after", size: 3, body: BytesBody([1, 2, 3])) }
        f.faults[frozen]!.set([])
        #expect(try await engine.collectGarbage(grace: .seconds(0)).deletedGarbage >= 1, "gc deletes what was left")
    }
}

/// Counts the gets each provider receives (what the hedge timer launches), and the reads it
/// answered at hand (``Provider/cachedGet(_:range:)``).
struct CountingGets: Provider {
    let inner: any Provider
    let gets: Locked<[String: Int]>
    var atHand = Locked([String: Int]())
    var name: String { inner.name }
    func cachedGet(_ blob: String, range: Range<Int64>) -> ByteBlock? {
        guard let block = inner.cachedGet(blob, range: range) else { return nil }
        atHand.withLock { $0[name, default: 0] += 1 }
        return block
    }
    func put<Body: AsyncSequence & Sendable>(_ blob: String, length: Int64, body: Body) async throws where Body.Element == ByteBlock {
        try await inner.put(blob, length: length, body: body)
    }
    func get(_ blob: String, range: Range<Int64>?) async throws -> ByteBlock {
        gets.withLock { $0[name, default: 0] += 1 }
        return try await inner.get(blob, range: range)
    }
    func head(_ blob: String) async throws -> BlobInfo { try await inner.head(blob) }
    func delete(_ blob: String) async throws { try await inner.delete(blob) }
    func list(prefix: String, after: String?, limit: Int) async throws -> [BlobInfo] { try await inner.list(prefix: prefix, after: after, limit: limit) }
    func removeAbandonedWrites(olderThan age: Duration) async throws -> Int { try await inner.removeAbandonedWrites(olderThan: age) }
}
