import Foundation
import NuageCatalog
import NuageCore
import PostgresNIO

/// Multipart uploads, garbage and repair notes.
extension PostgresCatalog {
    public func createUpload(_ upload: UploadRecord) async throws {
        let metadata = try Self.json(upload.metadata)
        try await write { tx in
            try await Self.requireBucket(tx, upload.bucket)
            try await tx.execute("""
                INSERT INTO upload (id, bucket, key, created_ms, metadata)
                VALUES (\(upload.id), \(upload.bucket), \(Self.bytes(upload.key)), \(Self.ms(upload.created)), \(metadata))
                """)
        }
    }

    public func upload(id: String) async throws -> UploadRecord? {
        try await read { tx in try await Self.fetchUpload(tx, id: id) }
    }

    public func listUploads(bucket: String, prefix: String, after: (key: String, id: String?)?, limit: Int) async throws -> [UploadRecord] {
        let upper = Self.upperBound(prefix)
        let lower = KeyRange.lowerBound(prefix: prefix, after: after?.key)
        // One lower bound (see KeyRange.lowerBound); within the marker's key, uploads after its id.
        let afterID = lower.inclusive ? nil : after?.id
        let strict = !lower.inclusive && afterID == nil
        return try await read { tx in
            try await Self.requireBucket(tx, bucket)
            guard limit > 0 else { return [] }
            return try await tx.rows("""
                SELECT * FROM upload WHERE bucket = \(bucket) AND key \(unescaped: strict ? ">" : ">=") \(lower.key) AND key < \(upper)
                AND (\(afterID)::text IS NULL OR key > \(lower.key) OR id > \(afterID))
                ORDER BY key, id LIMIT \(Int64(limit))
                """).map(Self.uploadRecord)
        }
    }

    public func uploads(before date: Date) async throws -> [UploadRecord] {
        try await read { tx in
            try await tx.rows("SELECT * FROM upload WHERE created_ms < \(Self.ms(date)) ORDER BY created_ms").map(Self.uploadRecord)
        }
    }

    public func commitPart(_ part: PartRecord, intent: String) async throws -> PartRecord? {
        let manifest = try Self.json(part.manifest)
        let checksums = part.checksums.isEmpty ? nil : try Self.json(part.checksums)
        return try await write { tx in
            guard try await Self.fetchUpload(tx, id: part.uploadID) != nil else {
                throw NuageError(.noSuchUpload, "upload \(part.uploadID) does not exist")
            }
            try await Self.retire(tx, intent: intent, keeping: part.manifest.blobs)
            let previous = try await Self.fetchParts(tx, uploadID: part.uploadID, number: part.number).first
            if let previous { try await Self.addGarbage(tx, previous.manifest.blobs) }
            try await tx.execute("""
                INSERT INTO upload_part (upload_id, number, size, etag, modified_ms, manifest, checksums)
                VALUES (\(part.uploadID), \(Int64(part.number)), \(part.size), \(part.etag), \(Self.ms(part.modified)), \(manifest), \(checksums))
                ON CONFLICT (upload_id, number) DO UPDATE SET size = EXCLUDED.size, etag = EXCLUDED.etag, modified_ms = EXCLUDED.modified_ms,
                manifest = EXCLUDED.manifest, checksums = EXCLUDED.checksums
                """)
            return previous
        }
    }

    public func parts(uploadID: String) async throws -> [PartRecord] {
        try await read { tx in try await Self.fetchParts(tx, uploadID: uploadID) }
    }

    public func completeUpload(id: String, object: ObjectRecord, expectedVersion: [UInt8]?) async throws -> ObjectRecord? {
        try await write { tx in
            guard try await Self.fetchUpload(tx, id: id) != nil else { throw NuageError(.noSuchUpload, "upload \(id) does not exist") }
            let stored = Set(try await Self.fetchParts(tx, uploadID: id).map(\.manifest.versionID))
            let used = Set(object.parts.map(\.versionID))
            guard used.isSubset(of: stored) else {
                throw NuageError(.invalidPart, "a part of upload \(id) was replaced while it was being completed")
            }
            let replaced = try await Self.replaceObject(tx, object, expectedVersion: expectedVersion)
            try await Self.dropUpload(tx, id: id, keeping: used)
            return replaced
        }
    }

    public func abortUpload(id: String) async throws {
        try await write { tx in
            guard try await Self.fetchUpload(tx, id: id) != nil else { throw NuageError(.noSuchUpload, "upload \(id) does not exist") }
            try await Self.dropUpload(tx, id: id, keeping: [])
        }
    }

    // MARK: Garbage and repairs

    public func garbage(limit: Int, readableBefore cutoff: Date, journaledThrough seq: Int64) async throws -> [BlobRef] {
        try await read { tx in
            try await tx.rows("""
                SELECT provider, blob FROM garbage WHERE (NOT readable OR added_ms < \(Self.ms(cutoff))) AND added_seq <= \(seq)
                ORDER BY provider, blob LIMIT \(Int64(max(0, limit)))
                """).map { BlobRef(provider: try $0["provider"].decode(String.self), blob: try $0["blob"].decode(String.self)) }
        }
    }

    public func removeGarbage(_ blobs: [BlobRef]) async throws {
        try await write { tx in
            for ref in blobs { try await tx.execute("DELETE FROM garbage WHERE provider = \(ref.provider) AND blob = \(ref.blob)") }
        }
    }

    public func garbageAmong(_ blobs: [BlobRef]) async throws -> [BlobRef] {
        guard !blobs.isEmpty else { return [] }
        return try await read { tx in
            var listed: [BlobRef] = []
            for ref in blobs where try await tx.row("SELECT 1 AS listed FROM garbage WHERE provider = \(ref.provider) AND blob = \(ref.blob)") != nil {
                listed.append(ref)
            }
            return listed
        }
    }

    public func referencedBlobs(provider: String) async throws -> Set<String> {
        try await read { tx in
            var names = Set<String>()
            func add(_ refs: [BlobRef]) { for ref in refs where ref.provider == provider { names.insert(ref.blob) } }
            for row in try await tx.rows("SELECT parts FROM object UNION ALL SELECT parts FROM object_version WHERE NOT marker") {
                add(try Self.decode([Manifest].self, try row["parts"].decode(String.self)).flatMap(\.blobs))
            }
            for row in try await tx.rows("SELECT manifest FROM upload_part") {
                add(try Self.decode(Manifest.self, try row["manifest"].decode(String.self)).blobs)
            }
            for row in try await tx.rows("SELECT blobs FROM intent") { add(try Self.decode([BlobRef].self, try row["blobs"].decode(String.self))) }
            for row in try await tx.rows("SELECT blob FROM garbage WHERE provider = \(provider)") { names.insert(try row["blob"].decode(String.self)) }
            for blob in try await Self.fetchJournalBlobs(tx) { add(blob.copies) }
            return names
        }
    }

    public func noteRepair(bucket: String, key: String, versionID: [UInt8], shards: [Int], reason: String) async throws {
        try await write { tx in
            for shard in shards {
                try await tx.execute("""
                    INSERT INTO repair (version_id, shard, bucket, key, reason, noted_ms)
                    VALUES (\(Data(versionID)), \(Int64(shard)), \(bucket), \(Self.bytes(key)), \(reason), \(Self.ms(Date())))
                    ON CONFLICT (version_id, shard) DO UPDATE SET bucket = EXCLUDED.bucket, key = EXCLUDED.key, reason = EXCLUDED.reason,
                    noted_ms = EXCLUDED.noted_ms
                    """)
            }
        }
    }

    public func pendingRepairs(limit: Int) async throws -> [RepairNote] {
        try await read { tx in
            try await tx.rows("SELECT * FROM repair ORDER BY noted_ms, version_id, shard LIMIT \(Int64(max(0, limit)))").map { row in
                RepairNote(bucket: try row["bucket"].decode(String.self), key: String(decoding: try row["key"].decode(Data.self), as: UTF8.self),
                           versionID: Array(try row["version_id"].decode(Data.self)), shard: Int(try row["shard"].decode(Int64.self)),
                           reason: try row["reason"].decode(String.self))
            }
        }
    }

    // MARK: Leases

    public func claimLease(_ job: String, holder: String, now: Date, until: Date) async throws -> Bool {
        try await write { tx in
            if let row = try await tx.row("SELECT holder, until_ms FROM lease WHERE job = \(job)"),
               try row["holder"].decode(String.self) != holder, try row["until_ms"].decode(Int64.self) > Self.ms(now) { return false }
            try await tx.execute("""
                INSERT INTO lease (job, holder, until_ms) VALUES (\(job), \(holder), \(Self.ms(until)))
                ON CONFLICT (job) DO UPDATE SET holder = EXCLUDED.holder, until_ms = EXCLUDED.until_ms
                """)
            return true
        }
    }

    public func lease(_ job: String) async throws -> (holder: String, until: Date)? {
        try await read { tx in
            try await tx.row("SELECT holder, until_ms FROM lease WHERE job = \(job)").map {
                (try $0["holder"].decode(String.self), Self.date(try $0["until_ms"].decode(Int64.self)))
            }
        }
    }

    public func clearRepairs(versionID: [UInt8], shards: [Int]) async throws {
        try await write { tx in
            for shard in shards { try await tx.execute("DELETE FROM repair WHERE version_id = \(Data(versionID)) AND shard = \(Int64(shard))") }
        }
    }
}
