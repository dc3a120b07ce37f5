import Foundation
import GRDB
import NuageCore

/// One record of the audit log: what happened, when, by whom, from where, and the outcome.
/// Its bytes in the log (a Merkle leaf) are this JSON with sorted keys.
public struct AuditRecord: Codable, Hashable, Sendable {
    /// Its position in the log, from 0 (so that a record moved elsewhere is caught by itself).
    public var index: Int
    /// UTC, ISO 8601 with milliseconds.
    public var time: String
    /// `s3:PutObject`, `bucket.create`, `key.create`, `provider.drain`, `config.changed`, …
    public var action: String
    /// The S3 access key id, or nil for the command line.
    public var accessKey: String?
    /// `s3` (a request), `cli` (a command), `serve` (the gateway itself).
    public var actor: String
    /// The client's address (S3 requests).
    public var address: String?
    public var bucket: String?
    public var key: String?
    /// `ok`, or the HTTP status and S3 error code (`403 AccessDenied`).
    public var outcome: String
    public var detail: String?

    public var bytes: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try! encoder.encode(self))
    }
}

/// What to record; the log numbers and stamps it.
public struct AuditEntry: Sendable {
    public var action: String
    public var actor: String
    public var accessKey: String?
    public var address: String?
    public var bucket: String?
    public var key: String?
    public var outcome: String
    public var detail: String?

    public init(action: String, actor: String, accessKey: String? = nil, address: String? = nil, bucket: String? = nil,
                key: String? = nil, outcome: String = "ok", detail: String? = nil) {
        self.action = action
        self.actor = actor
        self.accessKey = accessKey
        self.address = address
        self.bucket = bucket
        self.key = key
        self.outcome = outcome
        self.detail = detail
    }
}

/// The append-only audit log of a data directory (`audit.sqlite`): records, and the checkpoints
/// signed over them. Several processes may append (SQLite serializes them).
public final class AuditLog: Sendable {
    private let pool: DatabasePool
    public let key: AuditKey

    /// Opens (creating) the log at `path` with the signing key at `keyPath` (created on first use, 0600).
    public init(path: String, keyPath: String) throws {
        key = try AuditKey.loadOrCreate(at: keyPath)
        var configuration = Configuration()
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            chmod(path, 0o600)
            var migrator = DatabaseMigrator()
            migrator.registerMigration("v1: records and checkpoints") { db in
                try db.execute(sql: """
                    CREATE TABLE record (idx INTEGER PRIMARY KEY, bytes BLOB NOT NULL);
                    CREATE TABLE checkpoint (size INTEGER NOT NULL, time INTEGER NOT NULL, note TEXT NOT NULL);
                    CREATE TABLE shipped (size INTEGER PRIMARY KEY);
                    """)
            }
            try migrator.migrate(pool)
        } catch {
            throw NuageError(.configuration, "cannot open the audit log \(path)", cause: error)
        }
    }

    static let timeFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// Appends a record; returns it as stored.
    @discardableResult
    public func append(_ entry: AuditEntry, at date: Date = Date()) async throws -> AuditRecord {
        let time = Self.timeFormat.format(date)
        return try await pool.write { db in
            let index = try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(idx) + 1, 0) FROM record") ?? 0
            let record = AuditRecord(index: index, time: time, action: entry.action, accessKey: entry.accessKey, actor: entry.actor,
                                     address: entry.address, bucket: entry.bucket, key: entry.key, outcome: entry.outcome, detail: entry.detail)
            try db.execute(sql: "INSERT INTO record (idx, bytes) VALUES (?, ?)", arguments: [index, Data(record.bytes)])
            return record
        }
    }

    /// Signs a checkpoint over every record so far, unless the newest one already covers them.
    /// - Returns: the signed note, or nil when nothing was added since the last checkpoint.
    @discardableResult
    public func checkpoint(at date: Date = Date()) async throws -> String? {
        let key = key
        return try await pool.write { db in
            let leaves = try Data.fetchAll(db, sql: "SELECT bytes FROM record ORDER BY idx").map { MerkleTree.leafHash(Array($0)) }
            let last = try Int.fetchOne(db, sql: "SELECT MAX(size) FROM checkpoint")
            guard last != leaves.count || last == nil else { return nil }
            let checkpoint = Checkpoint(origin: key.name, size: leaves.count, root: MerkleTree.root(leaves),
                                        time: Int64(date.timeIntervalSince1970))
            let note = try checkpoint.signed(with: key)
            try db.execute(sql: "INSERT INTO checkpoint (size, time, note) VALUES (?, ?, ?)", arguments: [leaves.count, checkpoint.time, note])
            return note
        }
    }

    /// The newest record of this action, if any.
    public func lastRecord(action: String) async throws -> AuditRecord? {
        let pattern = "%\"action\":\"\(action)\"%"
        return try await pool.read { db in
            try Data.fetchOne(db, sql: "SELECT bytes FROM record WHERE CAST(bytes AS TEXT) LIKE ? ORDER BY idx DESC LIMIT 1", arguments: [pattern])
                .flatMap { try? JSONDecoder().decode(AuditRecord.self, from: $0) }
        }
    }

    /// The raw record bytes from `index` on.
    public func recordBytes(from index: Int = 0) async throws -> [[UInt8]] {
        try await pool.read { db in
            try Data.fetchAll(db, sql: "SELECT bytes FROM record WHERE idx >= ? ORDER BY idx", arguments: [index]).map { Array($0) }
        }
    }

    /// Signed checkpoint notes, oldest first.
    public func checkpointNotes() async throws -> [String] {
        try await pool.read { db in try String.fetchAll(db, sql: "SELECT note FROM checkpoint ORDER BY time, size") }
    }

    /// The size covered by the last copy sent to providers.
    public func shippedSize() async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(size), 0) FROM shipped") ?? 0 }
    }

    public func noteShipped(size: Int) async throws {
        try await pool.write { db in try db.execute(sql: "INSERT OR IGNORE INTO shipped (size) VALUES (?)", arguments: [size]) }
    }
}
