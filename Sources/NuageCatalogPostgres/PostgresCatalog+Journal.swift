import Foundation
import NuageCatalog
import NuageCore
import PostgresNIO

/// Access keys, KMS keys, the journal, snapshots and restores.
extension PostgresCatalog {
    // MARK: Access keys

    public func createAccessKey(_ key: AccessKeyRecord) async throws {
        try await write { tx in
            guard try await tx.row("SELECT 1 FROM access_key WHERE id = \(key.id)") == nil else {
                throw NuageError(.invalidArgument, "access key \(key.id) already exists")
            }
            try await Self.insertAccessKey(tx, key)
            try await Self.journal(tx, .accessKeyCreated(key))
        }
    }

    public func accessKey(id: String) async throws -> AccessKeyRecord? {
        try await read { tx in try await Self.fetchAccessKey(tx, id: id) }
    }

    public func accessKey(id: String, bucket: String?) async throws -> (key: AccessKeyRecord?, bucket: BucketRecord?) {
        try await read { tx in
            let key = try await Self.fetchAccessKey(tx, id: id)
            guard let bucket else { return (key, nil) }
            return (key, try await Self.fetchBucket(tx, bucket))
        }
    }

    public func listAccessKeys() async throws -> [AccessKeyRecord] {
        try await read { tx in try await tx.rows("SELECT * FROM access_key ORDER BY created_ms, id").map(Self.accessKeyRecord) }
    }

    public func deleteAccessKey(id: String) async throws -> Bool {
        try await write { tx in
            guard try await tx.row("DELETE FROM access_key WHERE id = \(id) RETURNING id") != nil else { return false }
            try await Self.journal(tx, .accessKeyDeleted(id))
            return true
        }
    }

    public func updateAccessKey(_ key: AccessKeyRecord) async throws {
        let buckets = try Self.json(key.buckets)
        try await write { tx in
            guard try await tx.row("""
                UPDATE access_key SET name = \(key.name), owner = \(key.owner), sealed_secret = \(Data(key.sealedSecret)), read_only = \(key.readOnly),
                buckets = \(buckets), created_ms = \(Self.ms(key.created)) WHERE id = \(key.id) RETURNING id
                """) != nil else { throw NuageError(.invalidArgument, "no access key \(key.id)") }
            try await Self.journal(tx, .accessKeyCreated(key))
        }
    }

    // MARK: KMS keys

    public func createKMSKey(_ key: KMSKeyRecord) async throws {
        let record = try Self.json(key)
        try await write { tx in
            guard try await tx.row("SELECT 1 FROM kms_key WHERE name = \(key.name)") == nil else {
                throw NuageError(.invalidArgument, "KMS key \(key.name) exists (or existed: names are never reused)")
            }
            try await tx.execute("INSERT INTO kms_key (name, record) VALUES (\(key.name), \(record))")
            try await Self.journal(tx, .kmsKeyChanged(key))
        }
    }

    public func kmsKeys() async throws -> [KMSKeyRecord] {
        try await read { tx in try await Self.fetchKMSKeys(tx) }
    }

    public func updateKMSKey(_ key: KMSKeyRecord) async throws {
        let record = try Self.json(key)
        try await write { tx in
            guard try await tx.row("UPDATE kms_key SET record = \(record) WHERE name = \(key.name) RETURNING name") != nil else {
                throw NuageError(.invalidArgument, "no KMS key \(key.name)")
            }
            try await Self.journal(tx, .kmsKeyChanged(key))
        }
    }

    // MARK: Journal

    public func journalState() async throws -> JournalState {
        try await read { tx in
            let row = try await tx.row("SELECT head, durable, snapshot FROM journal_state WHERE id = 0")
            return JournalState(head: try row?["head"].decode(Int64.self) ?? 0, durable: try row?["durable"].decode(Int64.self) ?? 0,
                                snapshot: try row?["snapshot"].decode(Int64.self) ?? 0)
        }
    }

    public func journalEntries(after seq: Int64, limit: Int) async throws -> [JournalEntry] {
        try await read { tx in
            try await tx.rows("SELECT seq, change FROM journal WHERE seq > \(seq) ORDER BY seq LIMIT \(Int64(max(0, limit)))").map { row in
                JournalEntry(seq: try row["seq"].decode(Int64.self), change: try Self.decode(CatalogChange.self, try row["change"].decode(String.self)))
            }
        }
    }

    public func noteJournalSegment(_ blob: JournalBlob) async throws {
        try await write { tx in
            try await Self.insertJournalBlob(tx, blob)
            try await tx.execute("UPDATE journal_state SET durable = GREATEST(durable, \(blob.last)) WHERE id = 0")
            try await tx.execute("DELETE FROM journal WHERE seq <= \(blob.last)")
        }
    }

    public func snapshot() async throws -> CatalogSnapshot {
        try await read { tx in
            CatalogSnapshot(seq: try await tx.row("SELECT head FROM journal_state WHERE id = 0")?["head"].decode(Int64.self) ?? 0,
                            buckets: try await tx.rows("SELECT \(unescaped: Self.bucketColumns) FROM bucket ORDER BY name").map(Self.bucketRecord),
                            objects: try await tx.rows("SELECT \(unescaped: Self.objectColumns) FROM object ORDER BY bucket, key").map(Self.objectRecord),
                            versions: try await tx.rows("SELECT \(unescaped: Self.versionColumns) FROM object_version ORDER BY bucket, key, seq")
                                .map(Self.objectRecord),
                            accessKeys: try await tx.rows("SELECT * FROM access_key ORDER BY id").map(Self.accessKeyRecord),
                            kmsKeys: try await Self.fetchKMSKeys(tx))
        }
    }

    public func noteJournalSnapshot(_ blob: JournalBlob) async throws {
        try await write { tx in
            for old in try await Self.fetchJournalBlobs(tx)
            where (old.kind == .segment && old.last <= blob.last) || (old.kind == .snapshot && old.last < blob.last) {
                try await Self.addGarbage(tx, old.copies)
                try await Self.deleteJournalBlob(tx, old)
            }
            try await Self.insertJournalBlob(tx, blob)
            try await tx.execute("""
                UPDATE journal_state SET durable = GREATEST(durable, \(blob.last)), snapshot = GREATEST(snapshot, \(blob.last)) WHERE id = 0
                """)
            try await tx.execute("DELETE FROM journal WHERE seq <= \(blob.last)")
        }
    }

    public func journalBlobs() async throws -> [JournalBlob] {
        try await read { tx in try await Self.fetchJournalBlobs(tx) }
    }

    public func noteJournalBlob(_ blob: JournalBlob) async throws {
        try await write { tx in try await Self.insertJournalBlob(tx, blob) }
    }

    public func retireJournalBlobs(_ blobs: [JournalBlob]) async throws {
        try await write { tx in
            for blob in blobs where try await Self.deleteJournalBlob(tx, blob) { try await Self.addGarbage(tx, blob.copies) }
        }
    }

    /// - Returns: whether a row went.
    @discardableResult
    static func deleteJournalBlob(_ tx: Tx, _ blob: JournalBlob) async throws -> Bool {
        try await tx.row("""
            DELETE FROM journal_blob WHERE kind = \(blob.kind.rawValue) AND first = \(blob.first) AND last = \(blob.last)
            AND copies = \(try json(blob.copies)) RETURNING kind
            """) != nil
    }

    public func restore(_ state: CatalogSnapshot, blobs: [JournalBlob]) async throws {
        try await write { tx in
            guard try await tx.row("SELECT 1 FROM bucket UNION ALL SELECT 1 FROM access_key UNION ALL SELECT 1 FROM kms_key LIMIT 1") == nil else {
                throw NuageError(.invalidArgument, "the catalog is not empty: restore only fills a new one")
            }
            for bucket in state.buckets {
                try await tx.execute("""
                    INSERT INTO bucket (\(unescaped: Self.bucketColumns)) VALUES (\(bucket.name), \(Self.ms(bucket.created)),
                    \(try bucket.encryption.map(Self.json)), \(bucket.tagging), \(bucket.cors), \(bucket.lifecycle), \(bucket.policy), \(bucket.owner),
                    \(bucket.versioning?.rawValue), \(bucket.objectLock))
                    """)
            }
            for key in state.kmsKeys { try await tx.execute("INSERT INTO kms_key (name, record) VALUES (\(key.name), \(try Self.json(key)))") }
            for object in state.objects { try await Self.insertObject(tx, object) }
            for version in state.versions { try await Self.insertOlder(tx, version) }
            for (pack, live) in CatalogSnapshot.livePieces(state) {
                try await tx.execute("INSERT INTO pack (provider, blob, live, open) VALUES (\(pack.provider), \(pack.blob), \(live), false)")
            }
            for key in state.accessKeys { try await Self.insertAccessKey(tx, key) }
            for blob in blobs { try await Self.insertJournalBlob(tx, blob) }
            let snapshot = blobs.filter { $0.kind == .snapshot }.map(\.last).max() ?? 0
            try await tx.execute("UPDATE journal_state SET head = \(state.seq), durable = \(state.seq), snapshot = \(snapshot) WHERE id = 0")
        }
    }
}
