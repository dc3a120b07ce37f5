import Foundation
import Logging
import NIOCore
import NuageCatalog
import NuageCore
import PostgresNIO

/// The catalog at scale: one PostgreSQL database that any number of gateways share.
///
/// It keeps the contract of ``Catalog`` (checked by the same conformance suite as SQLite) and
/// the same tables. Transactions:
/// - **Every write** runs at READ COMMITTED and first locks the one `journal_state` row
///   (`FOR UPDATE`): writes are serialized across all gateways, as SQLite serializes them in one
///   process, because every one of them numbers journal entries or garbage against the journal
///   head. Each statement then sees every write committed before it, and no two writers ever
///   interleave, so conditional commits (`If-None-Match`, `If-Match`), promotions of versions
///   and garbage listings decide on the latest state. Nothing waits on anything but that lock,
///   so no deadlock can form.
/// - **Reads of several statements** (snapshots, version listings, referenced blobs) run at
///   REPEATABLE READ, READ ONLY: one consistent view without taking the lock; single-statement
///   reads run alone.
/// - Serialization failures and deadlocks (SQLSTATE 40001, 40P01), which these levels should
///   never produce, are retried with jittered backoff all the same, never surfaced.
///
/// Keys are `bytea` (PostgreSQL compares them byte by byte: S3's order); other ordered text
/// columns use the "C" collation for the same reason.
public final class PostgresCatalog: Catalog, @unchecked Sendable {
    // @unchecked: immutable after init; PostgresClient is Sendable and the task only runs it.
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    let logger: Logger

    /// Connects (the pool starts at once) and creates or migrates the schema.
    /// - Throws: `configuration` when the database cannot be reached or migrated.
    public init(configuration: PostgresClient.Configuration, logger: Logger = Logger(label: "nuage.catalog.postgres")) async throws {
        // The pool's own chatter (a lease asked for a moment before run() starts) stays below errors.
        var background = logger
        background.logLevel = .error
        let client = PostgresClient(configuration: configuration, backgroundLogger: background)
        self.client = client
        self.logger = logger
        runner = Task { await client.run() }
        do { try await migrate() } catch {
            runner.cancel()
            throw NuageError(.configuration, "cannot open the PostgreSQL catalog", cause: error)
        }
    }

    deinit { runner.cancel() }

    // MARK: Schema

    /// Schema history: each entry one version; append, never edit one that has shipped.
    static let migrations: [String] = [
        """
        CREATE TABLE bucket (name TEXT COLLATE "C" PRIMARY KEY, created_ms BIGINT NOT NULL, owner TEXT NOT NULL DEFAULT 'nuage',
                             encryption TEXT, tagging TEXT, cors TEXT, lifecycle TEXT, policy TEXT, versioning TEXT, object_lock TEXT);
        CREATE TABLE object (bucket TEXT COLLATE "C" NOT NULL REFERENCES bucket(name), key BYTEA NOT NULL, version_id BYTEA NOT NULL,
                             size BIGINT NOT NULL, etag TEXT NOT NULL, modified_ms BIGINT NOT NULL, metadata TEXT NOT NULL,
                             parts TEXT NOT NULL, versioned BOOLEAN NOT NULL DEFAULT false, PRIMARY KEY (bucket, key));
        CREATE TABLE object_version (bucket TEXT COLLATE "C" NOT NULL REFERENCES bucket(name), key BYTEA NOT NULL, seq BIGINT NOT NULL,
                                     version_id BYTEA NOT NULL, versioned BOOLEAN NOT NULL, marker BOOLEAN NOT NULL, size BIGINT NOT NULL,
                                     etag TEXT NOT NULL, modified_ms BIGINT NOT NULL, metadata TEXT NOT NULL, parts TEXT NOT NULL,
                                     PRIMARY KEY (bucket, key, seq));
        CREATE TABLE intent (id TEXT COLLATE "C" PRIMARY KEY, created_ms BIGINT NOT NULL, blobs TEXT NOT NULL);
        CREATE TABLE garbage (provider TEXT COLLATE "C" NOT NULL, blob TEXT COLLATE "C" NOT NULL, added_ms BIGINT NOT NULL,
                              readable BOOLEAN NOT NULL, added_seq BIGINT NOT NULL, PRIMARY KEY (provider, blob));
        CREATE TABLE repair (version_id BYTEA NOT NULL, shard BIGINT NOT NULL, bucket TEXT NOT NULL, key BYTEA NOT NULL,
                             reason TEXT NOT NULL, noted_ms BIGINT NOT NULL, PRIMARY KEY (version_id, shard));
        CREATE TABLE access_key (id TEXT COLLATE "C" PRIMARY KEY, name TEXT NOT NULL, owner TEXT NOT NULL, sealed_secret BYTEA NOT NULL,
                                 read_only BOOLEAN NOT NULL, buckets TEXT NOT NULL, created_ms BIGINT NOT NULL);
        CREATE TABLE upload (id TEXT COLLATE "C" PRIMARY KEY, bucket TEXT COLLATE "C" NOT NULL REFERENCES bucket(name), key BYTEA NOT NULL,
                             created_ms BIGINT NOT NULL, metadata TEXT NOT NULL);
        CREATE INDEX upload_by_key ON upload (bucket, key, id);
        CREATE TABLE upload_part (upload_id TEXT COLLATE "C" NOT NULL REFERENCES upload(id), number BIGINT NOT NULL, size BIGINT NOT NULL,
                                  etag TEXT NOT NULL, modified_ms BIGINT NOT NULL, manifest TEXT NOT NULL, checksums TEXT,
                                  PRIMARY KEY (upload_id, number));
        CREATE TABLE scrub (version_id BYTEA PRIMARY KEY, light_ms BIGINT, deep_ms BIGINT);
        CREATE TABLE journal (seq BIGINT PRIMARY KEY, change TEXT NOT NULL);
        CREATE TABLE journal_state (id INT PRIMARY KEY CHECK (id = 0), head BIGINT NOT NULL, durable BIGINT NOT NULL, snapshot BIGINT NOT NULL);
        INSERT INTO journal_state (id, head, durable, snapshot) VALUES (0, 0, 0, 0);
        CREATE TABLE journal_blob (kind TEXT NOT NULL, first BIGINT NOT NULL, last BIGINT NOT NULL, copies TEXT NOT NULL);
        CREATE TABLE kms_key (name TEXT COLLATE "C" PRIMARY KEY, record TEXT NOT NULL);
        """,
        """
        CREATE TABLE lease (job TEXT COLLATE "C" PRIMARY KEY, holder TEXT NOT NULL, until_ms BIGINT NOT NULL);
        """,
        """
        CREATE TABLE pack (provider TEXT COLLATE "C" NOT NULL, blob TEXT COLLATE "C" NOT NULL, live BIGINT NOT NULL, open BOOLEAN NOT NULL,
                           PRIMARY KEY (provider, blob));
        """,
    ]

    /// The schema version this gateway writes.
    public static var schemaVersion: Int { migrations.count }

    private func migrate() async throws {
        try await client.withConnection { connection in
            // One migrator at a time across gateways starting together.
            try await connection.query("SELECT pg_advisory_lock(7365420)", logger: self.logger)
            do {
                try await connection.query("CREATE TABLE IF NOT EXISTS nuage_schema (version INT NOT NULL)", logger: self.logger)
                let version = try await connection.query("SELECT version FROM nuage_schema", logger: self.logger)
                    .collect().first.map { try $0.decode(Int.self) } ?? 0
                guard version <= Self.migrations.count else {
                    throw NuageError(.configuration, "the PostgreSQL catalog has schema v\(version), newer than this gateway's v\(Self.migrations.count)")
                }
                for (index, migration) in Self.migrations.enumerated().dropFirst(version) {
                    try await connection.withTransaction(logger: self.logger) { tx in
                        for statement in migration.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) })
                        where !statement.isEmpty {
                            try await tx.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
                        }
                        try await tx.query("DELETE FROM nuage_schema", logger: self.logger)
                        try await tx.query("INSERT INTO nuage_schema (version) VALUES (\(index + 1))", logger: self.logger)
                    }
                }
            } catch {
                do { try await connection.query("SELECT pg_advisory_unlock(7365420)", logger: self.logger) } catch let unlock {
                    // The lock is the session's: it goes when this connection closes.
                    self.logger.warning("the schema lock could not be released", metadata: ["error": "\(unlock)"])
                }
                throw error
            }
            try await connection.query("SELECT pg_advisory_unlock(7365420)", logger: self.logger)
        }
    }

    // MARK: Transactions

    /// A transaction's connection, with helpers.
    /// A transaction's connection, with helpers. In a write, `head` is the journal head as of the
    /// lock (and as each change numbered since): garbage is listed against it without asking again.
    final class Tx: @unchecked Sendable {
        // Used by the one task running the transaction.
        let connection: PostgresConnection
        let logger: Logger
        var head: Int64?

        init(connection: PostgresConnection, logger: Logger) {
            self.connection = connection
            self.logger = logger
        }

        @discardableResult
        func execute(_ query: PostgresQuery) async throws -> [PostgresRow] {
            try await connection.query(query, logger: logger).collect()
        }

        func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
            try await execute(query).map { $0.makeRandomAccess() }
        }

        func row(_ query: PostgresQuery) async throws -> PostgresRandomAccessRow? { try await rows(query).first }
    }

    /// A write: READ COMMITTED, after taking the journal-state row lock (see the type's notes).
    func write<T: Sendable>(_ body: @escaping @Sendable (Tx) async throws -> T) async throws -> T {
        try await transaction("BEGIN ISOLATION LEVEL READ COMMITTED") { tx in
            tx.head = try await tx.row("SELECT head FROM journal_state WHERE id = 0 FOR UPDATE")?["head"].decode(Int64.self)
            return try await body(tx)
        }
    }

    /// One statement on its own (autocommit), for changes that touch nothing the journal head
    /// orders (a write intent): no lock, one round trip.
    func single(_ query: PostgresQuery) async throws {
        try await retrying {
            try await self.client.withConnection { connection in
                _ = try await connection.query(query, logger: self.logger).collect()
            }
        }
    }

    /// A read of one consistent view: REPEATABLE READ, READ ONLY.
    func read<T: Sendable>(_ body: @escaping @Sendable (Tx) async throws -> T) async throws -> T {
        try await transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body)
    }

    /// `body` between `begin` and COMMIT on one pooled connection, rolled back when it throws,
    /// retried as ``retrying(_:)`` says.
    private func transaction<T: Sendable>(_ begin: PostgresQuery, _ body: @escaping @Sendable (Tx) async throws -> T) async throws -> T {
        try await retrying {
            try await self.client.withConnection { connection in
                let tx = Tx(connection: connection, logger: self.logger)
                try await tx.execute(begin)
                do {
                    let result = try await body(tx)
                    try await tx.execute("COMMIT")
                    return result
                } catch {
                    do { try await tx.execute("ROLLBACK") } catch let rollback {
                        // The pool drops a connection that broke; the first error is the one that matters.
                        self.logger.warning("a catalog transaction could not be rolled back", metadata: ["error": "\(rollback)"])
                    }
                    throw error
                }
            }
        }
    }

    /// Retries serialization failures and deadlocks with jittered backoff; other errors pass,
    /// PostgreSQL's as `internalError` with their cause.
    private func retrying<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        var delay = 0.002
        for attempt in 1...Self.attempts {
            do { return try await body() } catch let error as NuageError { throw error } catch let error as PSQLError {
                let state = error.serverInfo?[.sqlState]
                guard attempt < Self.attempts, state == PostgresError.Code.serializationFailure.raw || state == PostgresError.Code.deadlockDetected.raw else {
                    throw NuageError(.internalError, "PostgreSQL catalog: \(error.serverInfo?[.message] ?? "\(error.code)")", cause: error)
                }
                logger.notice("catalog transaction retried", metadata: ["sqlstate": "\(state ?? "")", "attempt": "\(attempt)"])
                try await Task.sleep(for: .seconds(delay * Double.random(in: 0.5...1.5)))
                delay = min(delay * 2, 0.2)
            } catch {
                throw NuageError(.internalError, "PostgreSQL catalog failed", cause: error)
            }
        }
        throw NuageError(.internalError, "PostgreSQL catalog: unreachable")
    }

    static let attempts = 8
}
