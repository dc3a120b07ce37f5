import Foundation
import NuageCore
@testable import NuageEngine
import NuageProviders
import Testing

/// Shards a provider has at hand (a directory provider's hot file) are read without a `get`:
/// no task, timer or blocking thread; anything else is read as before, and the bytes are the same.
@Suite struct AtHandReadTests {
    @Test func aHotSmallObjectIsReadAtHandAndAFaultyProviderByGet() async throws {
        let gets = Locked([String: Int]()), atHand = Locked([String: Int]())
        let f = try await EngineFixture { _, provider in CountingGets(inner: provider, gets: gets, atHand: atHand) }
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let data = bytes(10_000, seed: 5)
        try await f.engine.put(bucket: "bkt", key: "k", size: Int64(data.count), body: BytesBody(data))
        let manifest = try await f.engine.head(bucket: "bkt", key: "k").parts[0]
        let k = manifest.dataShards

        #expect(try await f.engine.getBytes(bucket: "bkt", key: "k") == data)
        #expect(gets.value.isEmpty, "a shard just written is in the page cache: no get")
        #expect(atHand.value.values.reduce(0, +) == k, "k shards read at hand, no more")

        // A provider with a fault set has nothing at hand: its shard is read by get (here it
        // flips a byte, so a parity shard is read too), the others still at hand, and the object
        // comes back whole.
        let first = try #require(manifest.shards[0]?.provider)
        try #require(f.faults[first]).set([.flipBytes])
        gets.withLock { $0 = [:] }
        atHand.withLock { $0 = [:] }
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "k") == data)
        #expect(gets.value[first] == 1, "the faulty provider's shard is read by get")
        #expect(atHand.value[first] == nil && atHand.value.values.reduce(0, +) == k - 1)
    }
}
