import Foundation
import NuageCatalog
import NuageCore
import PostgresNIO

/// Buckets, intents, commits and versions.
extension PostgresCatalog {
    // MARK: Buckets

    public func createBucket(_ name: String, owner: String, objectLock: String?) async throws {
        try await write { tx in
            guard try await Self.bucketExists(tx, name) == false else { throw NuageError(.bucketAlreadyExists, "bucket \(name) already exists") }
            let created = Self.date(Self.ms(Date()))
            let versioning: VersioningStatus? = objectLock == nil ? nil : .enabled
            try await tx.execute("""
                INSERT INTO bucket (name, created_ms, owner, versioning, object_lock)
                VALUES (\(name), \(Self.ms(created)), \(owner), \(versioning?.rawValue), \(objectLock))
                """)
            try await Self.journal(tx, .bucketCreated(BucketRecord(name: name, created: created, owner: owner, versioning: versioning, objectLock: objectLock)))
        }
    }

    public func deleteBucket(_ name: String) async throws {
        try await write { tx in
            try await Self.requireBucket(tx, name)
            guard try await tx.row("SELECT 1 FROM object WHERE bucket = \(name) UNION ALL SELECT 1 FROM object_version WHERE bucket = \(name) LIMIT 1") == nil else {
                throw NuageError(.bucketNotEmpty, "bucket \(name) is not empty")
            }
            for row in try await tx.rows("SELECT id FROM upload WHERE bucket = \(name)") {
                try await Self.dropUpload(tx, id: try row["id"].decode(String.self), keeping: [])
            }
            try await tx.execute("DELETE FROM bucket WHERE name = \(name)")
            try await Self.journal(tx, .bucketDeleted(name))
        }
    }

    public func bucket(_ name: String) async throws -> BucketRecord? {
        try await read { tx in try await Self.fetchBucket(tx, name) }
    }

    public func listBuckets() async throws -> [BucketRecord] {
        try await read { tx in try await tx.rows("SELECT \(unescaped: Self.bucketColumns) FROM bucket ORDER BY name").map(Self.bucketRecord) }
    }

    public func updateBucket(_ bucket: BucketRecord) async throws {
        let encryption = try bucket.encryption.map(Self.json)
        try await write { tx in
            guard let current = try await Self.fetchBucket(tx, bucket.name) else {
                throw NuageError(.noSuchBucket, "bucket \(bucket.name) does not exist")
            }
            if let reason = BucketRecord.settingsChangeRefusal(from: current, to: bucket) { throw NuageError(.invalidArgument, reason) }
            try await tx.execute("""
                UPDATE bucket SET encryption = \(encryption), tagging = \(bucket.tagging), cors = \(bucket.cors), lifecycle = \(bucket.lifecycle),
                policy = \(bucket.policy), versioning = \(bucket.versioning?.rawValue), object_lock = \(bucket.objectLock) WHERE name = \(bucket.name)
                """)
            var updated = bucket
            updated.created = current.created
            updated.owner = current.owner
            try await Self.journal(tx, .bucketUpdated(updated))
        }
    }

    // MARK: Intents and commits

    public func recordIntent(_ intent: WriteIntent) async throws {
        // Alone, without the lock: an intent orders against nothing (gc gives up only old ones).
        guard intent.isPack else {
            return try await single("INSERT INTO intent (id, created_ms, blobs) VALUES (\(intent.id), \(Self.ms(intent.created)), \(try Self.json(intent.blobs)))")
        }
        try await write { tx in
            try await tx.execute("INSERT INTO intent (id, created_ms, blobs) VALUES (\(intent.id), \(Self.ms(intent.created)), \(try Self.json(intent.blobs)))")
            for pack in intent.blobs {
                try await tx.execute("INSERT INTO pack (provider, blob, live, open) VALUES (\(pack.provider), \(pack.blob), 0, true)")
            }
        }
    }

    public func commit(_ object: ObjectRecord, intent: String, expectedVersion: [UInt8]?) async throws -> ObjectRecord? {
        try await write { tx in
            try await Self.retire(tx, intent: intent, keeping: object.blobs)
            return try await Self.replaceObject(tx, object, expectedVersion: expectedVersion)
        }
    }

    static func replaceObject(_ tx: Tx, _ object: ObjectRecord, expectedVersion: [UInt8]?) async throws -> ObjectRecord? {
        // The bucket, the key's current version and whether it has an older null version, in one round trip.
        let key = bytes(object.key)
        let rows = try await tx.rows("""
            SELECT EXISTS (SELECT 1 FROM object_version v WHERE v.bucket = b.name AND v.key = \(key) AND NOT v.versioned) AS older_null,
                   o.bucket, o.key, o.version_id, o.size, o.etag, o.modified_ms, o.metadata, o.parts, o.versioned
            FROM bucket b LEFT JOIN object o ON o.bucket = b.name AND o.key = \(key) WHERE b.name = \(object.bucket)
            """)
        guard let row = rows.first else { throw NuageError(.noSuchBucket, "bucket \(object.bucket) does not exist") }
        let olderNull = try row["older_null"].decode(Bool.self)
        let previous = try row["bucket"].decode(String?.self) == nil ? nil : try objectRecord(row)
        if let expectedVersion, (previous?.versionID ?? []) != expectedVersion {
            throw NuageError(.preconditionFailed, "object \(object.key) changed")
        }
        // Journaled first: what the change replaces waits for the change to be at providers.
        try await journal(tx, .objectPut(object))
        let replaced = try await makeRoom(tx, for: object, current: previous, versioned: olderNull)
        try await insertObject(tx, object)
        return replaced
    }

    public func abandonIntent(_ id: String) async throws {
        try await write { tx in
            guard let row = try await tx.row("DELETE FROM intent WHERE id = \(id) RETURNING blobs") else { return }
            let blobs = try Self.decode([BlobRef].self, try row["blobs"].decode(String.self))
            guard WriteIntent.isPack(id) else { return try await Self.addGarbage(tx, blobs) }
            // The batch is over: a pack no committed version keeps a piece of goes now.
            for pack in blobs {
                try await tx.execute("UPDATE pack SET open = false WHERE provider = \(pack.provider) AND blob = \(pack.blob)")
                try await Self.dropPackIfDead(tx, pack, readable: true)
            }
        }
    }

    public func intents(before date: Date) async throws -> [WriteIntent] {
        try await read { tx in
            try await tx.rows("SELECT id, created_ms, blobs FROM intent WHERE created_ms < \(Self.ms(date)) ORDER BY created_ms").map { row in
                WriteIntent(id: try row["id"].decode(String.self), created: Self.date(try row["created_ms"].decode(Int64.self)),
                            blobs: try Self.decode([BlobRef].self, try row["blobs"].decode(String.self)))
            }
        }
    }

    // MARK: Objects and versions

    public func object(bucket: String, key: String) async throws -> ObjectRecord? {
        try await read { tx in try await Self.fetchObject(tx, bucket: bucket, key: key) }
    }

    public func version(bucket: String, key: String, versionID: [UInt8]?) async throws -> ObjectRecord? {
        try await read { tx in try await Self.fetchVersion(tx, bucket: bucket, key: key, versionID: versionID)?.record }
    }

    public func deleteObject(bucket: String, key: String, ifVersion version: [UInt8]?, marker: ObjectRecord?) async throws -> ObjectRecord? {
        try await write { tx in
            try await Self.requireBucket(tx, bucket)
            let previous = try await Self.fetchObject(tx, bucket: bucket, key: key)
            if let version, (previous?.versionID ?? []) != version { return nil }
            if let marker {
                guard marker.deleteMarker, marker.bucket == bucket, marker.key == key else {
                    throw NuageError(.internalError, "a delete marker for \(bucket)/\(key) is not one")
                }
                try await Self.journal(tx, .deleteMarkerPut(marker))
                let replaced = try await Self.makeRoom(tx, for: marker, current: previous)
                try await Self.insertOlder(tx, marker)
                return replaced
            }
            guard let previous else { return nil }
            try ObjectLock.check(previous, now: Date(), bypassGovernance: false)
            try await tx.execute("DELETE FROM object WHERE bucket = \(bucket) AND key = \(Self.bytes(key))")
            try await Self.journal(tx, .objectDeleted(bucket: bucket, key: key))
            try await Self.discard(tx, previous)
            try await Self.promote(tx, bucket: bucket, key: key)
            return previous
        }
    }

    public func deleteVersion(bucket: String, key: String, versionID: [UInt8], bypassGovernance: Bool, now: Date) async throws -> ObjectRecord? {
        try await write { tx in
            try await Self.requireBucket(tx, bucket)
            guard let (seq, record) = try await Self.fetchVersion(tx, bucket: bucket, key: key, versionID: versionID) else { return nil }
            try ObjectLock.check(record, now: now, bypassGovernance: bypassGovernance)
            if let seq {
                try await tx.execute("DELETE FROM object_version WHERE bucket = \(bucket) AND key = \(Self.bytes(key)) AND seq = \(seq)")
            } else {
                try await tx.execute("DELETE FROM object WHERE bucket = \(bucket) AND key = \(Self.bytes(key))")
            }
            try await Self.journal(tx, .versionDeleted(bucket: bucket, key: key, versionID: versionID))
            try await Self.discard(tx, record)
            try await Self.promote(tx, bucket: bucket, key: key)
            return record
        }
    }

    public func replaceMetadata(bucket: String, key: String, versionID: [UInt8], metadata: [String: String],
                                bypassGovernance: Bool, now: Date) async throws -> ObjectRecord? {
        let encoded = try Self.json(metadata)
        return try await write { tx in
            try await Self.requireBucket(tx, bucket)
            guard let found = try await Self.fetchVersion(tx, bucket: bucket, key: key, versionID: versionID), !found.record.deleteMarker else { return nil }
            var record = found.record
            if let reason = ObjectLock.weakening(record.metadata, metadata, now: now, bypassGovernance: bypassGovernance) {
                throw NuageError(.objectLocked, "version \(record.s3VersionID) of \(key) keeps its retention: \(reason)")
            }
            if let seq = found.seq {
                try await tx.execute("UPDATE object_version SET metadata = \(encoded) WHERE bucket = \(bucket) AND key = \(Self.bytes(key)) AND seq = \(seq)")
            } else {
                try await tx.execute("UPDATE object SET metadata = \(encoded) WHERE bucket = \(bucket) AND key = \(Self.bytes(key))")
            }
            record.metadata = metadata
            try await Self.journal(tx, .metadataReplaced(bucket: bucket, key: key, versionID: versionID, metadata: metadata))
            return record
        }
    }

    public func listObjects(bucket: String, prefix: String, after: String?, limit: Int) async throws -> [ObjectRecord] {
        let upper = Self.upperBound(prefix)
        let lower = KeyRange.lowerBound(prefix: prefix, after: after)
        return try await read { tx in
            try await Self.requireBucket(tx, bucket)
            guard limit > 0 else { return [] }
            return try await tx.rows("""
                SELECT \(unescaped: Self.objectColumns) FROM object WHERE bucket = \(bucket) AND key \(unescaped: lower.inclusive ? ">=" : ">") \(lower.key)
                AND key < \(upper) ORDER BY key LIMIT \(Int64(limit))
                """).map(Self.objectRecord)
        }
    }

    public func listVersions(bucket: String, prefix: String, after: (key: String, versionID: [UInt8]?)?, limit: Int) async throws -> [ObjectVersion] {
        let upper = Self.upperBound(prefix)
        let lower = KeyRange.lowerBound(prefix: prefix, after: after?.key)
        return try await read { tx in
            try await Self.requireBucket(tx, bucket)
            guard limit > 0 else { return [] }
            // One lower bound each (see KeyRange.lowerBound): current versions after the marker's
            // key; older ones from it, within its key only older than the version named (every
            // one after its current version, none when the id is unknown).
            var olderFrom = Int64.max, olderStrict = !lower.inclusive
            if let after, !lower.inclusive, let versionID = after.versionID,
               let (seq, _) = try await Self.fetchVersion(tx, bucket: bucket, key: after.key, versionID: versionID) {
                olderStrict = false
                olderFrom = seq ?? Int64.max
            }
            let current = try await tx.rows("""
                SELECT \(unescaped: Self.objectColumns) FROM object WHERE bucket = \(bucket) AND key \(unescaped: lower.inclusive ? ">=" : ">") \(lower.key)
                AND key < \(upper) ORDER BY key LIMIT \(Int64(limit))
                """).map(Self.objectRecord)
            let older = try await tx.rows("""
                SELECT \(unescaped: Self.versionColumns),
                       (NOT EXISTS (SELECT 1 FROM object o WHERE o.bucket = v.bucket AND o.key = v.key)
                        AND v.seq = (SELECT MAX(w.seq) FROM object_version w WHERE w.bucket = v.bucket AND w.key = v.key)) AS latest
                FROM object_version v WHERE bucket = \(bucket) AND key \(unescaped: olderStrict ? ">" : ">=") \(lower.key) AND key < \(upper)
                AND (key > \(lower.key) OR seq < \(olderFrom))
                ORDER BY key, seq DESC LIMIT \(Int64(limit))
                """).map { ObjectVersion(record: try Self.objectRecord($0), isLatest: try $0["latest"].decode(Bool.self)) }
            return ObjectVersion.merge(current: current, older: older, limit: limit)
        }
    }

    /// Above every key starting with `prefix`: its successor, or above every key (no key holds 0xFF).
    static func upperBound(_ prefix: String) -> Data {
        KeyRange.successor(of: Array(prefix.utf8)).map { Data($0) } ?? Data(repeating: 0xFF, count: ObjectNames.maxKeyBytes + 1)
    }

    public func updateManifest(bucket: String, key: String, versionID: [UInt8], manifest: Manifest, retiringIntent intent: String?) async throws -> Bool {
        try await write { tx in
            var candidates: [(seq: Int64?, record: ObjectRecord)] = []
            if let current = try await Self.fetchObject(tx, bucket: bucket, key: key) { candidates.append((nil, current)) }
            candidates += try await Self.fetchOlder(tx, bucket: bucket, key: key).map { (seq: Optional($0.seq), record: $0.record) }
            guard let (seq, found) = candidates.first(where: { $0.record.parts.contains { $0.versionID == versionID } }),
                  let index = found.parts.firstIndex(where: { $0.versionID == versionID }) else { return false }
            var object = found
            let dropped = Set(object.parts[index].blobs).subtracting(manifest.blobs)
            object.parts[index] = manifest
            let parts = try Self.json(object.parts)
            if let seq {
                try await tx.execute("UPDATE object_version SET parts = \(parts) WHERE bucket = \(bucket) AND key = \(Self.bytes(key)) AND seq = \(seq)")
            } else {
                try await tx.execute("UPDATE object SET parts = \(parts) WHERE bucket = \(bucket) AND key = \(Self.bytes(key))")
            }
            try await Self.journal(tx, .manifestUpdated(bucket: bucket, key: key, manifest: manifest))
            if let intent { try await Self.retire(tx, intent: intent, keeping: manifest.blobs) }
            try await Self.addGarbage(tx, dropped.sorted { $0.description < $1.description }, readable: true)
            return true
        }
    }

    // MARK: Scrub times

    public func noteScrubbed(_ objects: [ObjectRecord], deep: Bool, at date: Date) async throws {
        let when = Self.ms(date)
        try await write { tx in
            for object in objects {
                // Only versions still stored: a row for a gone version would never be removed.
                let id = Data(object.versionID), key = Self.bytes(object.key)
                guard try await tx.row("""
                    SELECT 1 FROM object WHERE bucket = \(object.bucket) AND key = \(key) AND version_id = \(id)
                    UNION ALL SELECT 1 FROM object_version WHERE bucket = \(object.bucket) AND key = \(key) AND version_id = \(id)
                    """) != nil else { continue }
                if deep {
                    try await tx.execute("""
                        INSERT INTO scrub (version_id, light_ms, deep_ms) VALUES (\(id), \(when), \(when))
                        ON CONFLICT (version_id) DO UPDATE SET light_ms = \(when), deep_ms = \(when)
                        """)
                } else {
                    try await tx.execute("""
                        INSERT INTO scrub (version_id, light_ms) VALUES (\(id), \(when)) ON CONFLICT (version_id) DO UPDATE SET light_ms = \(when)
                        """)
                }
            }
        }
    }

    public func lastScrub(bucket: String, key: String) async throws -> ScrubTimes? {
        try await read { tx in
            guard let row = try await tx.row("""
                SELECT scrub.light_ms, scrub.deep_ms FROM object JOIN scrub ON scrub.version_id = object.version_id
                WHERE object.bucket = \(bucket) AND object.key = \(Self.bytes(key))
                """) else { return nil }
            return ScrubTimes(light: try row["light_ms"].decode(Int64?.self).map(Self.date), deep: try row["deep_ms"].decode(Int64?.self).map(Self.date))
        }
    }
}
