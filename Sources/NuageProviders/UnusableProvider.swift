import NuageCore

/// A configured provider that cannot be built (an S3 provider whose credential variables are
/// not set here, say): every call fails with why, so that commands that never touch it (`keys
/// ls`, `bucket ls`, `policy check`) still run, and those that do say what is wrong.
public struct UnusableProvider: Provider {
    public let name: String
    public let reason: String

    public init(name: String, reason: String) {
        self.name = name
        self.reason = reason
    }

    private var failure: ProviderError { ProviderError(.permissionDenied, provider: name, "cannot be used: \(reason)") }

    public func put<Body: AsyncSequence & Sendable>(_ blob: String, length: Int64, body: Body) async throws where Body.Element == ByteBlock {
        throw failure
    }
    public func get(_ blob: String, range: Range<Int64>?) async throws -> ByteBlock { throw failure }
    public func head(_ blob: String) async throws -> BlobInfo { throw failure }
    public func delete(_ blob: String) async throws { throw failure }
    public func list(prefix: String, after: String?, limit: Int) async throws -> [BlobInfo] { throw failure }
    public func removeAbandonedWrites(olderThan age: Duration) async throws -> Int { throw failure }
}
