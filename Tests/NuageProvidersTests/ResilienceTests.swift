import Foundation
import NuageCore
import NuageProviders
import NuageTestSupport
import Testing

/// The resilience decorators and the fault injector, over real directory providers.
@Suite struct ResilienceTests {
    /// A directory provider behind a fault injector, in a temporary directory.
    struct Fixture {
        let root = temporaryDirectory()
        let faulty: FaultInjectingProvider
        init() throws { faulty = FaultInjectingProvider(try DirectoryProvider(name: "p", root: root + "/p")) }
        func cleanUp() { try? FileManager.default.removeItem(atPath: root) }
    }

    func elapsed(_ body: () async throws -> Void) async rethrows -> Duration {
        let start = ContinuousClock.now
        try await body()
        return ContinuousClock.now - start
    }

    @Test(arguments: ProviderConformance.names)
    func theWholeStackKeepsTheContract(_ check: String) async throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        try await ProviderConformance.run(check, on: Resilience().wrap(f.faulty).provider)
    }

    @Test func retriesOnlyWhatIsWorthRetrying() async throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        let retrying = RetryingProvider(f.faulty, attempts: 20, baseDelay: .milliseconds(10), maximumDelay: .milliseconds(40))
        try await f.faulty.put("blob", bytes: [1, 2, 3])
        f.faulty.set([.down])
        Task { try await Task.sleep(for: .milliseconds(100)); f.faulty.set([]) }
        #expect(try await retrying.get("blob", range: nil).bytes == [1, 2, 3], "recovered once the provider came back")
        // Not found and bad names are answers, not outages: no retry, no delay.
        let quick = try await elapsed {
            await #expect(throws: ProviderError.self) { _ = try await retrying.head("missing") }
            await #expect(throws: ProviderError.self) { _ = try await retrying.get("../x", range: nil) }
        }
        #expect(quick < .milliseconds(200))
        // A put refused before reading its body is retried with the same body.
        f.faulty.set([.down])
        Task { try await Task.sleep(for: .milliseconds(100)); f.faulty.set([]) }
        try await retrying.put("other", bytes: [9, 8])
        #expect(try await f.faulty.get("other", range: nil).bytes == [9, 8])
        // One that failed after reading it cannot be replayed: it fails after one attempt.
        let failing = ReadsThenFails(inner: f.faulty)
        await #expect(throws: ProviderError.self) {
            try await RetryingProvider(failing, attempts: 5, baseDelay: .milliseconds(1)).put("third", bytes: [7])
        }
        #expect(failing.attempts == 1)
    }

    /// Reads a put's body, then fails as unavailable (a connection lost mid-upload).
    final class ReadsThenFails: Provider, @unchecked Sendable {
        let inner: any Provider
        private(set) var attempts = 0  // one put at a time in the test
        init(inner: any Provider) { self.inner = inner }
        var name: String { inner.name }
        func put<Body: AsyncSequence & Sendable>(_ blob: String, length: Int64, body: Body) async throws where Body.Element == ByteBlock {
            attempts += 1
            for try await _ in body {}
            throw ProviderError(.unavailable, provider: name, "connection reset after the body (test)")
        }
        func get(_ blob: String, range: Range<Int64>?) async throws -> ByteBlock { try await inner.get(blob, range: range) }
        func head(_ blob: String) async throws -> BlobInfo { try await inner.head(blob) }
        func delete(_ blob: String) async throws { try await inner.delete(blob) }
        func list(prefix: String, after: String?, limit: Int) async throws -> [BlobInfo] { try await inner.list(prefix: prefix, after: after, limit: limit) }
        func removeAbandonedWrites(olderThan age: Duration) async throws -> Int { try await inner.removeAbandonedWrites(olderThan: age) }
    }

    /// A stalled call fails as a timeout once its bound has passed on the provider's clock, and
    /// not a moment before: the clock is the test's.
    @Test func stalledCallsTimeOut() async throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        try await f.faulty.put("blob", bytes: [1])
        f.faulty.set([.stall])
        let clock = ManualClock()
        let bounded = TimeoutProvider(f.faulty, base: .seconds(30), time: clock.timeSource)
        let finished = Locked(false)
        let call = Task {
            defer { finished.withLock { $0 = true } }
            return try await bounded.get("blob", range: nil)
        }
        try await clock.waitForSleepers(1)
        clock.advance(by: .seconds(30) - .milliseconds(1))
        try await Task.sleep(for: .milliseconds(100))
        #expect(!finished.value, "within the bound, the call goes on")
        clock.advance(by: .milliseconds(1))
        await #expect { _ = try await call.value } throws: { ($0 as? ProviderError)?.kind == .unavailable && ($0 as? ProviderError)?.timedOut == true }
    }

    /// A provider that accepts calls and stops answering is down after one timed-out call, which
    /// is not retried (each attempt would wait as long); later calls are refused at once.
    @Test func oneTimeoutMarksAProviderDownAndIsNotRetried() async throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        try await f.faulty.put("blob", bytes: [1])
        var resilience = Resilience()
        resilience.answerTimeout = .milliseconds(200)
        let (provider, health) = resilience.wrap(f.faulty)
        f.faulty.set([.stall])
        await #expect { _ = try await provider.head("blob") } throws: { error in
            // Had it been retried, the last attempt would have been refused as down instead.
            (error as? ProviderError)?.timedOut == true && "\(error)".contains("no answer within")
        }
        #expect(health.state == .down, "down after one timeout, not three")
        f.faulty.set([])
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await provider.head("blob").size == 1, "the probe brings it back")
        #expect(health.state == .healthy)
    }

    @Test func aProviderThatKeepsFailingIsMarkedDownThenProbedBack() async throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        try await f.faulty.put("blob", bytes: [1])
        let clock = Locked(ContinuousClock.now)
        let health = HealthTracker(provider: "p", downAfter: 3, now: { clock.value })
        let tracked = HealthTrackingProvider(f.faulty, health: health)
        f.faulty.set([.down])
        for _ in 0..<3 { _ = try? await tracked.head("blob") }
        #expect(health.state == .down)
        f.faulty.set([])
        // Down: refused at once without asking the provider, until the probe interval (250 ms) passes.
        await #expect { _ = try await tracked.head("blob") } throws: { "\($0)".contains("provider is down") }
        clock.withLock { $0 = $0.advanced(by: .milliseconds(249)) }
        await #expect { _ = try await tracked.head("blob") } throws: { "\($0)".contains("provider is down") }
        clock.withLock { $0 = $0.advanced(by: .milliseconds(1)) }
        #expect(try await tracked.head("blob").size == 1, "the probe reaches the provider")
        #expect(health.state == .healthy)
        for _ in 0..<3 { _ = try await tracked.get("blob", range: nil) }
        #expect(health.readLatency != nil)
    }

    @Test func concurrencyIsLimited() async throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        try await f.faulty.put("blob", bytes: [1])
        f.faulty.set([.latency(.milliseconds(100))])
        let limited = ConcurrencyLimitedProvider(f.faulty, limit: 2)
        let took = try await elapsed {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<6 { group.addTask { _ = try await limited.head("blob") } }
                try await group.waitForAll()
            }
        }
        #expect(took >= .milliseconds(300), "six calls, two at a time, 100 ms each: \(took)")
    }

    @Test func injectedFaultsMisbehaveAsAdvertised() async throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0) }
        try await f.faulty.put("a", bytes: bytes)
        try await f.faulty.put("b", bytes: bytes.reversed())
        f.faulty.set([.flipBytes])
        let flipped = try await f.faulty.get("a", range: nil).bytes
        #expect(flipped.count == bytes.count && flipped != bytes)
        f.faulty.set([.truncatedReads])
        #expect(try await f.faulty.get("a", range: nil).count < bytes.count)
        f.faulty.set([.otherBlob])
        #expect(try await f.faulty.get("a", range: nil).bytes == Array(bytes.reversed()))
        f.faulty.set([.lostWrites])
        try await f.faulty.put("c", bytes: [1])
        f.faulty.set([])
        await #expect { _ = try await f.faulty.head("c") } throws: { ($0 as? ProviderError)?.kind == .notFound }
        for text in ["down", "stall", "latency:20ms", "error-rate:0.5", "bandwidth:1000", "flip", "truncate", "other-blob", "lost-writes"] {
            #expect(FaultInjectingProvider.Fault(text)?.description == text)
        }
        #expect(FaultInjectingProvider.Fault("error-rate:2") == nil && FaultInjectingProvider.Fault("slow") == nil)
    }
}
