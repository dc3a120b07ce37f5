import Foundation
import Logging
import NuageCore
import Synchronization

/// What a gateway has seen of one provider lately: healthy, degraded or down, and how long its
/// reads take. Down after `downAfter` consecutive unavailable failures, or at once after a
/// call that got no answer in time (a stalled provider stalls every call); while down, calls fail
/// at once except a probe now and then (backing off to `maximumProbeInterval`), and the first
/// success brings it back.
public final class HealthTracker: Sendable {
    public enum State: String, Sendable, CustomStringConvertible {
        case healthy, degraded, down
        public var description: String { rawValue }
    }

    public let provider: String
    /// Where a provider going down and coming back is said.
    let logger: Logger
    /// The time probes are scheduled by (tests move it).
    let now: @Sendable () -> ContinuousClock.Instant
    let downAfter: Int
    let maximumProbeInterval: Duration

    private struct Memory {
        var consecutiveFailures = 0
        /// Outcomes of the last calls (true: success), newest last.
        var outcomes: [Bool] = []
        /// Time taken by recent successful reads, newest last.
        var readLatencies: [Duration] = []
        var down = false
        var nextProbe: ContinuousClock.Instant = .now
        var probeInterval: Duration = .milliseconds(250)
        var probing = false
    }
    private let memory = Mutex(Memory())

    public init(provider: String, downAfter: Int = 3, maximumProbeInterval: Duration = .seconds(5),
                logger: Logger = Logger(label: "nuage.providers"), now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.provider = provider
        self.logger = logger
        self.now = now
        self.downAfter = downAfter
        self.maximumProbeInterval = maximumProbeInterval
    }

    public var state: State {
        memory.withLock { m in
            if m.down { return .down }
            let failures = m.outcomes.filter { !$0 }.count
            return m.outcomes.count >= 5 && failures * 5 > m.outcomes.count ? .degraded : .healthy
        }
    }

    /// A read latency that recent reads stayed under (their 90th percentile), if known.
    public var readLatency: Duration? {
        memory.withLock { m in
            guard m.readLatencies.count >= 3 else { return nil }
            let sorted = m.readLatencies.sorted()
            return sorted[min(sorted.count - 1, sorted.count * 9 / 10)]
        }
    }

    /// Whether a call should go to the provider now: always unless it is down; when down, one
    /// probe at a time once its interval has passed.
    func admit() -> Bool {
        memory.withLock { m in
            guard m.down else { return true }
            guard !m.probing, now() >= m.nextProbe else { return false }
            m.probing = true
            return true
        }
    }

    func succeeded(read latency: Duration? = nil) {
        let cameBack = memory.withLock { m in
            let wasDown = m.down
            m.consecutiveFailures = 0
            m.down = false
            m.probing = false
            m.probeInterval = .milliseconds(250)
            m.outcomes = Array((m.outcomes + [true]).suffix(20))
            if let latency { m.readLatencies = Array((m.readLatencies + [latency]).suffix(32)) }
            return wasDown
        }
        if cameBack { logger.notice("provider is back", metadata: ["provider": "\(provider)"]) }
    }

    /// A probe that was cancelled: the next call may probe.
    func cancelled() { memory.withLock { $0.probing = false } }

    /// Records a call that got no answer in time: the provider is down until a probe succeeds.
    func timedOut() {
        memory.withLock { m in
            if !m.down { m.consecutiveFailures = max(m.consecutiveFailures, downAfter - 1) }
        }
        failed()
    }

    /// Records a failure to answer (an `unavailable` error, a lost connection).
    func failed() {
        let wentDown = memory.withLock { m -> Bool in
            m.outcomes = Array((m.outcomes + [false]).suffix(20))
            m.consecutiveFailures += 1
            if m.down {
                m.probing = false
                m.probeInterval = min(m.probeInterval * 2, maximumProbeInterval)
                m.nextProbe = now() + m.probeInterval
            } else if m.consecutiveFailures >= downAfter {
                m.down = true
                m.nextProbe = now() + m.probeInterval
                return true
            }
            return false
        }
        if wentDown {
            logger.warning("provider is down: calls fail at once until a probe succeeds", metadata: ["provider": "\(provider)"])
        }
    }
}

/// Feeds a provider's outcomes to its ``HealthTracker`` and refuses calls at once while the
/// tracker says the provider is down (except its probes).
public struct HealthTrackingProvider: Provider {
    public let inner: any Provider
    public let health: HealthTracker
    public var name: String { inner.name }

    public init(_ inner: any Provider, health: HealthTracker) {
        self.inner = inner
        self.health = health
    }

    private func tracked<T>(_ operation: String, read: Bool = false, _ body: () async throws -> T) async throws -> T {
        guard health.admit() else {
            throw ProviderError(.unavailable, provider: name, "\(operation): provider is down (waiting for a probe to succeed)")
        }
        let start = ContinuousClock.now
        do {
            let value = try await body()
            health.succeeded(read: read ? ContinuousClock.now - start : nil)
            return value
        } catch let error as ProviderError where error.kind != .unavailable {
            health.succeeded()  // an answer (not found, corrupt…): the provider is there
            throw error
        } catch let error as ProviderError where error.timedOut {
            health.timedOut()
            throw error
        } catch is CancellationError {
            health.cancelled()  // the caller gave up: says nothing about the provider
            throw CancellationError()
        } catch {
            health.failed()
            throw error
        }
    }

    public func put<Body: AsyncSequence & Sendable>(_ blob: String, length: Int64, body: Body) async throws where Body.Element == ByteBlock {
        try await tracked("put \(blob)") { try await inner.put(blob, length: length, body: body) }
    }
    public func get(_ blob: String, range: Range<Int64>?) async throws -> ByteBlock {
        try await tracked("get \(blob)", read: true) { try await inner.get(blob, range: range) }
    }
    /// Refused while the provider is down, as every call is; otherwise not tracked (an answer
    /// from memory says nothing of how the provider answers reads).
    public func cachedGet(_ blob: String, range: Range<Int64>) -> ByteBlock? {
        health.state == .down ? nil : inner.cachedGet(blob, range: range)
    }
    public func head(_ blob: String) async throws -> BlobInfo { try await tracked("head \(blob)") { try await inner.head(blob) } }
    public func delete(_ blob: String) async throws { try await tracked("delete \(blob)") { try await inner.delete(blob) } }
    public func list(prefix: String, after: String?, limit: Int) async throws -> [BlobInfo] {
        try await tracked("list \(prefix)") { try await inner.list(prefix: prefix, after: after, limit: limit) }
    }
    public func removeAbandonedWrites(olderThan age: Duration) async throws -> Int {
        try await tracked("remove abandoned writes") { try await inner.removeAbandonedWrites(olderThan: age) }
    }
}
