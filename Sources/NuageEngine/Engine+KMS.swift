import Foundation
import NuageCatalog
import NuageCore
import NuageCrypto

/// The gateway's key service (SSE-KMS): named keys, wrapped by the master key, that wrap the
/// data keys of the objects stored under them; disabled, enabled, and destroyed for good.
///
/// A key's state is read from the catalog at most ``KMSKeyCache/lifetime`` (2 s) before it is
/// used, so a key disabled by `nuage kms` (another process) or another gateway is refused here
/// within 2 seconds.
extension Engine {
    /// Destruction waits this long after `nuage kms destroy` unless asked otherwise (as AWS KMS).
    public static let kmsDefaultWaitingDays = 7
    /// The waiting periods allowed (AWS KMS: 7 to 30 days); `--now` skips the wait altogether.
    public static let kmsWaitingDays = 1...30

    /// Every KMS key, destroyed ones included, read from the catalog now.
    public func kmsKeys() async throws -> [KMSKeyRecord] { try await catalog.kmsKeys() }

    /// Creates a KMS key: 32 random bytes wrapped under the active master key.
    /// - Throws: `invalidArgument` for a bad name or one that exists or existed.
    @discardableResult
    public func createKMSKey(name: String, owner: String = Owner.default, now: Date = Date()) async throws -> KMSKeyRecord {
        try Owner.validate(owner)
        guard KMSKeyRecord.isValidName(name) else {
            throw NuageError(.invalidArgument, "a KMS key name is 1 to 64 of A-Z a-z 0-9 / _ - and does not start with alias/, aws/ or /")
        }
        let (id, material) = KMSKey.random()
        let record = KMSKeyRecord(name: name, owner: owner, id: id, state: .enabled, masterKeyID: masterKey.id,
                                  wrappedKey: try await masterKey.wrapKMSKey(material, id: id), created: now)
        try await catalog.createKMSKey(record)
        kmsCache.invalidate()
        return record
    }

    /// Disables or enables a key. Destroyed keys and keys pending deletion cannot be enabled
    /// (cancel the destruction first) and disabling them changes nothing.
    /// - Throws: `kmsNotFound`, `kmsInvalidState`.
    @discardableResult
    public func setKMSKey(name: String, enabled: Bool) async throws -> KMSKeyRecord {
        var record = try await kmsRecordNow(name)
        guard record.state == .enabled || record.state == .disabled else {
            throw NuageError(.kmsInvalidState, "KMS key \(name) is \(record.state.rawValue): it cannot be \(enabled ? "enabled" : "disabled")"
                             + (record.state == .pendingDeletion ? " (nuage kms cancel-destroy first)" : ""))
        }
        record.state = enabled ? .enabled : .disabled
        try await catalog.updateKMSKey(record)
        kmsCache.invalidate()
        return record
    }

    /// Schedules a key's destruction `days` days from `now`; it is refused for reads and writes
    /// at once, and destroyed by ``destroyDueKMSKeys(now:)`` (the gateway's background work and
    /// `nuage gc`) once due.
    /// - Throws: `kmsNotFound`, `kmsInvalidState` when destroyed, `invalidArgument` for a period outside 1...30.
    @discardableResult
    public func scheduleKMSKeyDestruction(name: String, days: Int = Engine.kmsDefaultWaitingDays, now: Date = Date()) async throws -> KMSKeyRecord {
        guard Self.kmsWaitingDays.contains(days) else {
            throw NuageError(.invalidArgument, "the waiting period is \(Self.kmsWaitingDays.lowerBound) to \(Self.kmsWaitingDays.upperBound) days (or destroy --now)")
        }
        var record = try await kmsRecordNow(name)
        guard record.state != .destroyed else { throw NuageError(.kmsInvalidState, "KMS key \(name) is already destroyed") }
        record.state = .pendingDeletion
        record.deletionDate = now.addingTimeInterval(Double(days) * 86_400)
        try await catalog.updateKMSKey(record)
        kmsCache.invalidate()
        return record
    }

    /// Cancels a scheduled destruction; the key is left disabled (as AWS KMS does).
    /// - Throws: `kmsNotFound`, `kmsInvalidState` unless the key is pending deletion.
    @discardableResult
    public func cancelKMSKeyDestruction(name: String) async throws -> KMSKeyRecord {
        var record = try await kmsRecordNow(name)
        guard record.state == .pendingDeletion else {
            throw NuageError(.kmsInvalidState, "KMS key \(name) is \(record.state.rawValue), not pending deletion")
        }
        record.state = .disabled
        record.deletionDate = nil
        try await catalog.updateKMSKey(record)
        kmsCache.invalidate()
        return record
    }

    /// What destroying a key did.
    public struct KMSDestruction: Sendable, Codable, Hashable {
        public var key: KMSKeyRecord
        /// Journal segments and snapshots at providers that held the key's wrapped bytes, now
        /// replaced by a snapshot without them and deleted (or listed for deletion by gc).
        public var journalBlobsRetired = 0
        /// Why compaction or deletion did not finish (run `nuage gc`); empty when it did.
        public var problems: [String] = []
    }

    /// Destroys a key now: its wrapped bytes are erased from the catalog, a catalog snapshot
    /// without them replaces the journal at providers, and the journal blobs that held them are
    /// deleted. Every object under the key is unreadable from then on (crypto-shredded);
    /// `nuage gc` removes them. The key's record stays, so its name is never reused and
    /// `nuage stat` can say what became of its objects.
    /// - Throws: `kmsNotFound`; `kmsInvalidState` when already destroyed.
    @discardableResult
    public func destroyKMSKey(name: String, now: Date = Date()) async throws -> KMSDestruction {
        var record = try await kmsRecordNow(name)
        guard record.state != .destroyed else { throw NuageError(.kmsInvalidState, "KMS key \(name) is already destroyed") }
        record.state = .destroyed
        record.wrappedKey = []
        record.deletionDate = now
        try await catalog.updateKMSKey(record)
        kmsCache.invalidate()
        var destruction = KMSDestruction(key: record)
        // Older journal blobs still hold the wrapped bytes: a snapshot replaces them all.
        let before = try await catalog.journalBlobs().filter { $0.kind != .audit }
        do {
            try await journalDurable()
            let snapshot = try await snapshotCatalog()
            let retired = before.filter { $0 != snapshot }
            destruction.journalBlobsRetired = retired.count
            let (_, failed) = try await collectDueGarbage(delay: deleteDelay)
            if failed > 0 { destruction.problems.append("\(failed) blob(s) could not be deleted now; nuage gc deletes them later") }
        } catch {
            destruction.problems.append("the journal at providers still holds the key's wrapped bytes until a snapshot is written "
                                        + "(nuage gc, or the gateway's next compaction): \(error)")
        }
        return destruction
    }

    /// Destroys every key whose scheduled destruction is due.
    /// - Returns: what each destruction did.
    public func destroyDueKMSKeys(now: Date = Date()) async throws -> [KMSDestruction] {
        var done: [KMSDestruction] = []
        for record in try await catalog.kmsKeys() where record.state == .pendingDeletion && (record.deletionDate ?? .distantFuture) <= now {
            done.append(try await destroyKMSKey(name: record.name, now: now))
        }
        return done
    }

    /// How an object's data keys are protected, in words an operator (or a regulator) reads.
    public func encryptionDescription(of record: ObjectRecord) async throws -> String {
        let manifest = record.parts[0]
        if manifest.needsCustomerKey {
            return "SSE-C: only the client's key opens it (the gateway stores a salted HMAC of that key, never the key)"
        }
        guard let id = manifest.kmsKeyID else { return "SSE-S3: data keys wrapped under the gateway's master key" }
        guard let key = try await catalog.kmsKeys().first(where: { $0.id == id }) else {
            return "SSE-KMS under key id \(id.hex), which this catalog does not have: unreadable"
        }
        let iso = ISO8601DateFormatter()
        switch key.state {
        case .enabled: return "SSE-KMS under key \(key.name) (enabled)"
        case .disabled: return "SSE-KMS under key \(key.name) (disabled: reads and writes refused until enabled)"
        case .pendingDeletion:
            return "SSE-KMS under key \(key.name) (pending deletion on \(key.deletionDate.map(iso.string(from:)) ?? "?"): refused; "
                + "crypto-shredded then unless nuage kms cancel-destroy)"
        case .destroyed:
            return "SSE-KMS under key \(key.name), DESTROYED on \(key.deletionDate.map(iso.string(from:)) ?? "?"): crypto-shredded, "
                + "unreadable by anyone whatever copies providers keep; nuage gc removes its shards"
        }
    }

    /// The record of a key by name or id, as this gateway knows it (at most 2 s old; a key it
    /// does not know is looked for in the catalog again: it may have just been created).
    public func kmsRecord(name: String) async throws -> KMSKeyRecord? {
        if let record = try await kmsCache.records(load: { try await catalog.kmsKeys() }).byName[name] { return record }
        return try await kmsCache.records(fresh: true) { try await catalog.kmsKeys() }.byName[name]
    }

    public func kmsRecord(id: [UInt8]) async throws -> KMSKeyRecord? {
        if let record = try await kmsCache.records(load: { try await catalog.kmsKeys() }).byID[id] { return record }
        return try await kmsCache.records(fresh: true) { try await catalog.kmsKeys() }.byID[id]
    }

    /// The enabled key `name`, to wrap a new object's data key.
    /// - Throws: `kmsNotFound`, `kmsDisabled`, `kmsInvalidState`.
    func kmsKeyForWriting(_ name: String) async throws -> KMSKey {
        guard let record = try await kmsRecord(name: name), record.state != .destroyed else {
            throw NuageError(.kmsNotFound, "Invalid keyId \(name)")
        }
        return try await unwrapped(record)
    }

    /// ``kmsKeyForWriting(_:)`` for a name that may be absent (the master key wraps then).
    func kmsKeyForWriting(optional name: String?) async throws -> KMSKey? {
        guard let name else { return nil }
        return try await kmsKeyForWriting(name)
    }

    /// The enabled key with this id, to unwrap an object's data key.
    /// - Throws: `kmsNotFound`, `kmsDisabled`, `kmsInvalidState`.
    func kmsKey(id: [UInt8]) async throws -> KMSKey {
        guard let record = try await kmsRecord(id: id) else {
            throw NuageError(.kmsNotFound, "The object's KMS key (id \(id.hex)) is not in this catalog")
        }
        return try await unwrapped(record)
    }

    private func unwrapped(_ record: KMSKeyRecord) async throws -> KMSKey {
        try Self.requireUsable(record)
        if let key = kmsCache.unwrapped(id: record.id) { return key }
        let key = try await self.key(id: record.masterKeyID).unwrapKMSKey(record.wrappedKey, id: record.id)
        kmsCache.remember(key)
        return key
    }

    /// Throws unless the key may wrap and unwrap data keys.
    static func requireUsable(_ record: KMSKeyRecord) throws {
        switch record.state {
        case .enabled: return
        case .disabled: throw NuageError(.kmsDisabled, "The KMS key \(record.name) is disabled.")
        case .pendingDeletion:
            throw NuageError(.kmsInvalidState, "The KMS key \(record.name) is pending deletion (nuage kms cancel-destroy makes it usable again).")
        case .destroyed:
            throw NuageError(.kmsInvalidState, "The KMS key \(record.name) was destroyed: the objects under it are crypto-shredded and cannot be read.")
        }
    }

    private func kmsRecordNow(_ name: String) async throws -> KMSKeyRecord {
        guard let record = try await catalog.kmsKeys().first(where: { $0.name == name }) else {
            throw NuageError(.kmsNotFound, "no KMS key \(name)")
        }
        return record
    }
}
