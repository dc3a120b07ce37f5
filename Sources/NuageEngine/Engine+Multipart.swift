import Crypto
import Foundation
import NuageCatalog
import NuageCore
import NuageCrypto

/// Multipart uploads: each part is written as its own sealed stream (own data key, own shard
/// blobs) and committed to the upload; completing the upload makes one object of the chosen
/// parts' manifests. No byte is copied at completion.
extension Engine {
    /// S3's limits.
    public static let minimumPartSize: Int64 = 5 << 20
    public static let maximumPartSize: Int64 = 5 << 30
    public static let partNumbers = 1...10_000

    /// Where an upload started with a client's key (SSE-C) keeps the check that recognises it;
    /// every part must be uploaded under that key. Never part of the completed object's metadata.
    static let uploadCustomerKeyCheck = "x-nuage-sse-c-check"

    /// Whether an upload's parts are under a client's key (SSE-C).
    public static func isUnderCustomerKey(_ upload: UploadRecord) -> Bool { upload.metadata[uploadCustomerKeyCheck] != nil }
    /// Where an upload started under a KMS key (SSE-KMS) keeps its name; every part is written under it.
    public static let uploadKMSKey = "x-nuage-kms-key"

    /// Starts an upload; the completed object gets `metadata`.
    /// - Parameter customerKey: the client's key (SSE-C) under which every part must be uploaded.
    /// - Parameter kmsKey: the KMS key (SSE-KMS) every part is written under.
    /// - Throws: `invalidKey`, `keyTooLong`, `noSuchBucket`, the KMS errors of ``put(bucket:key:size:body:metadata:etag:condition:customerKey:kmsKey:)``.
    /// - Parameter settings: the gateway's own `x-nuage-*` entries the upload keeps (the checksum
    ///   it promised); the completed object does not get them.
    public func createUpload(bucket: String, key: String, metadata: [String: String] = [:], settings: [String: String] = [:],
                             customerKey: CustomerKey? = nil, kmsKey: String? = nil) async throws -> UploadRecord {
        try requirePlaceable()
        try ObjectNames.validateKey(key)
        guard customerKey == nil || kmsKey == nil else {
            throw NuageError(.invalidArgument, "an upload is stored under a customer key or a KMS key, not both")
        }
        if let kmsKey { _ = try await kmsKeyForWriting(kmsKey) }
        let now = Date()
        // A time prefix makes ids sort in creation order, as S3 lists them.
        var millis = UInt64(now.timeIntervalSince1970 * 1000).bigEndian
        let prefix = withUnsafeBytes(of: &millis) { Array($0) }
        let id = (prefix + [UInt8].random(count: 16)).hex
        var metadata = metadata.filter { !$0.key.hasPrefix("x-nuage-") }.merging(settings.filter { $0.key.hasPrefix("x-nuage-") }) { $1 }
        if let customerKey { metadata[Self.uploadCustomerKeyCheck] = customerKey.check(versionID: Array(id.utf8)).hex }
        if let kmsKey { metadata[Self.uploadKMSKey] = kmsKey }
        let upload = UploadRecord(id: id, bucket: bucket, key: key, created: now, metadata: metadata)
        try await catalog.createUpload(upload)
        return upload
    }

    /// The upload `id`, which must belong to `bucket`/`key`.
    /// - Throws: `noSuchUpload`.
    public func upload(id: String, bucket: String, key: String) async throws -> UploadRecord {
        guard let upload = try await catalog.upload(id: id), upload.bucket == bucket, upload.key == key else {
            throw NuageError(.noSuchUpload, "no upload \(id.prefix(100)) for \(key) in bucket \(bucket)")
        }
        return upload
    }

    /// Whether `customerKey` is the key the upload was started with (none for an upload started without).
    /// - Throws: `customerKeyRequired`, `customerKeyMismatch`, `customerKeyNotApplicable`, as S3 answers UploadPart.
    public static func checkCustomerKey(_ customerKey: CustomerKey?, for upload: UploadRecord) throws {
        try checkCustomerKey(customerKey, against: upload.metadata[uploadCustomerKeyCheck].flatMap { [UInt8](hex: $0) },
                             salt: Array(upload.id.utf8),
                             notApplicable: "The multipart upload was not initiated with a customer-provided key; parts cannot use one.",
                             required: "The multipart upload was initiated with a customer-provided key; every part must give it.",
                             mismatch: "The provided encryption key does not match the one the multipart upload was initiated with.")
    }

    /// Stores part `number` of an upload, replacing a part with that number.
    /// - Parameter etag: the ETag to record; nil records the MD5 of the body, as ``put(bucket:key:size:body:metadata:etag:condition:)`` does.
    /// - Parameter customerKey: the key the upload was started with (SSE-C), checked before any byte is stored.
    /// - Throws: `noSuchUpload`, `invalidArgument` for a number outside 1…10,000 or a size
    ///   above 5 GiB, the customer-key errors of `checkCustomerKey(_:for:)`,
    ///   and what ``put(bucket:key:size:body:metadata:etag:condition:)`` throws for the body.
    @discardableResult
    public func uploadPart(uploadID: String, bucket: String, key: String, number: Int, size: Int64,
                           body: some ObjectBody, etag: String? = nil, customerKey: CustomerKey? = nil) async throws -> PartRecord {
        guard Self.partNumbers.contains(number) else {
            throw NuageError(.invalidArgument, "part number must be an integer between 1 and 10000, not \(number)")
        }
        guard (0...Self.maximumPartSize).contains(size) else {
            throw NuageError(.invalidArgument, "a part must hold 0 to \(Self.maximumPartSize) bytes, not \(size)")
        }
        let upload = try await upload(id: uploadID, bucket: bucket, key: key)
        try Self.checkCustomerKey(customerKey, for: upload)
        let kms = try await kmsKeyForWriting(optional: upload.metadata[Self.uploadKMSKey])
        let stream = try await writeStream(bucket: bucket, key: key, size: size, body: body,
                                           headerMetadata: ["x-nuage-upload-id": uploadID, "x-nuage-part-number": String(number)],
                                           hashing: etag == nil, customerKey: customerKey, kmsKey: kms)
        let part = PartRecord(uploadID: uploadID, number: number, size: size,
                              etag: try stream.etag(etag),
                              modified: stream.created, manifest: stream.manifest,
                              // Checksums of plaintext under a client's key are not kept (they would fingerprint it).
                              checksums: customerKey == nil ? body.trailingMetadata : [:])
        try await finish(stream) {
            if let replaced = try await catalog.commitPart(part, intent: stream.intent) {
                await collectPromptly(replaced.manifest.blobs)
            }
        }
        return part
    }

    /// The parts uploaded so far, by number.
    /// - Throws: `noSuchUpload`.
    public func parts(uploadID: String, bucket: String, key: String) async throws -> [PartRecord] {
        _ = try await upload(id: uploadID, bucket: bucket, key: key)
        return try await catalog.parts(uploadID: uploadID)
    }

    /// Makes the listed parts, in order, the object's new version and ends the upload. Parts
    /// uploaded but not listed are deleted.
    ///
    /// - Parameter parts: part numbers with the ETags the client got for them, ascending.
    /// - Returns: the object, whose ETag is the MD5 of the parts' binary MD5s, `-`, the count.
    /// - Throws: `noSuchUpload`; `invalidPartOrder`; `invalidPart` for a part not uploaded or
    ///   whose ETag differs; `entityTooSmall` for a part other than the last below 5 MiB;
    ///   `preconditionFailed` when `condition` does not hold; the customer-key errors when
    ///   `customerKey` is given and is not the upload's (S3 lets it be left out here).
    /// - Parameter finishing: given the upload and the chosen parts, metadata the object gets
    ///   besides the upload's (its whole-object checksum); what it throws stops the completion.
    public func completeUpload(uploadID: String, bucket: String, key: String, parts: [(number: Int, etag: String)],
                               condition: PutCondition = .none, customerKey: CustomerKey? = nil,
                               finishing: (UploadRecord, [PartRecord]) throws -> [String: String] = { _, _ in [:] }) async throws -> ObjectRecord {
        let upload: UploadRecord
        do { upload = try await self.upload(id: uploadID, bucket: bucket, key: key) } catch let error as NuageError where error.code == .noSuchUpload {
            // A completion retried after it succeeded (its answer was lost) gets the same answer,
            // as at AWS, while the object is still the one those parts made.
            guard let current = try await catalog.object(bucket: bucket, key: key), current.parts.count == parts.count,
                  current.etag == Self.multipartETag(parts.map(\.etag)) else { throw error }
            if let customerKey { try Self.checkCustomerKey(customerKey, for: current) }
            return current
        }
        if let customerKey { try Self.checkCustomerKey(customerKey, for: upload) }
        guard !parts.isEmpty else { throw NuageError(.invalidPart, "an upload must be completed with at least one part") }
        for (previous, next) in zip(parts, parts.dropFirst()) where next.number <= previous.number {
            throw NuageError(.invalidPartOrder, "part \(next.number) is listed after part \(previous.number)")
        }
        let stored = Dictionary(uniqueKeysWithValues: try await catalog.parts(uploadID: uploadID).map { ($0.number, $0) })
        let chosen = try parts.map { wanted in
            guard let part = stored[wanted.number], part.etag == wanted.etag else {
                throw NuageError(.invalidPart, "part \(wanted.number) was not uploaded or its ETag is not \(wanted.etag.prefix(64))")
            }
            return part
        }
        for part in chosen.dropLast() where part.size < Self.minimumPartSize {
            throw NuageError(.entityTooSmall, "part \(part.number) holds \(part.size) bytes; every part but the last needs at least \(Self.minimumPartSize)")
        }
        let expected = try await expectedVersion(bucket: bucket, key: key, condition: condition)
        let versioning = try await catalog.bucket(bucket)?.versioning
        let record = ObjectRecord(bucket: bucket, key: key, versionID: [UInt8].random(count: 16),
                                  size: chosen.reduce(0) { $0 + $1.size },
                                  etag: Self.multipartETag(chosen.map(\.etag)), modified: Date(),
                                  metadata: upload.metadata.filter { !$0.key.hasPrefix("x-nuage-") }.merging(try finishing(upload, chosen)) { $1 },
                                  parts: chosen.map(\.manifest), versioned: versioning == .enabled)
        let replaced = try await catalog.completeUpload(id: uploadID, object: record, expectedVersion: expected)
        let chosenNumbers = Set(chosen.map(\.number))
        let unused = stored.values.filter { !chosenNumbers.contains($0.number) }.flatMap(\.manifest.blobs)
        await collectPromptly(unused)
        await collectReplaced(replaced?.blobs ?? [])
        try await journalDurable()
        return record
    }

    /// A completed upload's ETag: the MD5 of its parts' binary MD5s, `-`, their count.
    static func multipartETag(_ partETags: [String]) -> String {
        var digests = Insecure.MD5()
        for etag in partETags { digests.update(data: [UInt8](hex: etag) ?? Array(etag.utf8)) }
        return Array(digests.finalize()).hex + "-\(partETags.count)"
    }

    /// Ends an upload and deletes its parts.
    /// - Throws: `noSuchUpload`.
    public func abortUpload(uploadID: String, bucket: String, key: String) async throws {
        _ = try await upload(id: uploadID, bucket: bucket, key: key)
        try await abort(uploadID)
    }

    /// Forgets an upload and deletes its parts' blobs.
    private func abort(_ id: String) async throws {
        let parts = try await catalog.parts(uploadID: id)
        try await catalog.abortUpload(id: id)
        await collectPromptly(parts.flatMap(\.manifest.blobs))
    }

    /// Uploads in progress, by key then creation.
    /// - Parameter after: (key, id) to resume strictly after; a nil id resumes after every upload of key.
    public func listUploads(bucket: String, prefix: String = "", after: (key: String, id: String?)? = nil,
                            limit: Int = 1000) async throws -> [UploadRecord] {
        try await catalog.listUploads(bucket: bucket, prefix: prefix, after: after, limit: limit)
    }

    /// Aborts uploads started more than `age` ago.
    /// - Returns: how many were aborted.
    @discardableResult
    public func expireUploads(olderThan age: Duration) async throws -> Int {
        let cutoff = Date().addingTimeInterval(-Double(age.components.seconds))
        var expired = 0
        for upload in try await catalog.uploads(before: cutoff) {
            do {
                try await abort(upload.id)
                expired += 1
            } catch let error as NuageError where error.code == .noSuchUpload {
                continue  // completed or aborted meanwhile
            }
        }
        return expired
    }
}
