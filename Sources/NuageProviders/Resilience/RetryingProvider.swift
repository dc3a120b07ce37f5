import Logging
import Metrics
import NuageCore

/// Retries calls that failed as `unavailable` (and only those), with exponential backoff and
/// full jitter. A put is retried only when its body was not read yet: a body is a stream that
/// can be consumed once.
public struct RetryingProvider: Provider {
    public let inner: any Provider
    public let attempts: Int
    public let baseDelay: Duration
    public let maximumDelay: Duration
    /// Where retries are said (at debug: one line per retry would flood an outage's log; they are counted).
    let logger: Logger
    public var name: String { inner.name }

    public init(_ inner: any Provider, attempts: Int = 3, baseDelay: Duration = .milliseconds(50), maximumDelay: Duration = .seconds(2),
                logger: Logger = Logger(label: "nuage.providers")) {
        self.inner = inner
        self.logger = logger
        self.attempts = max(1, attempts)
        self.baseDelay = baseDelay
        self.maximumDelay = maximumDelay
    }

    private func retrying<T>(_ operation: String, _ retryable: () -> Bool = { true }, _ body: () async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await body()
            } catch let error as ProviderError where error.isRetryable && attempt < attempts && retryable() {
                Counter(label: "nuage_provider_retries_total", dimensions: [("provider", name), ("operation", operation)]).increment()
                logger.debug("retrying a provider call", metadata: ["provider": "\(name)", "operation": "\(operation)", "attempt": "\(attempt + 1)",
                                                                   "error": "\(error)"])
                let ceiling = min(maximumDelay, baseDelay * (1 << min(attempt - 1, 20)))
                try await Task.sleep(for: .seconds(Double.random(in: 0...ceiling.inSeconds)))
                attempt += 1
            }
        }
    }

    public func put<Body: AsyncSequence & Sendable>(_ blob: String, length: Int64, body: Body) async throws where Body.Element == ByteBlock {
        let watched = WatchedBody(body: body)
        try await retrying("put", { !watched.started }) { try await inner.put(blob, length: length, body: watched) }
    }
    public func get(_ blob: String, range: Range<Int64>?) async throws -> ByteBlock {
        try await retrying("get") { try await inner.get(blob, range: range) }
    }
    public func cachedGet(_ blob: String, range: Range<Int64>) -> ByteBlock? { inner.cachedGet(blob, range: range) }
    public func head(_ blob: String) async throws -> BlobInfo { try await retrying("head") { try await inner.head(blob) } }
    public func delete(_ blob: String) async throws { try await retrying("delete") { try await inner.delete(blob) } }
    public func list(prefix: String, after: String?, limit: Int) async throws -> [BlobInfo] {
        try await retrying("list") { try await inner.list(prefix: prefix, after: after, limit: limit) }
    }

    public func removeAbandonedWrites(olderThan age: Duration) async throws -> Int {
        try await retrying("remove_abandoned") { try await inner.removeAbandonedWrites(olderThan: age) }
    }
}

/// A body that knows whether anyone asked it for an element yet.
struct WatchedBody<Body: AsyncSequence & Sendable>: AsyncSequence, Sendable where Body.Element == ByteBlock {
    typealias Element = ByteBlock
    let body: Body
    private let flag = Locked(false)
    init(body: Body) { self.body = body }
    var started: Bool { flag.value }

    struct AsyncIterator: AsyncIteratorProtocol {
        var inner: Body.AsyncIterator
        let owner: WatchedBody
        mutating func next() async throws -> ByteBlock? {
            owner.flag.withLock { $0 = true }
            return try await inner.next()
        }
    }
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(inner: body.makeAsyncIterator(), owner: self) }
}
