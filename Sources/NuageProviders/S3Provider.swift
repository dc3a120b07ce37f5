import AsyncHTTPClient
import Foundation
import NIOCore
import NuageCore
import NuageS3Client

/// A provider that keeps blobs as objects in a bucket of any S3-compatible service (Amazon S3,
/// Alibaba OSS, Google Cloud Storage's S3 interface, Backblaze B2, Wasabi, Ceph, MinIO…).
///
/// Blobs up to `multipartThreshold` go up in one streamed PUT of known length; larger ones as
/// a multipart upload of `partSize` parts (one part in memory at a time), aborted on failure.
/// S3 makes each PUT and each completed upload atomic, which gives the provider contract's
/// atomicity. Errors are classified from HTTP statuses and S3 codes.
public final class S3Provider: Provider {
    public let name: String
    public let client: S3Client
    public let bucket: String
    /// Prepended to every blob name (so that several gateways or tests can share a bucket).
    public let keyPrefix: String
    public let multipartThreshold: Int64
    public let partSize: Int

    public init(name: String, client: S3Client, bucket: String, keyPrefix: String = "",
                multipartThreshold: Int64 = 256 << 20, partSize: Int = 16 << 20) {
        precondition(partSize >= 5 << 20, "S3 parts other than the last hold at least 5 MiB")
        self.name = name
        self.client = client
        self.bucket = bucket
        self.keyPrefix = keyPrefix
        self.multipartThreshold = multipartThreshold
        self.partSize = partSize
    }

    public func put<Body: AsyncSequence & Sendable>(_ blob: String, length: Int64, body: Body) async throws
        where Body.Element == ByteBlock {
        try BlobName.validate(blob, provider: name)
        let checked = LengthCheckedBody(body: body, length: length, provider: name)
        if length > multipartThreshold {
            try await putInParts(blob, body: checked)
            return
        }
        do {
            try await client.put(bucket: bucket, key: keyPrefix + blob, body: .stream(checked, length: .known(length)))
        } catch {
            // A body that broke the length contract is the caller's error, whatever the HTTP layer made of it.
            throw checked.violation ?? classify(error, "put \(blob)")
        }
    }

    private func putInParts<Body: AsyncSequence & Sendable>(_ blob: String, body: LengthCheckedBody<Body>) async throws
        where Body.Element == ByteBlock {
        let key = keyPrefix + blob
        let upload: String
        do { upload = try await client.createUpload(bucket: bucket, key: key) } catch { throw classify(error, "put \(blob)") }
        do {
            var etags: [String] = []
            var part = ByteBuffer()
            part.reserveCapacity(partSize)
            for try await piece in body {
                part.writeImmutableBuffer(piece)
                while part.readableBytes >= partSize {
                    etags.append(try await client.uploadPart(bucket: bucket, key: key, uploadID: upload, number: etags.count + 1,
                                                             body: part.readSlice(length: partSize)!))
                    part.discardReadBytes()
                }
            }
            if part.readableBytes > 0 || etags.isEmpty {
                etags.append(try await client.uploadPart(bucket: bucket, key: key, uploadID: upload, number: etags.count + 1, body: part))
            }
            try await client.completeUpload(bucket: bucket, key: key, uploadID: upload, etags: etags)
        } catch {
            try? await client.abortUpload(bucket: bucket, key: key, uploadID: upload)
            throw body.violation ?? (error as? ProviderError) ?? classify(error, "put \(blob)")
        }
    }

    public func get(_ blob: String, range: Range<Int64>?) async throws -> ByteBlock {
        try BlobName.validate(blob, provider: name)
        if let range, range.isEmpty {
            _ = try await head(blob)
            return ByteBlock(count: 0)
        }
        do {
            let response = try await client.get(bucket: bucket, key: keyPrefix + blob, range: range)
            let expected = range.map { Int($0.count) } ?? response.headers.first(name: "content-length").flatMap { Int($0) }
            guard let expected else { throw ProviderError(.corrupt, provider: name, "get \(blob): no Content-Length") }
            let block = ByteBlock(uninitializedCount: expected)
            var filled = 0
            for try await buffer in response.body {
                guard filled + buffer.readableBytes <= expected else {
                    throw ProviderError(.corrupt, provider: name, "get \(blob): more than the \(expected) bytes asked for")
                }
                buffer.withUnsafeReadableBytes { source in
                    (block.unsafeMutableBytes.baseAddress! + filled).copyMemory(from: source.baseAddress!, byteCount: source.count)
                }
                filled += buffer.readableBytes
            }
            guard filled == expected else {
                throw ProviderError(.corrupt, provider: name, "get \(blob): \(filled) of \(expected) bytes (the blob is shorter than expected)")
            }
            return block
        } catch {
            throw classify(error, "get \(blob)")
        }
    }

    public func head(_ blob: String) async throws -> BlobInfo {
        try BlobName.validate(blob, provider: name)
        let size: Int64?
        do { size = try await client.head(bucket: bucket, key: keyPrefix + blob) } catch { throw classify(error, "head \(blob)") }
        guard let size else { throw ProviderError(.notFound, provider: name, "no blob \(blob)") }
        return BlobInfo(name: blob, size: size)
    }

    public func delete(_ blob: String) async throws {
        try BlobName.validate(blob, provider: name)
        do { try await client.delete(bucket: bucket, key: keyPrefix + blob) } catch {
            let classified = classify(error, "delete \(blob)")
            if classified.kind != .notFound { throw classified }
        }
    }

    public func list(prefix: String, after: String?, limit: Int) async throws -> [BlobInfo] {
        do {
            return try await client.list(bucket: bucket, prefix: keyPrefix + prefix, startAfter: after.map { keyPrefix + $0 }, limit: limit)
                .map { BlobInfo(name: String($0.key.dropFirst(keyPrefix.count)), size: $0.size) }
        } catch {
            throw classify(error, "list \(prefix)")
        }
    }

    /// Aborts multipart uploads under this provider's prefix created more than `age` ago: those
    /// of puts killed before they completed or aborted them (their parts are stored, and billed,
    /// until then). Uploads without a readable creation time are left alone.
    public func removeAbandonedWrites(olderThan age: Duration) async throws -> Int {
        let cutoff = Date().addingTimeInterval(-age.inSeconds)
        do {
            var aborted = 0
            for upload in try await client.listUploads(bucket: bucket, prefix: keyPrefix) {
                guard let initiated = upload.initiated, initiated < cutoff else { continue }
                try await client.abortUpload(bucket: bucket, key: upload.key, uploadID: upload.id)
                aborted += 1
            }
            return aborted
        } catch { throw classify(error, "remove abandoned uploads") }
    }

    /// The contract's classification of an error from the S3 client or the HTTP layer.
    func classify(_ error: any Error, _ operation: String) -> ProviderError {
        if let error = error as? ProviderError { return error }
        guard let error = error as? S3ClientError else {
            // Connection refused or reset, timeouts, TLS failures: the provider is unreachable.
            return ProviderError(.unavailable, provider: name, operation, cause: error)
        }
        let kind: ProviderError.Kind = switch (error.status, error.code) {
        case (404, "NoSuchBucket"?): .permissionDenied   // misconfigured: retrying will not help
        case (404, _): .notFound
        case (401, _), (403, _): .permissionDenied
        case (416, _): .corrupt
        case (408, _), (429, _), (500..., _): .unavailable
        case (_, "SlowDown"?), (_, "RequestTimeout"?), (_, "InternalError"?), (_, "ServiceUnavailable"?): .unavailable
        default: .invalidArgument
        }
        return ProviderError(kind, provider: name, operation, cause: error)
    }
}

/// A blob body as ByteBuffers, refusing to yield more or fewer bytes than declared. The
/// violation is kept so the provider reports it rather than the HTTP error it causes.
struct LengthCheckedBody<Body: AsyncSequence & Sendable>: AsyncSequence, Sendable where Body.Element == ByteBlock {
    typealias Element = ByteBuffer
    let body: Body
    let length: Int64
    let provider: String
    private let state = Locked<ProviderError?>(nil)

    init(body: Body, length: Int64, provider: String) {
        self.body = body
        self.length = length
        self.provider = provider
    }

    var violation: ProviderError? { state.value }

    struct AsyncIterator: AsyncIteratorProtocol {
        var inner: Body.AsyncIterator
        let length: Int64
        let provider: String
        let state: Locked<ProviderError?>
        var sent: Int64 = 0

        /// Records the violation for the provider and returns it to throw.
        func violated(_ message: String) -> ProviderError {
            let error = ProviderError(.invalidArgument, provider: provider, message)
            state.withLock { $0 = error }
            return error
        }

        mutating func next() async throws -> ByteBuffer? {
            guard let block = try await inner.next() else {
                guard sent == length else { throw violated("the body ended after \(sent) of \(length) bytes") }
                return nil
            }
            sent += Int64(block.count)
            guard sent <= length else { throw violated("the body is longer than \(length) bytes") }
            return block.withUnsafeBytes { ByteBuffer(bytes: $0) }
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(inner: body.makeAsyncIterator(), length: length, provider: provider, state: state)
    }
}
