import Foundation
import NuageCatalog
import NuageCore
import PostgresNIO

/// Reading records from rows, and the statements several methods share.
extension PostgresCatalog {
    static let bucketColumns = "name, created_ms, encryption, tagging, cors, lifecycle, policy, owner, versioning, object_lock"
    static let objectColumns = "bucket, key, version_id, size, etag, modified_ms, metadata, parts, versioned"
    static let versionColumns = "bucket, key, seq, version_id, versioned, marker, size, etag, modified_ms, metadata, parts"

    static func ms(_ date: Date) -> Int64 { CatalogJSON.ms(date) }
    static func date(_ ms: Int64) -> Date { CatalogJSON.date(ms) }
    static func json(_ value: some Encodable) throws -> String { try CatalogJSON.encode(value) }
    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T { try CatalogJSON.decode(type, text) }
    static func bytes(_ key: String) -> Data { Data(key.utf8) }

    static func bucketRecord(_ row: PostgresRandomAccessRow) throws -> BucketRecord {
        BucketRecord(name: try row["name"].decode(String.self), created: date(try row["created_ms"].decode(Int64.self)),
                     owner: try row["owner"].decode(String.self),
                     encryption: try row["encryption"].decode(String?.self).map { try decode(BucketEncryption.self, $0) },
                     tagging: try row["tagging"].decode(String?.self), cors: try row["cors"].decode(String?.self),
                     lifecycle: try row["lifecycle"].decode(String?.self), policy: try row["policy"].decode(String?.self),
                     versioning: try row["versioning"].decode(String?.self).flatMap(VersioningStatus.init(rawValue:)),
                     objectLock: try row["object_lock"].decode(String?.self))
    }

    /// A row of `object` (current) or `object_version` (`marker` present).
    static func objectRecord(_ row: PostgresRandomAccessRow) throws -> ObjectRecord {
        ObjectRecord(bucket: try row["bucket"].decode(String.self), key: String(decoding: try row["key"].decode(Data.self), as: UTF8.self),
                     versionID: Array(try row["version_id"].decode(Data.self)), size: try row["size"].decode(Int64.self),
                     etag: try row["etag"].decode(String.self), modified: date(try row["modified_ms"].decode(Int64.self)),
                     metadata: try decode([String: String].self, try row["metadata"].decode(String.self)),
                     parts: try decode([Manifest].self, try row["parts"].decode(String.self)),
                     versioned: try row["versioned"].decode(Bool.self),
                     deleteMarker: row.contains("marker") ? try row["marker"].decode(Bool.self) : false)
    }

    static func uploadRecord(_ row: PostgresRandomAccessRow) throws -> UploadRecord {
        UploadRecord(id: try row["id"].decode(String.self), bucket: try row["bucket"].decode(String.self),
                     key: String(decoding: try row["key"].decode(Data.self), as: UTF8.self),
                     created: date(try row["created_ms"].decode(Int64.self)),
                     metadata: try decode([String: String].self, try row["metadata"].decode(String.self)))
    }

    static func accessKeyRecord(_ row: PostgresRandomAccessRow) throws -> AccessKeyRecord {
        AccessKeyRecord(id: try row["id"].decode(String.self), name: try row["name"].decode(String.self), owner: try row["owner"].decode(String.self),
                        sealedSecret: Array(try row["sealed_secret"].decode(Data.self)), readOnly: try row["read_only"].decode(Bool.self),
                        buckets: try decode([String].self, try row["buckets"].decode(String.self)),
                        created: date(try row["created_ms"].decode(Int64.self)))
    }

    static func journalBlob(_ row: PostgresRandomAccessRow) throws -> JournalBlob {
        JournalBlob(kind: JournalBlob.Kind(rawValue: try row["kind"].decode(String.self)) ?? .segment, first: try row["first"].decode(Int64.self),
                    last: try row["last"].decode(Int64.self), copies: try decode([BlobRef].self, try row["copies"].decode(String.self)))
    }

    // MARK: Shared statements

    static func bucketExists(_ tx: Tx, _ name: String) async throws -> Bool {
        try await tx.row("SELECT 1 FROM bucket WHERE name = \(name)") != nil
    }

    static func fetchBucket(_ tx: Tx, _ name: String) async throws -> BucketRecord? {
        try await tx.row("SELECT \(unescaped: bucketColumns) FROM bucket WHERE name = \(name)").map(bucketRecord)
    }

    static func fetchAccessKey(_ tx: Tx, id: String) async throws -> AccessKeyRecord? {
        try await tx.row("SELECT * FROM access_key WHERE id = \(id)").map(accessKeyRecord)
    }

    static func requireBucket(_ tx: Tx, _ name: String) async throws {
        guard try await bucketExists(tx, name) else { throw NuageError(.noSuchBucket, "bucket \(name) does not exist") }
    }

    static func fetchObject(_ tx: Tx, bucket: String, key: String) async throws -> ObjectRecord? {
        try await tx.row("SELECT \(unescaped: objectColumns) FROM object WHERE bucket = \(bucket) AND key = \(bytes(key))").map(objectRecord)
    }

    /// A key's older versions and delete markers, newest first, with their `seq`.
    static func fetchOlder(_ tx: Tx, bucket: String, key: String) async throws -> [(seq: Int64, record: ObjectRecord)] {
        try await tx.rows("SELECT \(unescaped: versionColumns) FROM object_version WHERE bucket = \(bucket) AND key = \(bytes(key)) ORDER BY seq DESC")
            .map { (seq: try $0["seq"].decode(Int64.self), record: try objectRecord($0)) }
    }

    /// The version with this id (nil: the null version), with its `seq` when it is not current.
    static func fetchVersion(_ tx: Tx, bucket: String, key: String, versionID: [UInt8]?) async throws -> (seq: Int64?, record: ObjectRecord)? {
        if let current = try await fetchObject(tx, bucket: bucket, key: key),
           versionID.map({ $0 == current.versionID }) ?? !current.versioned { return (nil, current) }
        return try await fetchOlder(tx, bucket: bucket, key: key)
            .first { versionID.map($0.record.versionID.elementsEqual) ?? !$0.record.versioned }
            .map { (seq: $0.seq, record: $0.record) }
    }

    static func insertObject(_ tx: Tx, _ object: ObjectRecord) async throws {
        try await tx.execute("""
            INSERT INTO object (\(unescaped: objectColumns)) VALUES (\(object.bucket), \(bytes(object.key)), \(Data(object.versionID)),
            \(object.size), \(object.etag), \(ms(object.modified)), \(try json(object.metadata)), \(try json(object.parts)), \(object.versioned))
            """)
    }

    /// Keeps `record` as the newest of its key's older versions (or delete markers).
    static func insertOlder(_ tx: Tx, _ record: ObjectRecord) async throws {
        let key = bytes(record.key)
        let seq = (try await tx.row("SELECT MAX(seq) AS seq FROM object_version WHERE bucket = \(record.bucket) AND key = \(key)")?["seq"]
            .decode(Int64?.self) ?? 0) + 1
        try await tx.execute("""
            INSERT INTO object_version (\(unescaped: versionColumns)) VALUES (\(record.bucket), \(key), \(seq), \(Data(record.versionID)),
            \(record.versioned), \(record.deleteMarker), \(record.size), \(record.etag), \(ms(record.modified)), \(try json(record.metadata)),
            \(try json(record.parts)))
            """)
    }

    /// A removed version's blobs go to garbage (reads that started may still need them), its scrub times go.
    static func discard(_ tx: Tx, _ record: ObjectRecord) async throws {
        try await addGarbage(tx, record.blobs, readable: true)
        try await tx.execute("DELETE FROM scrub WHERE version_id = \(Data(record.versionID))")
    }

    /// Makes room for a newer version (``KeyHistory``'s rules): the current version leaves
    /// `object`, kept as noncurrent unless both are null versions; a null newer version also
    /// replaces an older null one. Returns the replaced current version.
    /// - Parameter versioned: whether the key may have an older null version to replace (false: known not to).
    static func makeRoom(_ tx: Tx, for newer: ObjectRecord, current: ObjectRecord?, versioned: Bool = true) async throws -> ObjectRecord? {
        var replaced: ObjectRecord?
        if let current {
            if newer.versioned || current.versioned {
                try await insertOlder(tx, current)
            } else {
                try ObjectLock.check(current, now: Date(), bypassGovernance: false)
                try await discard(tx, current)
                replaced = current
            }
            try await tx.execute("DELETE FROM object WHERE bucket = \(current.bucket) AND key = \(bytes(current.key))")
        }
        if !newer.versioned && versioned {
            for (seq, old) in try await fetchOlder(tx, bucket: newer.bucket, key: newer.key) where !old.versioned {
                try ObjectLock.check(old, now: Date(), bypassGovernance: false)
                try await discard(tx, old)
                try await tx.execute("DELETE FROM object_version WHERE bucket = \(old.bucket) AND key = \(bytes(old.key)) AND seq = \(seq)")
            }
        }
        return replaced
    }

    /// With no current version, the newest older one becomes current unless it is a delete marker.
    static func promote(_ tx: Tx, bucket: String, key: String) async throws {
        guard try await fetchObject(tx, bucket: bucket, key: key) == nil,
              let (seq, newest) = try await fetchOlder(tx, bucket: bucket, key: key).first, !newest.deleteMarker else { return }
        try await tx.execute("DELETE FROM object_version WHERE bucket = \(bucket) AND key = \(bytes(key)) AND seq = \(seq)")
        try await insertObject(tx, newest)
    }

    /// Lists blobs as garbage, numbered with the journal head (see `SQLiteCatalog`).
    /// A piece of a pack stops counting as live; its pack is listed once none is and its batch is over.
    static func addGarbage(_ tx: Tx, _ blobs: [BlobRef], readable: Bool = false) async throws {
        guard !blobs.isEmpty else { return }
        for piece in blobs where piece.isPiece {
            try await tx.execute("UPDATE pack SET live = live - 1 WHERE provider = \(piece.provider) AND blob = \(piece.blob) AND live > 0")
            try await dropPackIfDead(tx, piece.whole, readable: readable)
        }
        let now = ms(Date())
        var seq = tx.head ?? 0
        if tx.head == nil { seq = try await tx.row("SELECT head FROM journal_state WHERE id = 0")?["head"].decode(Int64.self) ?? 0 }
        for ref in blobs where !ref.isPiece {
            try await tx.execute("""
                INSERT INTO garbage (provider, blob, added_ms, readable, added_seq) VALUES (\(ref.provider), \(ref.blob), \(now), \(readable), \(seq))
                ON CONFLICT DO NOTHING
                """)
        }
    }

    /// Lists a pack as garbage once its batch is over and none of its pieces is live.
    static func dropPackIfDead(_ tx: Tx, _ pack: BlobRef, readable: Bool) async throws {
        guard try await tx.row("DELETE FROM pack WHERE provider = \(pack.provider) AND blob = \(pack.blob) AND live = 0 AND NOT open RETURNING blob") != nil
        else { return }
        try await addGarbage(tx, [pack], readable: readable)
    }

    /// Numbers a change and keeps it in the journal, in the transaction that makes it.
    static func journal(_ tx: Tx, _ change: CatalogChange) async throws {
        // One round trip: the head moves and the entry takes its number.
        tx.head = try await tx.row("""
            WITH moved AS (UPDATE journal_state SET head = head + 1 WHERE id = 0 RETURNING head)
            INSERT INTO journal (seq, change) SELECT head, \(try json(change)) FROM moved RETURNING seq
            """)?["seq"].decode(Int64.self)
    }

    /// Deletes an intent, which must still exist; its blobs the record does not keep go to garbage.
    /// A pack intent stays (other versions of its batch commit under it too): the pieces the
    /// record keeps are counted live instead.
    static func retire(_ tx: Tx, intent: String, keeping: [BlobRef]) async throws {
        if WriteIntent.isPack(intent) {
            guard try await tx.row("SELECT 1 AS present FROM intent WHERE id = \(intent)") != nil else {
                throw NuageError(.preconditionFailed, "write intent \(intent) expired before the commit (the write outlived gc's grace period)")
            }
            for piece in keeping where piece.isPiece {
                try await tx.execute("UPDATE pack SET live = live + 1 WHERE provider = \(piece.provider) AND blob = \(piece.blob)")
            }
            return
        }
        guard let row = try await tx.row("DELETE FROM intent WHERE id = \(intent) RETURNING blobs") else {
            throw NuageError(.preconditionFailed, "write intent \(intent) expired before the commit (the write outlived gc's grace period)")
        }
        let kept = Set(keeping)
        try await addGarbage(tx, try decode([BlobRef].self, try row["blobs"].decode(String.self)).filter { !kept.contains($0) })
    }

    static func fetchParts(_ tx: Tx, uploadID: String, number: Int? = nil) async throws -> [PartRecord] {
        let rows = if let number {
            try await tx.rows("SELECT * FROM upload_part WHERE upload_id = \(uploadID) AND number = \(Int64(number)) ORDER BY number")
        } else {
            try await tx.rows("SELECT * FROM upload_part WHERE upload_id = \(uploadID) ORDER BY number")
        }
        return try rows.map { row in
            PartRecord(uploadID: try row["upload_id"].decode(String.self), number: Int(try row["number"].decode(Int64.self)),
                       size: try row["size"].decode(Int64.self), etag: try row["etag"].decode(String.self),
                       modified: date(try row["modified_ms"].decode(Int64.self)),
                       manifest: try decode(Manifest.self, try row["manifest"].decode(String.self)),
                       checksums: try row["checksums"].decode(String?.self).map { try decode([String: String].self, $0) } ?? [:])
        }
    }

    static func fetchUpload(_ tx: Tx, id: String) async throws -> UploadRecord? {
        try await tx.row("SELECT * FROM upload WHERE id = \(id)").map(uploadRecord)
    }

    /// Forgets an upload; the blobs of its parts not in `keeping` (version ids) go to garbage.
    static func dropUpload(_ tx: Tx, id: String, keeping: Set<[UInt8]>) async throws {
        for part in try await fetchParts(tx, uploadID: id) where !keeping.contains(part.manifest.versionID) {
            try await addGarbage(tx, part.manifest.blobs)
        }
        try await tx.execute("DELETE FROM upload_part WHERE upload_id = \(id)")
        try await tx.execute("DELETE FROM upload WHERE id = \(id)")
    }

    static func fetchJournalBlobs(_ tx: Tx) async throws -> [JournalBlob] {
        try await tx.rows("SELECT kind, first, last, copies FROM journal_blob ORDER BY last, kind").map(journalBlob)
    }

    static func insertJournalBlob(_ tx: Tx, _ blob: JournalBlob) async throws {
        try await tx.execute("INSERT INTO journal_blob (kind, first, last, copies) VALUES (\(blob.kind.rawValue), \(blob.first), \(blob.last), \(try json(blob.copies)))")
    }

    static func insertAccessKey(_ tx: Tx, _ key: AccessKeyRecord) async throws {
        try await tx.execute("""
            INSERT INTO access_key (id, name, owner, sealed_secret, read_only, buckets, created_ms)
            VALUES (\(key.id), \(key.name), \(key.owner), \(Data(key.sealedSecret)), \(key.readOnly), \(try json(key.buckets)), \(ms(key.created)))
            """)
    }

    static func fetchKMSKeys(_ tx: Tx) async throws -> [KMSKeyRecord] {
        try await tx.rows("SELECT record FROM kms_key ORDER BY name").map { try decode(KMSKeyRecord.self, try $0["record"].decode(String.self)) }
    }
}
