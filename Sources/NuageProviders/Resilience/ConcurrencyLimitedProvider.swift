import NuageCore
import Synchronization

/// At most `limit` calls in flight to one provider; the others wait their turn (in order).
public struct ConcurrencyLimitedProvider: Provider {
    public let inner: any Provider
    private let permits: AsyncPermits
    public var name: String { inner.name }

    public init(_ inner: any Provider, limit: Int = 16) {
        self.inner = inner
        permits = AsyncPermits(limit)
    }

    private func limited<T>(_ body: () async throws -> T) async throws -> T {
        try await permits.acquire()
        defer { permits.release() }
        return try await body()
    }

    public func put<Body: AsyncSequence & Sendable>(_ blob: String, length: Int64, body: Body) async throws where Body.Element == ByteBlock {
        try await limited { try await inner.put(blob, length: length, body: body) }
    }
    public func get(_ blob: String, range: Range<Int64>?) async throws -> ByteBlock {
        try await limited { try await inner.get(blob, range: range) }
    }
    /// Not limited: it never waits.
    public func cachedGet(_ blob: String, range: Range<Int64>) -> ByteBlock? { inner.cachedGet(blob, range: range) }
    public func head(_ blob: String) async throws -> BlobInfo { try await limited { try await inner.head(blob) } }
    public func delete(_ blob: String) async throws { try await limited { try await inner.delete(blob) } }
    public func list(prefix: String, after: String?, limit: Int) async throws -> [BlobInfo] {
        try await limited { try await inner.list(prefix: prefix, after: after, limit: limit) }
    }

    public func removeAbandonedWrites(olderThan age: Duration) async throws -> Int {
        try await limited { try await inner.removeAbandonedWrites(olderThan: age) }
    }
}

/// A counting semaphore for tasks; a waiter that is cancelled leaves the queue.
final class AsyncPermits: Sendable {
    private struct State {
        var available: Int
        var waiters: [(id: Int, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextID = 0
    }
    private let state: Mutex<State>

    init(_ count: Int) { state = Mutex(State(available: count)) }

    func acquire() async throws {
        let id = state.withLock { state -> Int? in
            if state.available > 0 {
                state.available -= 1
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let cancelled = state.withLock { state -> Bool in
                    if Task.isCancelled { return true }
                    state.waiters.append((id, continuation))
                    return false
                }
                if cancelled { continuation.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if state.waiters.isEmpty {
                state.available += 1
                return nil
            }
            return state.waiters.removeFirst().continuation
        }
        next?.resume()
    }
}
