import Logging
import Metrics
import NuageCore

/// Counts every call to a provider (each attempt of a retried one) by provider, operation and
/// outcome, and times it: `nuage_provider_requests_total`, `nuage_provider_request_duration_seconds`.
/// Labels name providers and operations, never blobs. Free when no metrics backend is set up.
/// A failed call is logged at debug with its cause (the caller decides what it means: a read
/// goes to another shard, a write to the repair list; health changes are logged at warning).
public struct MeasuredProvider: Provider {
    public let inner: any Provider
    let logger: Logger
    public var name: String { inner.name }

    public init(_ inner: any Provider, logger: Logger = Logger(label: "nuage.providers")) {
        self.inner = inner
        self.logger = logger
    }

    private func failed(_ operation: String, _ outcome: String, _ error: any Error) {
        logger.debug("provider call failed", metadata: ["provider": "\(name)", "operation": "\(operation)", "outcome": "\(outcome)",
                                                        "error": "\(error)"])
    }

    private func record(_ operation: String, _ outcome: String, since start: ContinuousClock.Instant) {
        Counter(label: "nuage_provider_requests_total", dimensions: [("provider", name), ("operation", operation), ("outcome", outcome)]).increment()
        Metrics.Timer(label: "nuage_provider_request_duration_seconds", dimensions: [("provider", name), ("operation", operation)])
            .recordInterval(since: start)
    }

    private func measured<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        let start = ContinuousClock.now
        let outcome: String
        defer { record(operation, outcome, since: start) }
        do {
            let value = try await body()
            outcome = "ok"
            return value
        } catch let error as ProviderError {
            outcome = error.timedOut ? "timeout" : error.kind == .notFound ? "not_found" : error.kind == .unavailable ? "unavailable" : "error"
            failed(operation, outcome, error)
            throw error
        } catch is CancellationError {
            outcome = "cancelled"
            throw CancellationError()
        } catch {
            outcome = "error"
            failed(operation, outcome, error)
            throw error
        }
    }

    public func put<Body: AsyncSequence & Sendable>(_ blob: String, length: Int64, body: Body) async throws where Body.Element == ByteBlock {
        try await measured("put") { try await inner.put(blob, length: length, body: body) }
    }
    public func get(_ blob: String, range: Range<Int64>?) async throws -> ByteBlock {
        try await measured("get") { try await inner.get(blob, range: range) }
    }
    /// Counted as a get when it answers (it is one, served from memory); not when it does not
    /// (then the get that follows is counted).
    public func cachedGet(_ blob: String, range: Range<Int64>) -> ByteBlock? {
        let start = ContinuousClock.now
        guard let block = inner.cachedGet(blob, range: range) else { return nil }
        record("get", "ok", since: start)
        return block
    }
    public func head(_ blob: String) async throws -> BlobInfo { try await measured("head") { try await inner.head(blob) } }
    public func delete(_ blob: String) async throws { try await measured("delete") { try await inner.delete(blob) } }
    public func list(prefix: String, after: String?, limit: Int) async throws -> [BlobInfo] {
        try await measured("list") { try await inner.list(prefix: prefix, after: after, limit: limit) }
    }
    public func removeAbandonedWrites(olderThan age: Duration) async throws -> Int {
        try await measured("remove_abandoned") { try await inner.removeAbandonedWrites(olderThan: age) }
    }
}

extension Metrics.Timer {
    /// Records the time since `start` on the continuous clock.
    func recordInterval(since start: ContinuousClock.Instant) {
        recordNanoseconds((ContinuousClock.now - start).inNanoseconds)
    }
}
