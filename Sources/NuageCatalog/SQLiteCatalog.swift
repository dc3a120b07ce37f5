import Foundation
import GRDB
import NuageCore

/// The embedded catalog: one SQLite database in WAL mode, schema versioned by migrations.
///
/// Keys are stored as BLOBs of their UTF-8 bytes so that SQLite's `memcmp` ordering is S3's
/// listing order and prefix scans are plain range scans. Manifests and metadata are JSON.
public final class SQLiteCatalog: Catalog {
    private let pool: DatabasePool

    /// Opens (creating if needed) the catalog at `path` and applies pending migrations.
    /// - Throws: `NuageError.configuration` when the file cannot be opened or migrated.
    public init(path: String) throws {
        var configuration = Configuration()
        // A command (rotate-master, drain) waits for the gateway's writes; under steady client
        // writes SQLite's busy handler can take more than 10 s to get a turn (seen in e2e).
        configuration.busyMode = .timeout(30)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // Deleted content is overwritten with zeros, so that a destroyed KMS key's wrapped
            // bytes (and journal entries that held them) do not linger in free pages.
            try db.execute(sql: "PRAGMA secure_delete = ON")
        }
        do {
            try Self.restrictToOwner(path)
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(pool)
        } catch {
            throw NuageError(.configuration, "cannot open catalog \(path)", cause: error)
        }
    }

    /// Creates the database file readable by its owner only (0600), and takes group and other
    /// permissions away from an existing one and its journals: SQLite gives `-wal` and `-shm`
    /// the database file's mode.
    static func restrictToOwner(_ path: String) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw NuageError(.configuration, "cannot open catalog \(path): \(String(cString: strerror(errno)))") }
        close(fd)
        for file in [path, path + "-wal", path + "-shm"] {
            var info = stat()
            if stat(file, &info) == 0, info.st_mode & 0o077 != 0 { chmod(file, info.st_mode & 0o700) }
        }
    }

    /// Schema history. Append migrations; never edit one that has shipped.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: buckets, objects, intents, garbage, repairs") { db in
            try db.execute(sql: """
                CREATE TABLE bucket (name TEXT PRIMARY KEY, created_ms INTEGER NOT NULL);
                CREATE TABLE object (
                    bucket TEXT NOT NULL REFERENCES bucket(name),
                    key BLOB NOT NULL,
                    version_id BLOB NOT NULL,
                    size INTEGER NOT NULL,
                    etag TEXT NOT NULL,
                    modified_ms INTEGER NOT NULL,
                    metadata TEXT NOT NULL,
                    manifest TEXT NOT NULL,
                    PRIMARY KEY (bucket, key)
                ) WITHOUT ROWID;
                CREATE TABLE intent (id TEXT PRIMARY KEY, created_ms INTEGER NOT NULL, blobs TEXT NOT NULL);
                CREATE TABLE garbage (provider TEXT NOT NULL, blob TEXT NOT NULL, PRIMARY KEY (provider, blob)) WITHOUT ROWID;
                CREATE TABLE repair (
                    version_id BLOB NOT NULL, shard INTEGER NOT NULL, reason TEXT NOT NULL, noted_ms INTEGER NOT NULL,
                    PRIMARY KEY (version_id, shard)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v2: access keys") { db in
            try db.execute(sql: """
                CREATE TABLE access_key (
                    id TEXT PRIMARY KEY, name TEXT NOT NULL, sealed_secret BLOB NOT NULL,
                    read_only INTEGER NOT NULL, buckets TEXT NOT NULL, created_ms INTEGER NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v3: objects of several parts; multipart uploads") { db in
            try db.execute(sql: """
                ALTER TABLE object RENAME COLUMN manifest TO parts;
                UPDATE object SET parts = '[' || parts || ']';
                CREATE TABLE upload (
                    id TEXT PRIMARY KEY,
                    bucket TEXT NOT NULL REFERENCES bucket(name),
                    key BLOB NOT NULL,
                    created_ms INTEGER NOT NULL,
                    metadata TEXT NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX upload_by_key ON upload (bucket, key, id);
                CREATE TABLE upload_part (
                    upload_id TEXT NOT NULL REFERENCES upload(id),
                    number INTEGER NOT NULL,
                    size INTEGER NOT NULL,
                    etag TEXT NOT NULL,
                    modified_ms INTEGER NOT NULL,
                    manifest TEXT NOT NULL,
                    PRIMARY KEY (upload_id, number)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v4: repair notes name their object") { db in
            try db.execute(sql: """
                DROP TABLE repair;
                CREATE TABLE repair (
                    version_id BLOB NOT NULL, shard INTEGER NOT NULL, bucket TEXT NOT NULL, key BLOB NOT NULL,
                    reason TEXT NOT NULL, noted_ms INTEGER NOT NULL,
                    PRIMARY KEY (version_id, shard)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v5: garbage that reads may still need waits") { db in
            try db.execute(sql: """
                ALTER TABLE garbage ADD COLUMN added_ms INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE garbage ADD COLUMN readable INTEGER NOT NULL DEFAULT 0;
                """)
        }
        migrator.registerMigration("v6: when each version was last scrubbed") { db in
            try db.execute(sql: """
                CREATE TABLE scrub (version_id BLOB PRIMARY KEY, light_ms INTEGER, deep_ms INTEGER) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v7: the journal of changes, copied to providers") { db in
            try db.execute(sql: """
                CREATE TABLE journal (seq INTEGER PRIMARY KEY, change TEXT NOT NULL);
                CREATE TABLE journal_state (id INTEGER PRIMARY KEY CHECK (id = 0), head INTEGER NOT NULL,
                                            durable INTEGER NOT NULL, snapshot INTEGER NOT NULL);
                INSERT INTO journal_state (id, head, durable, snapshot) VALUES (0, 0, 0, 0);
                CREATE TABLE journal_blob (kind TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL, copies TEXT NOT NULL);
                ALTER TABLE garbage ADD COLUMN added_seq INTEGER NOT NULL DEFAULT 0;
                """)
        }
        migrator.registerMigration("v8: KMS keys; bucket default encryption") { db in
            try db.execute(sql: """
                CREATE TABLE kms_key (name TEXT PRIMARY KEY, record TEXT NOT NULL);
                ALTER TABLE bucket ADD COLUMN encryption TEXT;
                """)
        }
        migrator.registerMigration("v9: bucket tags") { db in
            try db.execute(sql: "ALTER TABLE bucket ADD COLUMN tagging TEXT")
        }
        migrator.registerMigration("v10: bucket CORS, lifecycle and policy") { db in
            try db.execute(sql: """
                ALTER TABLE bucket ADD COLUMN cors TEXT;
                ALTER TABLE bucket ADD COLUMN lifecycle TEXT;
                ALTER TABLE bucket ADD COLUMN policy TEXT;
                """)
        }
        migrator.registerMigration("v11: owners") { db in
            try db.execute(sql: """
                ALTER TABLE bucket ADD COLUMN owner TEXT NOT NULL DEFAULT 'nuage';
                ALTER TABLE access_key ADD COLUMN owner TEXT NOT NULL DEFAULT 'nuage';
                """)
        }
        migrator.registerMigration("v12: part checksums") { db in
            try db.execute(sql: "ALTER TABLE upload_part ADD COLUMN checksums TEXT")
        }
        migrator.registerMigration("v13: versioning and Object Lock") { db in
            // `object` keeps each key's current version; `object_version` its older versions
            // and delete markers, `seq` growing with each newer one.
            try db.execute(sql: """
                ALTER TABLE bucket ADD COLUMN versioning TEXT;
                ALTER TABLE bucket ADD COLUMN object_lock TEXT;
                ALTER TABLE object ADD COLUMN versioned INTEGER NOT NULL DEFAULT 0;
                CREATE TABLE object_version (
                    bucket TEXT NOT NULL REFERENCES bucket(name),
                    key BLOB NOT NULL,
                    seq INTEGER NOT NULL,
                    version_id BLOB NOT NULL,
                    versioned INTEGER NOT NULL,
                    marker INTEGER NOT NULL,
                    size INTEGER NOT NULL,
                    etag TEXT NOT NULL,
                    modified_ms INTEGER NOT NULL,
                    metadata TEXT NOT NULL,
                    parts TEXT NOT NULL,
                    PRIMARY KEY (bucket, key, seq)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v14: job leases") { db in
            try db.execute(sql: "CREATE TABLE lease (job TEXT PRIMARY KEY, holder TEXT NOT NULL, until_ms INTEGER NOT NULL) WITHOUT ROWID")
        }
        migrator.registerMigration("v15: packs") { db in
            try db.execute(sql: """
                CREATE TABLE pack (provider TEXT NOT NULL, blob TEXT NOT NULL, live INTEGER NOT NULL, open INTEGER NOT NULL,
                                   PRIMARY KEY (provider, blob)) WITHOUT ROWID
                """)
        }
        return migrator
    }

    // MARK: Buckets

    public func createBucket(_ name: String, owner: String, objectLock: String?) async throws {
        try await write { db in
            guard try Self.bucketExists(db, name) == false else {
                throw NuageError(.bucketAlreadyExists, "bucket \(name) already exists")
            }
            let created = Date(timeIntervalSince1970: Double(Self.ms(Date())) / 1000)
            let versioning: VersioningStatus? = objectLock == nil ? nil : .enabled
            try db.cachedStatement(sql: "INSERT INTO bucket (name, created_ms, owner, versioning, object_lock) VALUES (?, ?, ?, ?, ?)").execute(
                           arguments: [name, Self.ms(created), owner, versioning?.rawValue, objectLock])
            try Self.journal(db, .bucketCreated(BucketRecord(name: name, created: created, owner: owner, versioning: versioning, objectLock: objectLock)))
        }
    }

    public func deleteBucket(_ name: String) async throws {
        try await write { db in
            guard try Self.bucketExists(db, name) else { throw NuageError(.noSuchBucket, "bucket \(name) does not exist") }
            guard try Row.fetchOne(try db.cachedStatement(sql: "SELECT 1 FROM object WHERE bucket = ?1 UNION ALL SELECT 1 FROM object_version WHERE bucket = ?1 LIMIT 1"),
                                   arguments: [name]) == nil else {
                throw NuageError(.bucketNotEmpty, "bucket \(name) is not empty")
            }
            for id in try String.fetchAll(try db.cachedStatement(sql: "SELECT id FROM upload WHERE bucket = ?"), arguments: [name]) {
                try Self.dropUpload(db, id: id, keeping: [])
            }
            try db.cachedStatement(sql: "DELETE FROM bucket WHERE name = ?").execute(arguments: [name])
            try Self.journal(db, .bucketDeleted(name))
        }
    }

    public func bucket(_ name: String) async throws -> BucketRecord? {
        try await read { db in try Self.fetchBucket(db, name) }
    }

    private static func fetchBucket(_ db: Database, _ name: String) throws -> BucketRecord? {
        try Row.fetchOne(try db.cachedStatement(sql: "SELECT \(bucketColumns) FROM bucket WHERE name = ?"), arguments: [name]).map(bucketRecord)
    }

    public func listBuckets() async throws -> [BucketRecord] {
        try await read { db in
            try Row.fetchAll(try db.cachedStatement(sql: "SELECT \(Self.bucketColumns) FROM bucket ORDER BY name")).map(Self.bucketRecord)
        }
    }

    public func updateBucket(_ bucket: BucketRecord) async throws {
        let encryption = try bucket.encryption.map(Self.json)
        try await write { db in
            guard let current = try Self.fetchBucket(db, bucket.name) else {
                throw NuageError(.noSuchBucket, "bucket \(bucket.name) does not exist")
            }
            if let reason = BucketRecord.settingsChangeRefusal(from: current, to: bucket) { throw NuageError(.invalidArgument, reason) }
            try db.cachedStatement(sql: """
                UPDATE bucket SET encryption = ?, tagging = ?, cors = ?, lifecycle = ?, policy = ?, versioning = ?, object_lock = ? WHERE name = ?
                """).execute(arguments: [encryption, bucket.tagging, bucket.cors, bucket.lifecycle, bucket.policy, bucket.versioning?.rawValue,
                                 bucket.objectLock, bucket.name])
            var updated = bucket
            updated.created = current.created
            updated.owner = current.owner
            try Self.journal(db, .bucketUpdated(updated))
        }
    }

    // MARK: Intents and commits

    public func recordIntent(_ intent: WriteIntent) async throws {
        let blobs = try Self.json(intent.blobs)
        try await write { db in
            try db.cachedStatement(sql: "INSERT INTO intent (id, created_ms, blobs) VALUES (?, ?, ?)").execute(
                           arguments: [intent.id, Self.ms(intent.created), blobs])
            if intent.isPack {
                for ref in intent.blobs {
                    try db.cachedStatement(sql: "INSERT INTO pack (provider, blob, live, open) VALUES (?, ?, 0, 1)").execute(
                                   arguments: [ref.provider, ref.blob])
                }
            }
        }
    }

    public func commit(_ object: ObjectRecord, intent: String, expectedVersion: [UInt8]?) async throws -> ObjectRecord? {
        let encoded = try EncodedObject(object)
        return try await write { db in
            try Self.retire(db, intent: intent, keeping: object.blobs)
            return try Self.replaceObject(db, encoded, expectedVersion: expectedVersion)
        }
    }

    /// Deletes an intent, which must still exist: if gc gave it up (the write outlived the
    /// grace period), its blobs may already be deleted and committing would lose data.
    /// Its blobs that the committed record does not keep (shards that did not land) go to the
    /// garbage list.
    /// A pack intent stays (other versions of its batch commit under it too): the pieces the
    /// record keeps are counted live instead.
    private static func retire(_ db: Database, intent: String, keeping: [BlobRef]) throws {
        guard let row = try Row.fetchOne(try db.cachedStatement(sql: "SELECT blobs FROM intent WHERE id = ?"), arguments: [intent]) else {
            throw NuageError(.preconditionFailed, "write intent \(intent) expired before the commit (the write outlived gc's grace period)")
        }
        if WriteIntent.isPack(intent) {
            for piece in keeping where piece.isPiece {
                try db.cachedStatement(sql: "UPDATE pack SET live = live + 1 WHERE provider = ? AND blob = ?").execute(
                               arguments: [piece.provider, piece.blob])
            }
            return
        }
        try db.cachedStatement(sql: "DELETE FROM intent WHERE id = ?").execute(arguments: [intent])
        let kept = Set(keeping)
        try addGarbage(db, try decode([BlobRef].self, row["blobs"]).filter { !kept.contains($0) })
    }

    /// An object record with its JSON columns encoded outside the write transaction.
    private struct EncodedObject: Sendable {
        let record: ObjectRecord
        let metadata: String
        let parts: String
        init(_ record: ObjectRecord) throws {
            self.record = record
            metadata = try SQLiteCatalog.json(record.metadata)
            parts = try SQLiteCatalog.json(record.parts)
        }
    }

    /// Makes `object` current; a replaced version's blobs go to garbage.
    private static func replaceObject(_ db: Database, _ encoded: EncodedObject, expectedVersion: [UInt8]?) throws -> ObjectRecord? {
        let object = encoded.record
        guard try bucketExists(db, object.bucket) else {
            throw NuageError(.noSuchBucket, "bucket \(object.bucket) does not exist")
        }
        let previous = try fetchObject(db, bucket: object.bucket, key: object.key)
        if let expectedVersion, (previous?.versionID ?? []) != expectedVersion {
            throw NuageError(.preconditionFailed, "object \(object.key) changed")
        }
        // Journaled first: what the change replaces waits for the change to be at providers.
        try journal(db, .objectPut(object))
        let replaced = try makeRoom(db, for: object, current: previous)
        try db.cachedStatement(sql: """
            INSERT INTO object (bucket, key, version_id, size, etag, modified_ms, metadata, parts, versioned)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [object.bucket, Data(object.key.utf8), Data(object.versionID), object.size,
                             object.etag, ms(object.modified), encoded.metadata, encoded.parts, object.versioned])
        return replaced
    }

    /// Makes room for a newer version of a key (see ``KeyHistory``): the current version leaves
    /// the `object` table, kept as noncurrent unless both are null versions; a null newer
    /// version also replaces an older null version. What is replaced goes to garbage.
    /// - Returns: the replaced current version, if any.
    /// - Throws: `objectLocked` when a version to replace is locked.
    private static func makeRoom(_ db: Database, for newer: ObjectRecord, current: ObjectRecord?) throws -> ObjectRecord? {
        var replaced: ObjectRecord?
        if let current {
            if newer.versioned || current.versioned {
                try insertOlder(db, current)
            } else {
                try ObjectLock.check(current, now: Date(), bypassGovernance: false)
                try discard(db, current)
                replaced = current
            }
            try db.cachedStatement(sql: "DELETE FROM object WHERE bucket = ? AND key = ?").execute(arguments: [current.bucket, Data(current.key.utf8)])
        }
        if !newer.versioned {
            for (seq, old) in try fetchOlder(db, bucket: newer.bucket, key: newer.key) where !old.versioned {
                try ObjectLock.check(old, now: Date(), bypassGovernance: false)
                try discard(db, old)
                try db.cachedStatement(sql: "DELETE FROM object_version WHERE bucket = ? AND key = ? AND seq = ?").execute(
                               arguments: [old.bucket, Data(old.key.utf8), seq])
            }
        }
        return replaced
    }

    /// A removed version's blobs go to garbage (reads that started may still need them), its scrub times go.
    private static func discard(_ db: Database, _ record: ObjectRecord) throws {
        try addGarbage(db, record.blobs, readable: true)
        try db.cachedStatement(sql: "DELETE FROM scrub WHERE version_id = ?").execute(arguments: [Data(record.versionID)])
    }

    /// Keeps `record` as the newest of its key's older versions (or delete markers).
    private static func insertOlder(_ db: Database, _ record: ObjectRecord) throws {
        let key = Data(record.key.utf8)
        let seq = (try Int64.fetchOne(try db.cachedStatement(sql: "SELECT MAX(seq) FROM object_version WHERE bucket = ? AND key = ?"),
                                      arguments: [record.bucket, key]) ?? 0) + 1
        try db.cachedStatement(sql: """
            INSERT INTO object_version (bucket, key, seq, version_id, versioned, marker, size, etag, modified_ms, metadata, parts)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [record.bucket, key, seq, Data(record.versionID), record.versioned, record.deleteMarker, record.size,
                             record.etag, ms(record.modified), try json(record.metadata), try json(record.parts)])
    }

    /// A key's older versions and delete markers, newest first, with their `seq`.
    private static func fetchOlder(_ db: Database, bucket: String, key: String) throws -> [(seq: Int64, record: ObjectRecord)] {
        try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM object_version WHERE bucket = ? AND key = ? ORDER BY seq DESC"),
                         arguments: [bucket, Data(key.utf8)]).map { (seq: $0["seq"], record: try objectRecord($0)) }
    }

    /// When a key has no current version and its newest older one is not a delete marker, that
    /// one becomes current.
    private static func promote(_ db: Database, bucket: String, key: String) throws {
        guard try fetchObject(db, bucket: bucket, key: key) == nil,
              let (seq, newest) = try fetchOlder(db, bucket: bucket, key: key).first, !newest.deleteMarker else { return }
        try db.cachedStatement(sql: "DELETE FROM object_version WHERE bucket = ? AND key = ? AND seq = ?").execute(arguments: [bucket, Data(key.utf8), seq])
        try db.cachedStatement(sql: """
            INSERT INTO object (bucket, key, version_id, size, etag, modified_ms, metadata, parts, versioned)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [bucket, Data(key.utf8), Data(newest.versionID), newest.size, newest.etag, ms(newest.modified),
                             try json(newest.metadata), try json(newest.parts), newest.versioned])
    }

    public func abandonIntent(_ id: String) async throws {
        try await write { db in
            guard let row = try Row.fetchOne(try db.cachedStatement(sql: "SELECT blobs FROM intent WHERE id = ?"), arguments: [id]) else { return }
            let blobs = try Self.decode([BlobRef].self, row["blobs"])
            try db.cachedStatement(sql: "DELETE FROM intent WHERE id = ?").execute(arguments: [id])
            guard WriteIntent.isPack(id) else { return try Self.addGarbage(db, blobs) }
            // The batch is over: a pack no committed version keeps a piece of goes now.
            for pack in blobs {
                try db.cachedStatement(sql: "UPDATE pack SET open = 0 WHERE provider = ? AND blob = ?").execute(arguments: [pack.provider, pack.blob])
                try Self.dropPackIfDead(db, pack, readable: true)
            }
        }
    }

    public func intents(before date: Date) async throws -> [WriteIntent] {
        try await read { db in
            try Row.fetchAll(try db.cachedStatement(sql: "SELECT id, created_ms, blobs FROM intent WHERE created_ms < ? ORDER BY created_ms"),
                             arguments: [Self.ms(date)]).map { row in
                WriteIntent(id: row["id"], created: Self.date(row["created_ms"]),
                            blobs: try Self.decode([BlobRef].self, row["blobs"]))
            }
        }
    }

    // MARK: Objects

    public func object(bucket: String, key: String) async throws -> ObjectRecord? {
        try await read { db in try Self.fetchObject(db, bucket: bucket, key: key) }
    }

    public func version(bucket: String, key: String, versionID: [UInt8]?) async throws -> ObjectRecord? {
        try await read { db in try Self.fetchVersion(db, bucket: bucket, key: key, versionID: versionID)?.record }
    }

    /// The version with this id (nil: the null version), with its `seq` when it is not current.
    private static func fetchVersion(_ db: Database, bucket: String, key: String, versionID: [UInt8]?) throws -> (seq: Int64?, record: ObjectRecord)? {
        if let current = try fetchObject(db, bucket: bucket, key: key),
           versionID.map({ $0 == current.versionID }) ?? !current.versioned { return (nil, current) }
        return try fetchOlder(db, bucket: bucket, key: key)
            .first { versionID.map($0.record.versionID.elementsEqual) ?? !$0.record.versioned }
            .map { (seq: $0.seq, record: $0.record) }
    }

    public func deleteObject(bucket: String, key: String, ifVersion version: [UInt8]?, marker: ObjectRecord?) async throws -> ObjectRecord? {
        try await write { db in
            guard try Self.bucketExists(db, bucket) else { throw NuageError(.noSuchBucket, "bucket \(bucket) does not exist") }
            let previous = try Self.fetchObject(db, bucket: bucket, key: key)
            if let version, (previous?.versionID ?? []) != version { return nil }
            if let marker {
                guard marker.deleteMarker, marker.bucket == bucket, marker.key == key else {
                    throw NuageError(.internalError, "a delete marker for \(bucket)/\(key) is not one")
                }
                try Self.journal(db, .deleteMarkerPut(marker))
                let replaced = try Self.makeRoom(db, for: marker, current: previous)
                try Self.insertOlder(db, marker)
                return replaced
            }
            guard let previous else { return nil }
            try ObjectLock.check(previous, now: Date(), bypassGovernance: false)
            try db.cachedStatement(sql: "DELETE FROM object WHERE bucket = ? AND key = ?").execute(arguments: [bucket, Data(key.utf8)])
            try Self.journal(db, .objectDeleted(bucket: bucket, key: key))
            try Self.discard(db, previous)
            try Self.promote(db, bucket: bucket, key: key)
            return previous
        }
    }

    public func deleteVersion(bucket: String, key: String, versionID: [UInt8], bypassGovernance: Bool, now: Date) async throws -> ObjectRecord? {
        try await write { db in
            guard try Self.bucketExists(db, bucket) else { throw NuageError(.noSuchBucket, "bucket \(bucket) does not exist") }
            guard let (seq, record) = try Self.fetchVersion(db, bucket: bucket, key: key, versionID: versionID) else { return nil }
            try ObjectLock.check(record, now: now, bypassGovernance: bypassGovernance)
            if let seq {
                try db.cachedStatement(sql: "DELETE FROM object_version WHERE bucket = ? AND key = ? AND seq = ?").execute(arguments: [bucket, Data(key.utf8), seq])
            } else {
                try db.cachedStatement(sql: "DELETE FROM object WHERE bucket = ? AND key = ?").execute(arguments: [bucket, Data(key.utf8)])
            }
            try Self.journal(db, .versionDeleted(bucket: bucket, key: key, versionID: versionID))
            try Self.discard(db, record)
            try Self.promote(db, bucket: bucket, key: key)
            return record
        }
    }

    public func listVersions(bucket: String, prefix: String, after: (key: String, versionID: [UInt8]?)?, limit: Int) async throws -> [ObjectVersion] {
        let upper = KeyRange.successor(of: Array(prefix.utf8)).map { Data($0) }
        return try await read { db in
            guard try Self.bucketExists(db, bucket) else { throw NuageError(.noSuchBucket, "bucket \(bucket) does not exist") }
            // One lower bound each (see KeyRange.lowerBound): current versions after the marker's
            // key; older ones from it, within its key only older than the version named.
            let lower = KeyRange.lowerBound(prefix: prefix, after: after?.key)
            var currentRange = "bucket = ? AND key \(lower.inclusive ? ">=" : ">") ?", olderRange = "bucket = ? AND key >= ?"
            var currentArguments: StatementArguments = [bucket, lower.key], olderArguments: StatementArguments = [bucket, lower.key]
            if let after, !lower.inclusive {
                switch try after.versionID.flatMap({ try Self.fetchVersion(db, bucket: bucket, key: after.key, versionID: $0) }) {
                case let (seq?, _)?:
                    olderRange += " AND (key > ? OR seq < ?)"
                    olderArguments += [lower.key, seq]
                case (nil, _)?: break  // after the current version: every older one of the key
                case nil:
                    olderRange += " AND key > ?"
                    olderArguments += [lower.key]
                }
            }
            if let upper {
                currentRange += " AND key < ?"
                currentArguments += [upper]
                olderRange += " AND key < ?"
                olderArguments += [upper]
            }
            let current = try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM object WHERE \(currentRange) ORDER BY key LIMIT ?"),
                                           arguments: currentArguments + [max(0, limit)]).map(Self.objectRecord)
            let older = try Row.fetchAll(db, sql: """
                SELECT v.*, (NOT EXISTS (SELECT 1 FROM object o WHERE o.bucket = v.bucket AND o.key = v.key)
                             AND v.seq = (SELECT MAX(w.seq) FROM object_version w WHERE w.bucket = v.bucket AND w.key = v.key)) AS latest
                FROM object_version v WHERE \(olderRange) ORDER BY key, seq DESC LIMIT ?
                """, arguments: olderArguments + [max(0, limit)]).map { ObjectVersion(record: try Self.objectRecord($0), isLatest: $0["latest"]) }
            return ObjectVersion.merge(current: current, older: older, limit: limit)
        }
    }

    public func replaceMetadata(bucket: String, key: String, versionID: [UInt8], metadata: [String: String],
                                bypassGovernance: Bool, now: Date) async throws -> ObjectRecord? {
        let encoded = try Self.json(metadata)
        return try await write { db in
            guard try Self.bucketExists(db, bucket) else { throw NuageError(.noSuchBucket, "bucket \(bucket) does not exist") }
            guard let found = try Self.fetchVersion(db, bucket: bucket, key: key, versionID: versionID), !found.record.deleteMarker else { return nil }
            var record = found.record
            if let reason = ObjectLock.weakening(record.metadata, metadata, now: now, bypassGovernance: bypassGovernance) {
                throw NuageError(.objectLocked, "version \(record.s3VersionID) of \(key) keeps its retention: \(reason)")
            }
            if let seq = found.seq {
                try db.cachedStatement(sql: "UPDATE object_version SET metadata = ? WHERE bucket = ? AND key = ? AND seq = ?").execute(
                               arguments: [encoded, bucket, Data(key.utf8), seq])
            } else {
                try db.cachedStatement(sql: "UPDATE object SET metadata = ? WHERE bucket = ? AND key = ?").execute(arguments: [encoded, bucket, Data(key.utf8)])
            }
            record.metadata = metadata
            try Self.journal(db, .metadataReplaced(bucket: bucket, key: key, versionID: versionID, metadata: metadata))
            return record
        }
    }

    public func listObjects(bucket: String, prefix: String, after: String?, limit: Int) async throws -> [ObjectRecord] {
        let lower = KeyRange.lowerBound(prefix: prefix, after: after)
        let upper = KeyRange.successor(of: Array(prefix.utf8)).map { Data($0) }
        return try await read { db in
            guard try Self.bucketExists(db, bucket) else { throw NuageError(.noSuchBucket, "bucket \(bucket) does not exist") }
            var sql = "SELECT * FROM object WHERE bucket = ? AND key \(lower.inclusive ? ">=" : ">") ?"
            var arguments: StatementArguments = [bucket, lower.key]
            if let upper { sql += " AND key < ?"; arguments += [upper] }
            sql += " ORDER BY key LIMIT ?"
            arguments += [max(0, limit)]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.objectRecord)
        }
    }

    public func updateManifest(bucket: String, key: String, versionID: [UInt8], manifest: Manifest,
                               retiringIntent intent: String?) async throws -> Bool {
        try await write { db in
            let candidates = (try Self.fetchObject(db, bucket: bucket, key: key).map { [(seq: Int64?.none, record: $0)] } ?? [])
                + (try Self.fetchOlder(db, bucket: bucket, key: key).map { (seq: Optional($0.seq), record: $0.record) })
            guard let (seq, found) = candidates.first(where: { $0.record.parts.contains { $0.versionID == versionID } }),
                  let index = found.parts.firstIndex(where: { $0.versionID == versionID }) else { return false }
            var object = found
            let dropped = Set(object.parts[index].blobs).subtracting(manifest.blobs)
            object.parts[index] = manifest
            if let seq {
                try db.cachedStatement(sql: "UPDATE object_version SET parts = ? WHERE bucket = ? AND key = ? AND seq = ?").execute(
                               arguments: [try Self.json(object.parts), bucket, Data(key.utf8), seq])
            } else {
                try db.cachedStatement(sql: "UPDATE object SET parts = ? WHERE bucket = ? AND key = ?").execute(
                               arguments: [try Self.json(object.parts), bucket, Data(key.utf8)])
            }
            try Self.journal(db, .manifestUpdated(bucket: bucket, key: key, manifest: manifest))
            if let intent { try Self.retire(db, intent: intent, keeping: manifest.blobs) }
            try Self.addGarbage(db, dropped.sorted { $0.description < $1.description }, readable: true)
            return true
        }
    }

    // MARK: Multipart uploads

    public func createUpload(_ upload: UploadRecord) async throws {
        let metadata = try Self.json(upload.metadata)
        try await write { db in
            guard try Self.bucketExists(db, upload.bucket) else { throw NuageError(.noSuchBucket, "bucket \(upload.bucket) does not exist") }
            try db.cachedStatement(sql: "INSERT INTO upload (id, bucket, key, created_ms, metadata) VALUES (?, ?, ?, ?, ?)").execute(
                           arguments: [upload.id, upload.bucket, Data(upload.key.utf8), Self.ms(upload.created), metadata])
        }
    }

    public func upload(id: String) async throws -> UploadRecord? {
        try await read { db in try Self.fetchUpload(db, id: id) }
    }

    public func listUploads(bucket: String, prefix: String, after: (key: String, id: String?)?, limit: Int) async throws -> [UploadRecord] {
        let lower = KeyRange.lowerBound(prefix: prefix, after: after?.key)
        let upper = KeyRange.successor(of: Array(prefix.utf8)).map { Data($0) }
        return try await read { db in
            guard try Self.bucketExists(db, bucket) else { throw NuageError(.noSuchBucket, "bucket \(bucket) does not exist") }
            // One lower bound (see KeyRange.lowerBound); within the marker's key, uploads after its id.
            var sql = "SELECT * FROM upload WHERE bucket = ?", arguments: StatementArguments = [bucket]
            if let id = after?.id, !lower.inclusive {
                sql += " AND key >= ? AND (key > ? OR id > ?)"
                arguments += [lower.key, lower.key, id]
            } else {
                sql += " AND key \(lower.inclusive ? ">=" : ">") ?"
                arguments += [lower.key]
            }
            if let upper { sql += " AND key < ?"; arguments += [upper] }
            sql += " ORDER BY key, id LIMIT ?"
            arguments += [max(0, limit)]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.uploadRecord)
        }
    }

    public func uploads(before date: Date) async throws -> [UploadRecord] {
        try await read { db in
            try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM upload WHERE created_ms < ? ORDER BY created_ms"), arguments: [Self.ms(date)])
                .map(Self.uploadRecord)
        }
    }

    public func commitPart(_ part: PartRecord, intent: String) async throws -> PartRecord? {
        let manifest = try Self.json(part.manifest)
        let checksums = part.checksums.isEmpty ? nil : try Self.json(part.checksums)
        return try await write { db in
            guard try Self.fetchUpload(db, id: part.uploadID) != nil else {
                throw NuageError(.noSuchUpload, "upload \(part.uploadID) does not exist")
            }
            try Self.retire(db, intent: intent, keeping: part.manifest.blobs)
            let previous = try Self.fetchParts(db, uploadID: part.uploadID, number: part.number).first
            if let previous { try Self.addGarbage(db, previous.manifest.blobs) }
            try db.cachedStatement(sql: """
                INSERT OR REPLACE INTO upload_part (upload_id, number, size, etag, modified_ms, manifest, checksums) VALUES (?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [part.uploadID, part.number, part.size, part.etag, Self.ms(part.modified), manifest, checksums])
            return previous
        }
    }

    public func parts(uploadID: String) async throws -> [PartRecord] {
        try await read { db in try Self.fetchParts(db, uploadID: uploadID) }
    }

    public func completeUpload(id: String, object: ObjectRecord, expectedVersion: [UInt8]?) async throws -> ObjectRecord? {
        let encoded = try EncodedObject(object)
        return try await write { db in
            guard try Self.fetchUpload(db, id: id) != nil else { throw NuageError(.noSuchUpload, "upload \(id) does not exist") }
            let stored = Set(try Self.fetchParts(db, uploadID: id).map(\.manifest.versionID))
            let used = Set(object.parts.map(\.versionID))
            guard used.isSubset(of: stored) else {
                throw NuageError(.invalidPart, "a part of upload \(id) was replaced while it was being completed")
            }
            let replaced = try Self.replaceObject(db, encoded, expectedVersion: expectedVersion)
            try Self.dropUpload(db, id: id, keeping: used)
            return replaced
        }
    }

    public func abortUpload(id: String) async throws {
        try await write { db in
            guard try Self.fetchUpload(db, id: id) != nil else { throw NuageError(.noSuchUpload, "upload \(id) does not exist") }
            try Self.dropUpload(db, id: id, keeping: [])
        }
    }

    /// Forgets an upload; the blobs of its parts not in `keeping` (version ids) go to garbage.
    private static func dropUpload(_ db: Database, id: String, keeping: Set<[UInt8]>) throws {
        for part in try fetchParts(db, uploadID: id) where !keeping.contains(part.manifest.versionID) {
            try addGarbage(db, part.manifest.blobs)
        }
        try db.cachedStatement(sql: "DELETE FROM upload_part WHERE upload_id = ?").execute(arguments: [id])
        try db.cachedStatement(sql: "DELETE FROM upload WHERE id = ?").execute(arguments: [id])
    }

    private static func fetchUpload(_ db: Database, id: String) throws -> UploadRecord? {
        try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM upload WHERE id = ?"), arguments: [id]).map(uploadRecord)
    }

    private static func fetchParts(_ db: Database, uploadID: String, number: Int? = nil) throws -> [PartRecord] {
        var sql = "SELECT * FROM upload_part WHERE upload_id = ?"
        var arguments: StatementArguments = [uploadID]
        if let number { sql += " AND number = ?"; arguments += [number] }
        return try Row.fetchAll(db, sql: sql + " ORDER BY number", arguments: arguments).map { row in
            PartRecord(uploadID: row["upload_id"], number: row["number"], size: row["size"], etag: row["etag"],
                       modified: date(row["modified_ms"]), manifest: try decode(Manifest.self, row["manifest"]),
                       checksums: try (row["checksums"] as String?).map { try decode([String: String].self, $0) } ?? [:])
        }
    }

    private static func uploadRecord(_ row: Row) throws -> UploadRecord {
        let keyBytes: Data = row["key"]
        return UploadRecord(id: row["id"], bucket: row["bucket"], key: String(decoding: keyBytes, as: UTF8.self),
                            created: date(row["created_ms"]), metadata: try decode([String: String].self, row["metadata"]))
    }

    // MARK: Access keys

    public func createAccessKey(_ key: AccessKeyRecord) async throws {
        let buckets = try Self.json(key.buckets)
        try await write { db in
            guard try Row.fetchOne(try db.cachedStatement(sql: "SELECT 1 FROM access_key WHERE id = ?"), arguments: [key.id]) == nil else {
                throw NuageError(.invalidArgument, "access key \(key.id) already exists")
            }
            try Self.insertAccessKey(db, key, buckets: buckets)
            try Self.journal(db, .accessKeyCreated(key))
        }
    }

    public func accessKey(id: String) async throws -> AccessKeyRecord? {
        try await read { db in try Self.fetchAccessKey(db, id: id) }
    }

    public func accessKey(id: String, bucket: String?) async throws -> (key: AccessKeyRecord?, bucket: BucketRecord?) {
        try await read { db in (try Self.fetchAccessKey(db, id: id), try bucket.flatMap { try Self.fetchBucket(db, $0) }) }
    }

    private static func fetchAccessKey(_ db: Database, id: String) throws -> AccessKeyRecord? {
        try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM access_key WHERE id = ?"), arguments: [id]).map(accessKeyRecord)
    }

    public func listAccessKeys() async throws -> [AccessKeyRecord] {
        try await read { db in try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM access_key ORDER BY created_ms, id")).map(Self.accessKeyRecord) }
    }

    public func deleteAccessKey(id: String) async throws -> Bool {
        try await write { db in
            try db.cachedStatement(sql: "DELETE FROM access_key WHERE id = ?").execute(arguments: [id])
            guard db.changesCount == 1 else { return false }
            try Self.journal(db, .accessKeyDeleted(id))
            return true
        }
    }

    private static func insertAccessKey(_ db: Database, _ key: AccessKeyRecord, buckets: String) throws {
        try db.cachedStatement(sql: "INSERT INTO access_key (id, name, owner, sealed_secret, read_only, buckets, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)").execute(
                       arguments: [key.id, key.name, key.owner, Data(key.sealedSecret), key.readOnly, buckets, ms(key.created)])
    }

    private static func accessKeyRecord(_ row: Row) throws -> AccessKeyRecord {
        AccessKeyRecord(id: row["id"], name: row["name"], owner: row["owner"], sealedSecret: Array(row["sealed_secret"] as Data),
                        readOnly: row["read_only"], buckets: try decode([String].self, row["buckets"]),
                        created: date(row["created_ms"]))
    }

    // MARK: KMS keys

    public func createKMSKey(_ key: KMSKeyRecord) async throws {
        let record = try Self.json(key)
        try await write { db in
            guard try Row.fetchOne(try db.cachedStatement(sql: "SELECT 1 FROM kms_key WHERE name = ?"), arguments: [key.name]) == nil else {
                throw NuageError(.invalidArgument, "KMS key \(key.name) exists (or existed: names are never reused)")
            }
            try db.cachedStatement(sql: "INSERT INTO kms_key (name, record) VALUES (?, ?)").execute(arguments: [key.name, record])
            try Self.journal(db, .kmsKeyChanged(key))
        }
    }

    public func kmsKeys() async throws -> [KMSKeyRecord] {
        try await read { db in try Self.fetchKMSKeys(db) }
    }

    public func updateKMSKey(_ key: KMSKeyRecord) async throws {
        let record = try Self.json(key)
        try await write { db in
            try db.cachedStatement(sql: "UPDATE kms_key SET record = ? WHERE name = ?").execute(arguments: [record, key.name])
            guard db.changesCount == 1 else { throw NuageError(.invalidArgument, "no KMS key \(key.name)") }
            try Self.journal(db, .kmsKeyChanged(key))
        }
    }

    private static func fetchKMSKeys(_ db: Database) throws -> [KMSKeyRecord] {
        try String.fetchAll(try db.cachedStatement(sql: "SELECT record FROM kms_key ORDER BY name")).map { try decode(KMSKeyRecord.self, $0) }
    }

    // MARK: Journal

    public func journalState() async throws -> JournalState {
        try await read { db in
            let row = try Row.fetchOne(try db.cachedStatement(sql: "SELECT head, durable, snapshot FROM journal_state"))
            return JournalState(head: row?["head"] ?? 0, durable: row?["durable"] ?? 0, snapshot: row?["snapshot"] ?? 0)
        }
    }

    public func journalEntries(after seq: Int64, limit: Int) async throws -> [JournalEntry] {
        try await read { db in
            try Row.fetchAll(try db.cachedStatement(sql: "SELECT seq, change FROM journal WHERE seq > ? ORDER BY seq LIMIT ?"), arguments: [seq, limit]).map { row in
                JournalEntry(seq: row["seq"], change: try Self.decode(CatalogChange.self, row["change"]))
            }
        }
    }

    public func noteJournalSegment(_ blob: JournalBlob) async throws {
        try await write { db in
            try Self.insertJournalBlob(db, blob)
            try db.cachedStatement(sql: "UPDATE journal_state SET durable = MAX(durable, ?)").execute(arguments: [blob.last])
            try db.cachedStatement(sql: "DELETE FROM journal WHERE seq <= ?").execute(arguments: [blob.last])
        }
    }

    public func snapshot() async throws -> CatalogSnapshot {
        try await read { db in
            CatalogSnapshot(seq: try Int64.fetchOne(try db.cachedStatement(sql: "SELECT head FROM journal_state")) ?? 0,
                            buckets: try Row.fetchAll(try db.cachedStatement(sql: "SELECT \(Self.bucketColumns) FROM bucket ORDER BY name")).map(Self.bucketRecord),
                            objects: try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM object ORDER BY bucket, key")).map(Self.objectRecord),
                            versions: try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM object_version ORDER BY bucket, key, seq")).map(Self.objectRecord),
                            accessKeys: try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM access_key ORDER BY id")).map(Self.accessKeyRecord),
                            kmsKeys: try Self.fetchKMSKeys(db))
        }
    }

    public func noteJournalSnapshot(_ blob: JournalBlob) async throws {
        try await write { db in
            for old in try Self.fetchJournalBlobs(db)
            where (old.kind == .segment && old.last <= blob.last) || (old.kind == .snapshot && old.last < blob.last) {
                try Self.addGarbage(db, old.copies)
                try db.cachedStatement(sql: "DELETE FROM journal_blob WHERE kind = ? AND first = ? AND last = ? AND copies = ?").execute(
                               arguments: [old.kind.rawValue, old.first, old.last, try Self.json(old.copies)])
            }
            try Self.insertJournalBlob(db, blob)
            try db.cachedStatement(sql: "UPDATE journal_state SET durable = MAX(durable, ?1), snapshot = MAX(snapshot, ?1)").execute(arguments: [blob.last])
            try db.cachedStatement(sql: "DELETE FROM journal WHERE seq <= ?").execute(arguments: [blob.last])
        }
    }

    public func noteJournalBlob(_ blob: JournalBlob) async throws {
        try await write { db in try Self.insertJournalBlob(db, blob) }
    }

    public func retireJournalBlobs(_ blobs: [JournalBlob]) async throws {
        try await write { db in
            for blob in blobs {
                try db.cachedStatement(sql: "DELETE FROM journal_blob WHERE kind = ? AND first = ? AND last = ? AND copies = ?").execute(
                               arguments: [blob.kind.rawValue, blob.first, blob.last, try Self.json(blob.copies)])
                if db.changesCount > 0 { try Self.addGarbage(db, blob.copies) }
            }
        }
    }

    public func updateAccessKey(_ key: AccessKeyRecord) async throws {
        let buckets = try Self.json(key.buckets)
        try await write { db in
            try db.cachedStatement(sql: "UPDATE access_key SET name = ?, owner = ?, sealed_secret = ?, read_only = ?, buckets = ?, created_ms = ? WHERE id = ?").execute(
                           arguments: [key.name, key.owner, Data(key.sealedSecret), key.readOnly, buckets, Self.ms(key.created), key.id])
            guard db.changesCount == 1 else { throw NuageError(.invalidArgument, "no access key \(key.id)") }
            try Self.journal(db, .accessKeyCreated(key))
        }
    }

    public func journalBlobs() async throws -> [JournalBlob] {
        try await read { db in try Self.fetchJournalBlobs(db) }
    }

    public func restore(_ state: CatalogSnapshot, blobs: [JournalBlob]) async throws {
        let objects = try state.objects.map(EncodedObject.init)
        let versions = state.versions
        let keys = try state.accessKeys.map { ($0, try Self.json($0.buckets)) }
        let kmsKeys = try state.kmsKeys.map { ($0.name, try Self.json($0)) }
        let buckets = try state.buckets.map { ($0, try $0.encryption.map(Self.json)) }
        try await write { db in
            guard try Row.fetchOne(try db.cachedStatement(sql: "SELECT 1 FROM bucket UNION ALL SELECT 1 FROM access_key UNION ALL SELECT 1 FROM kms_key LIMIT 1")) == nil else {
                throw NuageError(.invalidArgument, "the catalog is not empty: restore only fills a new one")
            }
            for (bucket, encryption) in buckets {
                try db.cachedStatement(sql: "INSERT INTO bucket (\(Self.bucketColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").execute(
                               arguments: [bucket.name, Self.ms(bucket.created), encryption, bucket.tagging, bucket.cors, bucket.lifecycle, bucket.policy,
                                           bucket.owner, bucket.versioning?.rawValue, bucket.objectLock])
            }
            for (name, record) in kmsKeys {
                try db.cachedStatement(sql: "INSERT INTO kms_key (name, record) VALUES (?, ?)").execute(arguments: [name, record])
            }
            for encoded in objects {
                let object = encoded.record
                try db.cachedStatement(sql: """
                    INSERT INTO object (bucket, key, version_id, size, etag, modified_ms, metadata, parts, versioned) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [object.bucket, Data(object.key.utf8), Data(object.versionID), object.size,
                                     object.etag, Self.ms(object.modified), encoded.metadata, encoded.parts, object.versioned])
            }
            for version in versions { try Self.insertOlder(db, version) }
            for (pack, live) in CatalogSnapshot.livePieces(state) {
                try db.cachedStatement(sql: "INSERT INTO pack (provider, blob, live, open) VALUES (?, ?, ?, 0)").execute(
                               arguments: [pack.provider, pack.blob, live])
            }
            for (key, buckets) in keys { try Self.insertAccessKey(db, key, buckets: buckets) }
            for blob in blobs { try Self.insertJournalBlob(db, blob) }
            let snapshot = blobs.filter { $0.kind == .snapshot }.map(\.last).max() ?? 0
            try db.cachedStatement(sql: "UPDATE journal_state SET head = ?1, durable = ?1, snapshot = ?2").execute(arguments: [state.seq, snapshot])
        }
    }

    // MARK: Garbage and repairs

    public func garbage(limit: Int, readableBefore cutoff: Date, journaledThrough seq: Int64) async throws -> [BlobRef] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT provider, blob FROM garbage WHERE (readable = 0 OR added_ms < ?) AND added_seq <= ? ORDER BY provider, blob LIMIT ?
                """, arguments: [Self.ms(cutoff), seq, limit])
                .map { BlobRef(provider: $0["provider"], blob: $0["blob"]) }
        }
    }

    public func removeGarbage(_ blobs: [BlobRef]) async throws {
        try await write { db in
            for ref in blobs {
                try db.cachedStatement(sql: "DELETE FROM garbage WHERE provider = ? AND blob = ?").execute(arguments: [ref.provider, ref.blob])
            }
        }
    }

    public func garbageAmong(_ blobs: [BlobRef]) async throws -> [BlobRef] {
        try await read { db in
            try blobs.filter { ref in
                try Row.fetchOne(try db.cachedStatement(sql: "SELECT 1 FROM garbage WHERE provider = ? AND blob = ?"),
                                 arguments: [ref.provider, ref.blob]) != nil
            }
        }
    }

    public func referencedBlobs(provider: String) async throws -> Set<String> {
        try await read { db in
            var names = Set<String>()
            let objects = try Row.fetchCursor(db, sql: "SELECT parts FROM object")
            while let row = try objects.next() {
                for part in try Self.decode([Manifest].self, row["parts"]) {
                    for ref in part.blobs where ref.provider == provider { names.insert(ref.blob) }
                }
            }
            let older = try Row.fetchCursor(db, sql: "SELECT parts FROM object_version WHERE marker = 0")
            while let row = try older.next() {
                for part in try Self.decode([Manifest].self, row["parts"]) {
                    for ref in part.blobs where ref.provider == provider { names.insert(ref.blob) }
                }
            }
            let parts = try Row.fetchCursor(db, sql: "SELECT manifest FROM upload_part")
            while let row = try parts.next() {
                for ref in try Self.decode(Manifest.self, row["manifest"]).blobs where ref.provider == provider { names.insert(ref.blob) }
            }
            let intents = try Row.fetchCursor(db, sql: "SELECT blobs FROM intent")
            while let row = try intents.next() {
                for ref in try Self.decode([BlobRef].self, row["blobs"]) where ref.provider == provider { names.insert(ref.blob) }
            }
            let garbage = try Row.fetchCursor(db, sql: "SELECT blob FROM garbage WHERE provider = ?", arguments: [provider])
            while let row = try garbage.next() { names.insert(row["blob"]) }
            for blob in try Self.fetchJournalBlobs(db) {
                for ref in blob.copies where ref.provider == provider { names.insert(ref.blob) }
            }
            return names
        }
    }

    public func noteRepair(bucket: String, key: String, versionID: [UInt8], shards: [Int], reason: String) async throws {
        try await write { db in
            for shard in shards {
                try db.cachedStatement(sql: """
                    INSERT OR REPLACE INTO repair (version_id, shard, bucket, key, reason, noted_ms) VALUES (?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [Data(versionID), shard, bucket, Data(key.utf8), reason, Self.ms(Date())])
            }
        }
    }

    public func pendingRepairs(limit: Int) async throws -> [RepairNote] {
        try await read { db in
            try Row.fetchAll(try db.cachedStatement(sql: "SELECT * FROM repair ORDER BY noted_ms, version_id, shard LIMIT ?"), arguments: [limit]).map { row in
                RepairNote(bucket: row["bucket"], key: String(decoding: row["key"] as Data, as: UTF8.self),
                           versionID: Array(row["version_id"] as Data), shard: row["shard"], reason: row["reason"])
            }
        }
    }

    public func noteScrubbed(_ objects: [ObjectRecord], deep: Bool, at date: Date) async throws {
        let when = Self.ms(date)
        try await write { db in
            for object in objects {
                // Only versions still stored: a row for a gone version would never be removed.
                guard try Row.fetchOne(db, sql: """
                    SELECT 1 FROM object WHERE bucket = ?1 AND key = ?2 AND version_id = ?3
                    UNION ALL SELECT 1 FROM object_version WHERE bucket = ?1 AND key = ?2 AND version_id = ?3
                    """, arguments: [object.bucket, Data(object.key.utf8), Data(object.versionID)]) != nil else { continue }
                try db.execute(sql: deep
                    ? "INSERT INTO scrub (version_id, light_ms, deep_ms) VALUES (?1, ?2, ?2) ON CONFLICT (version_id) DO UPDATE SET light_ms = ?2, deep_ms = ?2"
                    : "INSERT INTO scrub (version_id, light_ms) VALUES (?1, ?2) ON CONFLICT (version_id) DO UPDATE SET light_ms = ?2",
                    arguments: [Data(object.versionID), when])
            }
        }
    }

    public func lastScrub(bucket: String, key: String) async throws -> ScrubTimes? {
        try await read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT scrub.light_ms, scrub.deep_ms FROM object JOIN scrub ON scrub.version_id = object.version_id
                WHERE object.bucket = ? AND object.key = ?
                """, arguments: [bucket, Data(key.utf8)]) else { return nil }
            return ScrubTimes(light: (row["light_ms"] as Int64?).map(Self.date), deep: (row["deep_ms"] as Int64?).map(Self.date))
        }
    }

    public func claimLease(_ job: String, holder: String, now: Date, until: Date) async throws -> Bool {
        try await write { db in
            if let row = try Row.fetchOne(try db.cachedStatement(sql: "SELECT holder, until_ms FROM lease WHERE job = ?"), arguments: [job]),
               row["holder"] as String != holder, row["until_ms"] as Int64 > Self.ms(now) { return false }
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO lease (job, holder, until_ms) VALUES (?, ?, ?)").execute(arguments: [job, holder, Self.ms(until)])
            return true
        }
    }

    public func lease(_ job: String) async throws -> (holder: String, until: Date)? {
        try await read { db in
            try Row.fetchOne(try db.cachedStatement(sql: "SELECT holder, until_ms FROM lease WHERE job = ?"), arguments: [job]).map { ($0["holder"], Self.date($0["until_ms"])) }
        }
    }

    public func clearRepairs(versionID: [UInt8], shards: [Int]) async throws {
        try await write { db in
            for shard in shards {
                try db.cachedStatement(sql: "DELETE FROM repair WHERE version_id = ? AND shard = ?").execute(arguments: [Data(versionID), shard])
            }
        }
    }

    // MARK: - Helpers

    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do { return try await pool.write(body) } catch let error as NuageError { throw error } catch {
            throw NuageError(.internalError, "catalog write failed", cause: error)
        }
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do { return try await pool.read(body) } catch let error as NuageError { throw error } catch {
            throw NuageError(.internalError, "catalog read failed", cause: error)
        }
    }

    private static func bucketExists(_ db: Database, _ name: String) throws -> Bool {
        try Row.fetchOne(try db.cachedStatement(sql: "SELECT 1 FROM bucket WHERE name = ?"), arguments: [name]) != nil
    }

    private static func fetchObject(_ db: Database, bucket: String, key: String) throws -> ObjectRecord? {
        try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM object WHERE bucket = ? AND key = ?"), arguments: [bucket, Data(key.utf8)])
            .map(objectRecord)
    }

    /// Lists blobs as garbage; `readable` ones belonged to a committed version, which reads that
    /// started before it was replaced may still be reading.
    /// Blobs listed here are deleted only once the change that listed them is journaled at
    /// providers (`added_seq`): a catalog rebuilt from the journal never points at a deleted blob.
    ///
    /// A piece of a pack is not deleted alone: it stops counting as live, and its pack is listed
    /// once no piece of it is live and its batch is over.
    private static func addGarbage(_ db: Database, _ blobs: [BlobRef], readable: Bool = false) throws {
        let now = ms(Date())
        let seq = try Int64.fetchOne(try db.cachedStatement(sql: "SELECT head FROM journal_state")) ?? 0
        for piece in blobs where piece.isPiece {
            try db.cachedStatement(sql: "UPDATE pack SET live = live - 1 WHERE provider = ? AND blob = ? AND live > 0").execute(
                           arguments: [piece.provider, piece.blob])
            try dropPackIfDead(db, piece.whole, readable: readable)
        }
        for ref in blobs where !ref.isPiece {
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO garbage (provider, blob, added_ms, readable, added_seq) VALUES (?, ?, ?, ?, ?)").execute(
                           arguments: [ref.provider, ref.blob, now, readable ? 1 : 0, seq])
        }
    }

    /// Lists a pack as garbage once its batch is over and none of its pieces is live.
    private static func dropPackIfDead(_ db: Database, _ pack: BlobRef, readable: Bool) throws {
        guard let row = try Row.fetchOne(try db.cachedStatement(sql: "SELECT live, open FROM pack WHERE provider = ? AND blob = ?"),
                                         arguments: [pack.provider, pack.blob]) else { return }
        guard (row["live"] as Int64) == 0, (row["open"] as Int64) == 0 else { return }
        try db.cachedStatement(sql: "DELETE FROM pack WHERE provider = ? AND blob = ?").execute(arguments: [pack.provider, pack.blob])
        try addGarbage(db, [pack], readable: readable)
    }

    /// Numbers a change and keeps it in the journal, in the transaction that makes it.
    private static func journal(_ db: Database, _ change: CatalogChange) throws {
        try db.cachedStatement(sql: "UPDATE journal_state SET head = head + 1").execute()
        let seq = try Int64.fetchOne(try db.cachedStatement(sql: "SELECT head FROM journal_state")) ?? 0
        try db.cachedStatement(sql: "INSERT INTO journal (seq, change) VALUES (?, ?)").execute(arguments: [seq, try json(change)])
    }

    private static func fetchJournalBlobs(_ db: Database) throws -> [JournalBlob] {
        try Row.fetchAll(try db.cachedStatement(sql: "SELECT kind, first, last, copies FROM journal_blob ORDER BY last, kind")).map { row in
            JournalBlob(kind: JournalBlob.Kind(rawValue: row["kind"]) ?? .segment, first: row["first"], last: row["last"],
                        copies: try decode([BlobRef].self, row["copies"]))
        }
    }

    private static func insertJournalBlob(_ db: Database, _ blob: JournalBlob) throws {
        try db.cachedStatement(sql: "INSERT INTO journal_blob (kind, first, last, copies) VALUES (?, ?, ?, ?)").execute(
                       arguments: [blob.kind.rawValue, blob.first, blob.last, try json(blob.copies)])
    }

    private static let bucketColumns = "name, created_ms, encryption, tagging, cors, lifecycle, policy, owner, versioning, object_lock"

    private static func bucketRecord(_ row: Row) throws -> BucketRecord {
        BucketRecord(name: row["name"], created: date(row["created_ms"]), owner: row["owner"],
                     encryption: try (row["encryption"] as String?).map { try decode(BucketEncryption.self, $0) },
                     tagging: row["tagging"], cors: row["cors"], lifecycle: row["lifecycle"], policy: row["policy"],
                     versioning: (row["versioning"] as String?).flatMap(VersioningStatus.init(rawValue:)), objectLock: row["object_lock"])
    }

    private static func objectRecord(_ row: Row) throws -> ObjectRecord {
        let keyBytes: Data = row["key"]
        return ObjectRecord(bucket: row["bucket"], key: String(decoding: keyBytes, as: UTF8.self),
                            versionID: Array(row["version_id"] as Data), size: row["size"],
                            etag: row["etag"], modified: date(row["modified_ms"]),
                            metadata: try decode([String: String].self, row["metadata"]),
                            parts: try decode([Manifest].self, row["parts"]),
                            versioned: row["versioned"], deleteMarker: (row["marker"] as Bool?) ?? false)
    }

    private static func ms(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
    private static func date(_ ms: Int64) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }

    fileprivate static func json(_ value: some Encodable) throws -> String { try CatalogJSON.encode(value) }

    private static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T { try CatalogJSON.decode(type, text) }
}

/// Byte-range helpers for prefix scans over keys.
public enum KeyRange {
    /// The one lower bound of a listing of `prefix` after `after`: the later of the two, exclusive
    /// when it is `after`. One bound, so that the index range starts there: with two (the prefix
    /// and the marker), databases seek to one and filter by the other, and every page of a long
    /// listing reads again all the keys before it.
    public static func lowerBound(prefix: String, after: String?) -> (key: Data, inclusive: Bool) {
        let prefixBytes = Data(prefix.utf8)
        guard let after = after.map({ Data($0.utf8) }), !after.lexicographicallyPrecedes(prefixBytes) else { return (prefixBytes, true) }
        return (after, false)
    }

    /// The smallest byte string greater than every string starting with `prefix`, or nil when
    /// there is none (empty prefix or all 0xFF).
    public static func successor(of prefix: [UInt8]) -> [UInt8]? {
        var bytes = prefix
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return bytes
            }
            bytes.removeLast()
        }
        return nil
    }
}
