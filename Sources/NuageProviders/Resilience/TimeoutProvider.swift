import NuageCore
import Synchronization

/// Bounds every call, so a provider that stalls cannot hold a read or a write forever: a call
/// that moves no bytes (head, delete, list) gets `answer`; a read gets `base` plus the time its
/// bytes take at `minimumBandwidth`; a write may go `base` without progress (time spent waiting
/// for its own body does not count, so a slow uploader is not mistaken for a stalled provider).
/// A call past its bound fails as a timeout (`unavailable`, never retried: the health tracker
/// takes the provider as down at once) and is cancelled.
public struct TimeoutProvider: Provider {
    public let inner: any Provider
    public let base: Duration
    /// The bound of calls that move no bytes.
    public let answer: Duration
    /// Bytes per second below which a transfer counts as stalled.
    public let minimumBandwidth: Int64
    /// The time bounds are measured on.
    public let time: TimeSource
    public var name: String { inner.name }

    public init(_ inner: any Provider, base: Duration = .seconds(30), answer: Duration = .seconds(10), minimumBandwidth: Int64 = 1 << 20,
                time: TimeSource = .continuous) {
        self.inner = inner
        self.time = time
        self.base = base
        self.answer = min(answer, base)
        self.minimumBandwidth = minimumBandwidth
    }

    func limit(bytes: Int64) -> Duration { base + .milliseconds(bytes * 1000 / max(1, minimumBandwidth)) }

    private func bounded<T: Sendable>(_ operation: String, bytes: Int64?, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let limit = bytes.map(limit(bytes:)) ?? answer, name = name
        return try await withDeadline(limit, time: time, onTimeout: {
            ProviderError.timeout(provider: name, "\(operation): no answer within \(limit)")
        }, body)
    }

    public func put<Body: AsyncSequence & Sendable>(_ blob: String, length: Int64, body: Body) async throws where Body.Element == ByteBlock {
        let inner = inner, base = base, name = name, time = time
        let activity = Activity(time: time)
        let watched = ActivityBody(body: body, activity: activity)
        try await withWatchdog({
            let tick = min(base / 4, .milliseconds(100))
            while (try? await time.sleep(tick)) != nil {
                if activity.idle(longerThan: base) { return ProviderError.timeout(provider: name, "put \(blob): no progress for \(base)") }
            }
            return nil
        }) { try await inner.put(blob, length: length, body: watched) }
    }

    public func get(_ blob: String, range: Range<Int64>?) async throws -> ByteBlock {
        let inner = inner
        return try await bounded("get \(blob)", bytes: Int64(range?.count ?? 0)) { try await inner.get(blob, range: range) }
    }

    /// Not bounded: it never waits.
    public func cachedGet(_ blob: String, range: Range<Int64>) -> ByteBlock? { inner.cachedGet(blob, range: range) }

    public func head(_ blob: String) async throws -> BlobInfo {
        let inner = inner
        return try await bounded("head \(blob)", bytes: nil) { try await inner.head(blob) }
    }

    public func delete(_ blob: String) async throws {
        let inner = inner
        try await bounded("delete \(blob)", bytes: nil) { try await inner.delete(blob) }
    }

    public func list(prefix: String, after: String?, limit: Int) async throws -> [BlobInfo] {
        let inner = inner
        return try await bounded("list \(prefix)", bytes: nil) { try await inner.list(prefix: prefix, after: after, limit: limit) }
    }

    public func removeAbandonedWrites(olderThan age: Duration) async throws -> Int {
        let inner = inner
        return try await bounded("remove abandoned writes", bytes: 0) { try await inner.removeAbandonedWrites(olderThan: age) }
    }
}

/// When a write last made progress, and whether it is waiting for its own body.
final class Activity: Sendable {
    private struct State {
        var last: ContinuousClock.Instant
        var waitingForBody = false
    }
    private let time: TimeSource
    private let state: Mutex<State>

    init(time: TimeSource) {
        self.time = time
        state = Mutex(State(last: time.now()))
    }

    func waiting(_ waiting: Bool) {
        let now = time.now()
        state.withLock { $0 = State(last: now, waitingForBody: waiting) }
    }

    func idle(longerThan limit: Duration) -> Bool {
        let now = time.now()
        return state.withLock { !$0.waitingForBody && now - $0.last > limit }
    }
}

/// A body that reports to an ``Activity`` when the provider asks for the next block and gets it.
struct ActivityBody<Body: AsyncSequence & Sendable>: AsyncSequence, Sendable where Body.Element == ByteBlock {
    typealias Element = ByteBlock
    let body: Body
    let activity: Activity

    struct AsyncIterator: AsyncIteratorProtocol {
        var inner: Body.AsyncIterator
        let activity: Activity
        mutating func next() async throws -> ByteBlock? {
            activity.waiting(true)
            defer { activity.waiting(false) }
            return try await inner.next()
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(inner: body.makeAsyncIterator(), activity: activity) }
}
