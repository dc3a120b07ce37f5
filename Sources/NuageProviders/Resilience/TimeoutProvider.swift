import NuageCore

/// Bounds every call: `base` plus the time the bytes take at `minimumBandwidth`. A call past
/// its bound fails as `unavailable` (and is cancelled), so a provider that stalls cannot hold
/// a read or a write forever.
public struct TimeoutProvider: Provider {
    public let inner: any Provider
    public let base: Duration
    /// Bytes per second below which a transfer counts as stalled.
    public let minimumBandwidth: Int64
    public var name: String { inner.name }

    public init(_ inner: any Provider, base: Duration = .seconds(30), minimumBandwidth: Int64 = 1 << 20) {
        self.inner = inner
        self.base = base
        self.minimumBandwidth = minimumBandwidth
    }

    func limit(bytes: Int64) -> Duration { base + .milliseconds(bytes * 1000 / max(1, minimumBandwidth)) }

    private func bounded<T: Sendable>(_ operation: String, bytes: Int64, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let limit = limit(bytes: bytes), name = name
        return try await withDeadline(limit, onTimeout: {
            ProviderError(.unavailable, provider: name, "\(operation): no answer within \(limit)")
        }, body)
    }

    public func put<Body: AsyncSequence & Sendable>(_ blob: String, length: Int64, body: Body) async throws where Body.Element == ByteBlock {
        let inner = inner
        try await bounded("put \(blob)", bytes: length) { try await inner.put(blob, length: length, body: body) }
    }

    public func get(_ blob: String, range: Range<Int64>?) async throws -> ByteBlock {
        let inner = inner
        return try await bounded("get \(blob)", bytes: Int64(range?.count ?? 0)) { try await inner.get(blob, range: range) }
    }

    public func head(_ blob: String) async throws -> BlobInfo {
        let inner = inner
        return try await bounded("head \(blob)", bytes: 0) { try await inner.head(blob) }
    }

    public func delete(_ blob: String) async throws {
        let inner = inner
        try await bounded("delete \(blob)", bytes: 0) { try await inner.delete(blob) }
    }

    public func list(prefix: String, after: String?, limit: Int) async throws -> [BlobInfo] {
        let inner = inner
        return try await bounded("list \(prefix)", bytes: 0) { try await inner.list(prefix: prefix, after: after, limit: limit) }
    }
}
