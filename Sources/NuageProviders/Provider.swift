import NuageCore

/// One place that stores blobs: a bucket at a cloud provider, or a local directory.
///
/// The contract every implementation keeps (and `ProviderConformance` checks):
/// - Blob names are 1–200 characters of `a-z 0-9 . _ -`, not starting with `.`; any other name
///   MUST be refused with ``ProviderError/Kind/invalidArgument`` before touching storage, so
///   that no name can reach outside the provider.
/// - `put` MUST be atomic: after it returns the whole blob is durable and readable; if it
///   throws (a body shorter or longer than `length`, a failing body, cancellation, an I/O
///   error) the previous blob of that name, if any, is unchanged and no partial blob is visible.
/// - `get` returns exactly the bytes of the range (the whole blob when `range` is nil). A range
///   past the end of the stored blob means the blob is not what was written: it MUST throw
///   ``ProviderError/Kind/corrupt``.
/// - `delete` of a missing blob succeeds (deletes are idempotent).
/// - `list` returns blobs whose names start with `prefix`, in ascending byte order of name,
///   strictly after `after`, at most `limit`.
/// - `removeAbandonedWrites(olderThan:)` removes what puts that never finished (a crash, a
///   kill) left behind and did not touch for longer than `age`; it never removes a blob.
/// - Errors MUST be ``ProviderError``s classified as: `notFound` (the blob does not exist),
///   `unavailable` (the provider could not be reached or answered with a transient failure:
///   worth retrying), `corrupt` (stored bytes are inconsistent), `permissionDenied`
///   (credentials or rights refused: retrying will not help), `invalidArgument` (a bad name or
///   range from the caller).
public protocol Provider: Sendable {
    /// The configured name, used in errors and placement.
    var name: String { get }

    /// Stores `length` bytes from `body` as blob `blob`, replacing any blob of that name.
    func put<Body: AsyncSequence & Sendable>(_ blob: String, length: Int64, body: Body) async throws
        where Body.Element == ByteBlock

    /// Reads a byte range of a blob (the whole blob when `range` is nil).
    func get(_ blob: String, range: Range<Int64>?) async throws -> ByteBlock

    /// The bytes of a range if the provider has them at hand and can answer at once, without
    /// waiting for a disk or a network (a directory's file in the page cache); nil otherwise,
    /// and on any error: then `get` reads them, or says what is wrong. Never blocks, so callers
    /// may call it on a cooperative thread before they start a task for `get`. When it answers,
    /// it answers what `get` would. Default: nil (never at hand).
    func cachedGet(_ blob: String, range: Range<Int64>) -> ByteBlock?

    /// Size of a blob.
    func head(_ blob: String) async throws -> BlobInfo

    /// Removes a blob; succeeds when it does not exist.
    func delete(_ blob: String) async throws

    /// Blobs whose names start with `prefix`, strictly after `after`, ascending, at most `limit`.
    func list(prefix: String, after: String?, limit: Int) async throws -> [BlobInfo]

    /// Removes leftovers of puts that never finished, untouched for longer than `age`; returns
    /// how many. (`gc` calls it with its grace period; a put that is still running keeps
    /// touching its leftovers.)
    func removeAbandonedWrites(olderThan age: Duration) async throws -> Int
}

/// What a provider knows about one blob.
public struct BlobInfo: Hashable, Sendable {
    public var name: String
    public var size: Int64
    public init(name: String, size: Int64) {
        self.name = name
        self.size = size
    }
}

extension Provider {
    public func cachedGet(_ blob: String, range: Range<Int64>) -> ByteBlock? { nil }

    /// Stores an in-memory blob.
    public func put(_ blob: String, bytes: [UInt8]) async throws {
        try await put(blob, length: Int64(bytes.count), body: [ByteBlock(bytes)].async)
    }

    /// Every blob with `prefix`, following pagination to the end.
    public func listAll(prefix: String = "", pageSize: Int = 1000) async throws -> [BlobInfo] {
        var all: [BlobInfo] = []
        while true {
            let page = try await list(prefix: prefix, after: all.last?.name, limit: pageSize)
            all += page
            if page.count < pageSize { return all }
        }
    }
}

/// Blob names the contract allows.
public enum BlobName {
    public static func validate(_ name: String, provider: String) throws {
        let bytes = name.utf8
        let ok = (1...200).contains(bytes.count) && bytes.first != UInt8(ascii: ".")
            && bytes.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 46 || $0 == 95 || $0 == 45 }
        guard ok else {
            throw ProviderError(.invalidArgument, provider: provider, "invalid blob name '\(name.prefix(64))'")
        }
    }
}

extension Array where Element: Sendable {
    /// The elements as an async sequence (for bodies already in memory).
    public var async: AsyncArraySequence<Self> { AsyncArraySequence(elements: self) }
}

/// A `Sendable` async sequence over an array.
public struct AsyncArraySequence<Elements: Collection & Sendable>: AsyncSequence, Sendable where Elements.Element: Sendable {
    let elements: Elements
    public struct AsyncIterator: AsyncIteratorProtocol {
        var iterator: Elements.Iterator
        public mutating func next() async -> Elements.Element? { iterator.next() }
    }
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(iterator: elements.makeIterator()) }
}
