import Foundation
import Logging
import Metrics
import NuageCatalog
import NuageCore
import NuageCrypto
import NuageErasure
import NuageProviders
import Synchronization

/// The storage engine: turns objects into sealed, erasure-coded shard blobs on providers and
/// back, with the catalog as the single source of truth for what is visible.
///
/// Put: segments of plaintext are sealed (AES-256-GCM), split into `k` data chunks, `m` parity
/// chunks are computed, every chunk gets a keyed tag, and chunk `i` is appended to shard blob
/// `i` on provider `i`, all providers in parallel; the manifest commits once the write quorum is
/// durable. Get: data shards first (no decoding when they are healthy); a missing or bad chunk is
/// fetched from a parity shard and decoded.
public final class Engine: Sendable {
    public let catalog: any Catalog
    public let placement: Placement
    /// The active master key: it wraps new data keys and seals new headers, secrets and journal blobs.
    public var masterKey: MasterKey { keySet.withLock { $0.active } }
    /// Master keys rotated out but not yet retired: what they sealed still opens.
    public var olderKeys: [MasterKey] { keySet.withLock { $0.older } }
    private let keySet: Mutex<(active: MasterKey, older: [MasterKey], loaded: ContinuousClock.Instant)>
    /// Reads the keys again (from the data directory), for a rotation made by another process.
    private let keyLoader: (@Sendable () throws -> (active: MasterKey, older: [MasterKey]))?
    /// Plaintext bytes per sealed segment for new objects.
    public let segmentSize: Int
    /// Objects put whole of at most this many bytes are written in packs (0: none is).
    public let packLimit: Int
    /// Packs the shard blobs of small objects that are put meanwhile.
    let packWriter = PackWriter()
    /// The largest ``packLimit`` (a packed object is sealed and encoded in memory).
    public static let packLimits = 0...(16 << 20)
    public let kernel: Kernel
    let providers: [String: any Provider]
    /// What the engine has seen of each provider (when it is wrapped in ``Resilience``).
    public let health: [String: HealthTracker]
    /// How long writes wait for straggling shards once the write quorum is durable, and how
    /// long a shard may stop accepting data before it is given up mid-write.
    public let stragglerGrace: Duration
    /// How long the blobs of a replaced or deleted version (or a swapped-out shard) are kept
    /// before they are deleted, so that a read that started before the change finishes whole.
    public let deleteDelay: Duration
    /// Why new objects cannot be placed under the current policy (empty: they can). Reads,
    /// listings and deletes never depend on it.
    public let placementProblems: [String]
    /// Providers configured with `read = "never"`.
    public let neverContacted: Set<String>
    /// Where errors the engine tolerates (rather than throws) are said, with their cause.
    public let logger: Logger
    /// The time hedged reads, the straggler grace of writes and prompt deletions wait on.
    public let time: TimeSource
    private let codecs = CodecCache()
    let journalFlusher = JournalFlusher()
    /// The KMS keys' records and the keys unwrapped from them (re-read every 2 seconds).
    let kmsCache = KMSKeyCache()

    /// Providers keyed by descriptor, in configuration order.
    public struct ProviderEntry: Sendable {
        public var descriptor: ProviderDescriptor
        public var provider: any Provider
        public var health: HealthTracker?
        /// Never contact it (`read = "never"`): its shards are read from the others, its garbage waits.
        public var neverContacted: Bool
        public init(descriptor: ProviderDescriptor, provider: any Provider, health: HealthTracker? = nil, neverContacted: Bool = false) {
            self.descriptor = descriptor
            self.provider = provider
            self.health = health
            self.neverContacted = neverContacted
        }
    }

    /// Builds an engine and runs the codec self-test. A policy the providers cannot meet does
    /// not stop the engine: everything that reads, lists or deletes works, and writes are refused
    /// with `policyUnsatisfiable` naming the failing rules (``placementProblems``).
    /// - Throws: `NuageError.integrity` when the codec self-test fails (the engine refuses to run),
    ///   `NuageError.configuration` for a bad policy or segment size.
    public init(catalog: any Catalog, providers: [ProviderEntry], policy: PlacementPolicy, masterKey: MasterKey,
                olderKeys: [MasterKey] = [], keyLoader: (@Sendable () throws -> (active: MasterKey, older: [MasterKey]))? = nil,
                segmentSize: Int = 1 << 20, packLimit: Int = 0, kernel: Kernel = .fastest,
                stragglerGrace: Duration = .seconds(2), deleteDelay: Duration = .seconds(3600),
                logger: Logger = Logger(label: "nuage.engine"), time: TimeSource = .continuous) throws {
        guard Manifest.segmentSizes.contains(segmentSize) else {
            throw NuageError(.configuration, "segment size must be between 4 KiB and 64 MiB, not \(segmentSize)")
        }
        guard Self.packLimits.contains(packLimit) else {
            throw NuageError(.configuration, "the pack limit must be between 0 (no packs) and 16 MiB, not \(packLimit)")
        }
        // Everything that can throw happens before any stored property is set.
        try ReedSolomon.selfTest()
        let placement = try Placement(policy: policy, providers: providers.map(\.descriptor))
        // A policy the providers cannot meet is never weakened: writes are refused, reads go on.
        placementProblems = placement.check().failures
        self.catalog = catalog
        self.placement = placement
        self.providers = Dictionary(uniqueKeysWithValues: providers.map { ($0.descriptor.name, $0.provider) })
        self.health = Dictionary(uniqueKeysWithValues: providers.compactMap { entry in entry.health.map { (entry.descriptor.name, $0) } })
        self.stragglerGrace = stragglerGrace
        self.deleteDelay = deleteDelay
        neverContacted = Set(providers.filter(\.neverContacted).map(\.descriptor.name))
        keySet = Mutex((masterKey, olderKeys.filter { $0.id != masterKey.id }, .now))
        self.keyLoader = keyLoader
        self.segmentSize = segmentSize
        self.packLimit = packLimit
        self.kernel = kernel
        self.logger = logger
        self.time = time
    }

    /// The same engine (catalog, providers, health, keys, settings) with `draining` as the only
    /// providers marked draining: what a gateway restarted after that change to `nuage.toml`
    /// would run.
    public func marking(draining: Set<String>) throws -> Engine {
        let entries = placement.providers.map { descriptor in
            var descriptor = descriptor
            descriptor.draining = draining.contains(descriptor.name)
            return ProviderEntry(descriptor: descriptor, provider: providers[descriptor.name]!, health: health[descriptor.name],
                                 neverContacted: neverContacted.contains(descriptor.name))
        }
        return try Engine(catalog: catalog, providers: entries, policy: placement.policy, masterKey: masterKey, olderKeys: olderKeys,
                          keyLoader: keyLoader, segmentSize: segmentSize, packLimit: packLimit, kernel: kernel, stragglerGrace: stragglerGrace, deleteDelay: deleteDelay,
                          logger: logger, time: time)
    }

    // MARK: Keys

    /// Every master key held, the active one first.
    public var keys: [MasterKey] { [masterKey] + olderKeys }

    /// Reads the keys again when another process rotated them (`nuage keys rotate-master` while
    /// a gateway serves): new writes use the new active key, and a retired key is dropped.
    /// - Returns: whether the active key changed.
    @discardableResult
    public func reloadKeys() throws -> Bool {
        guard let keyLoader else { return false }
        let (active, older) = try keyLoader()
        return keySet.withLock { set in
            defer { set = (active, older.filter { $0.id != active.id }, .now) }
            return set.active.id != active.id
        }
    }

    /// Reloads the keys at most once a second, when something sealed under a key not held turns up.
    private func reloadOnMiss() -> Bool {
        guard keyLoader != nil, keySet.withLock({ ContinuousClock.now - $0.loaded > .seconds(1) }) else { return false }
        do {
            try reloadKeys()
            return true
        } catch {
            Self.tolerated("read the master keys again", error, logger: logger, level: .error)
            return false
        }
    }

    /// The master key with this id.
    /// - Throws: `integrity` when it is not held (retired, or another gateway's).
    func key(id: UInt32) throws -> MasterKey {
        guard let key = keys.first(where: { $0.id == id }) ?? (reloadOnMiss() ? keys.first(where: { $0.id == id }) : nil) else {
            throw NuageError(.integrity, "sealed under master key \(String(format: "%08x", id)), which this gateway does not hold "
                             + "(retired, or the key of another data directory)")
        }
        return key
    }

    /// The data key of a version, unwrapped with the master key that wrapped it, with the
    /// client's key for a version stored under one (SSE-C), or with its KMS key (SSE-KMS).
    /// - Throws: `customerKeyRequired`, `customerKeyMismatch`, `customerKeyNotApplicable` (see
    ///   ``checkCustomerKey(_:for:)``); `kmsDisabled`, `kmsInvalidState`, `kmsNotFound` for a
    ///   KMS key that is not enabled; `integrity` when the wrapped key does not open.
    func dataKey(_ manifest: Manifest, customerKey: CustomerKey? = nil) async throws -> DataKey {
        try Self.checkCustomerKey(customerKey, for: manifest)
        if let customerKey { return try customerKey.unwrap(manifest.wrappedKey, versionID: manifest.versionID) }
        if let id = manifest.kmsKeyID {
            return try await kmsKey(id: id).unwrap(manifest.wrappedKey, versionID: manifest.versionID)
        }
        return try await key(id: manifest.keyID).unwrap(manifest.wrappedKey, context: manifest.versionID)
    }

    /// The key that checks a version's chunk tags: format 2 keeps it wrapped under the master
    /// key (so that repair, drain and scrub never need the client's key); format 1 derives it
    /// from the data key.
    func tagKey(_ manifest: Manifest) async throws -> ChunkTagKey {
        guard let wrapped = manifest.wrappedTagKey else { return try await dataKey(manifest).derivedTagKey }
        return try await key(id: manifest.keyID).unwrapTagKey(wrapped, versionID: manifest.versionID)
    }

    /// Whether `customerKey` is what reading the version needs: the key it is stored under
    /// (SSE-C), or none for a version stored under the gateway's keys.
    /// - Throws: `customerKeyRequired` when the version needs a key and none was given,
    ///   `customerKeyMismatch` when the given key is another, `customerKeyNotApplicable` when the
    ///   version needs none.
    public static func checkCustomerKey(_ customerKey: CustomerKey?, for manifest: Manifest) throws {
        try checkCustomerKey(customerKey, against: manifest.customerKeyCheck, salt: manifest.versionID,
                             notApplicable: "The encryption parameters are not applicable to this object.",
                             required: "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
                             mismatch: "The provided encryption key does not match the key the object was stored with.")
    }

    /// A client's key (or none) against the check stored for what it opens (or none), with S3's
    /// wording for each way they can disagree.
    static func checkCustomerKey(_ customerKey: CustomerKey?, against stored: [UInt8]?, salt: [UInt8],
                                 notApplicable: String, required: String, mismatch: String) throws {
        switch (stored, customerKey) {
        case (nil, nil): return
        case (nil, _?): throw NuageError(.customerKeyNotApplicable, notApplicable)
        case (_?, nil): throw NuageError(.customerKeyRequired, required)
        case (let check?, let key?):
            guard key.matches(check, versionID: salt) else { throw NuageError(.customerKeyMismatch, mismatch) }
        }
    }

    /// ``checkCustomerKey(_:for:)`` for every part of an object.
    public static func checkCustomerKey(_ customerKey: CustomerKey?, for record: ObjectRecord) throws {
        for manifest in record.parts { try checkCustomerKey(customerKey, for: manifest) }
    }

    /// A shard header, opened with whichever master key sealed it (the active one first).
    func openHeader(_ bytes: [UInt8]) throws -> ShardHeader {
        var last: (any Error)?
        for key in keys {
            do { return try ShardHeader.open(bytes, with: key) } catch { last = error }
        }
        throw last ?? NuageError(.integrity, "no master key")
    }

    /// An access key's secret, opened with whichever master key sealed it (the keys are read
    /// again once when none does: a rotation may have sealed it anew).
    public func openSecret(_ sealed: [UInt8], accessKey: String) throws -> String {
        var last: (any Error)?
        for attempt in 0..<2 {
            if attempt == 1 && !reloadOnMiss() { break }
            for key in keys {
                do { return try key.openSecret(sealed, accessKey: accessKey) } catch { last = error }
            }
        }
        throw last ?? NuageError(.integrity, "no master key")
    }

    /// The codec for `k + m`, built once.
    func codec(dataShards k: Int, parityShards m: Int) throws -> ReedSolomon {
        try codecs.codec(dataShards: k, parityShards: m, kernel: kernel)
    }

    func provider(named name: String) throws -> any Provider {
        guard let provider = providers[name] else {
            throw NuageError(.configuration, "provider \(name) is referenced by the catalog but not configured")
        }
        return provider
    }

    // MARK: Buckets

    /// - Parameter objectLock: the Object Lock configuration (stored form) of a bucket created with it.
    public func createBucket(_ name: String, owner: String = Owner.default, objectLock: String? = nil) async throws {
        try ObjectNames.validateBucket(name)
        try await catalog.createBucket(name, owner: owner, objectLock: objectLock)
        try await journalDurable()
    }

    public func deleteBucket(_ name: String) async throws {
        try await catalog.deleteBucket(name)
        try await journalDurable()
    }

    public func listBuckets() async throws -> [BucketRecord] {
        try await catalog.listBuckets()
    }

    // MARK: Objects

    /// The record of the version `version` names (the current one by default).
    /// - Throws: `noSuchBucket`; `noSuchKey` (no current version), `noSuchVersion`; `deleteMarker`
    ///   when the version named is one.
    public func head(bucket: String, key: String, version: VersionSelector = .current) async throws -> ObjectRecord {
        guard let record = try await lookup(bucket: bucket, key: key, version: version), !(record.deleteMarker && version == .current) else {
            throw version == .current ? NuageError(.noSuchKey, "no object \(key) in bucket \(bucket)")
                : NuageError(.noSuchVersion, "no version \(version.s3Text ?? "") of \(key) in bucket \(bucket)")
        }
        guard !record.deleteMarker else { throw NuageError(.deleteMarker, "version \(record.s3VersionID) of \(key) is a delete marker") }
        return record
    }

    /// Deletes the current version (or places a delete marker, in a versioned bucket); deleting
    /// a missing key succeeds (as in S3).
    /// - Throws: `noSuchBucket`.
    public func delete(bucket: String, key: String) async throws {
        if case .failure(let error) = try await delete(bucket: bucket, [DeleteRequest(key: key)])[0] { throw error }
    }

    /// ``delete(bucket:_:bypassGovernance:)`` of current versions.
    /// - Parameter ifVersions: for the keys named here, delete only while the current version is
    ///   this one (a key overwritten meanwhile is left alone, and counts as done).
    /// - Returns: why each key that could not be deleted was not (a missing key is deleted).
    public func delete(bucket: String, keys: [String], ifVersions: [String: [UInt8]] = [:]) async throws -> [String: any Error] {
        let outcomes = try await delete(bucket: bucket, keys.map { DeleteRequest(key: $0, ifVersion: ifVersions[$0]) })
        var failed: [String: any Error] = [:]
        for (key, outcome) in zip(keys, outcomes) { if case .failure(let error) = outcome { failed[key] = error } }
        return failed
    }

    /// Refuses a write when new objects cannot be placed, saying why and that reads go on.
    func requirePlaceable() throws {
        guard placementProblems.isEmpty else {
            throw NuageError(.policyUnsatisfiable, "new objects cannot be placed under the policy: \(placementProblems.joined(separator: "; ")) "
                + "(reads, listings and deletes still work; `nuage policy check` says what would fix it)")
        }
    }

    /// Blobs of a replaced or deleted version: deleted after ``deleteDelay`` by the background
    /// collector (`nuage serve`) or `nuage gc`; at once when the delay is zero.
    func collectReplaced(_ blobs: [BlobRef]) async {
        // Only once the change that replaced them is in the journal at providers; otherwise
        // they wait on the garbage list.
        guard deleteDelay == .zero,
              await tolerating("journal a change before deleting what it replaced", { try await journalDurable() }) != nil else { return }
        await collectPromptly(blobs)
    }

    /// Deletes the garbage that is due: every blob no read can need, and those of versions
    /// replaced more than `delay` (default ``deleteDelay``) ago.
    /// - Returns: blobs deleted, and blobs that could not be deleted now (kept for the next run).
    @discardableResult
    public func collectDueGarbage(delay: Duration? = nil) async throws -> (deleted: Int, failed: Int) {
        let cutoff = Date().addingTimeInterval(-(delay ?? deleteDelay).inSeconds)
        // Only blobs of changes already in the journal at providers (a recovered catalog never
        // points at a deleted blob): flush what is pending first.
        await tolerating("journal pending changes before collecting garbage") { try await journalDurable() }
        let journaled = try await catalog.journalState().durable
        var deleted = 0, failed = 0
        var skipped: Set<BlobRef> = []
        while true {
            let batch = try await catalog.garbage(limit: 1000 + skipped.count, readableBefore: cutoff, journaledThrough: journaled).filter { !skipped.contains($0) }
            guard !batch.isEmpty else { break }
            let done = await collect(batch)
            deleted += done
            guard done < batch.count else { continue }
            failed += batch.count - done
            let remaining = Set(try await catalog.garbage(limit: 1000 + skipped.count + batch.count, readableBefore: cutoff, journaledThrough: journaled))
            skipped.formUnion(batch.filter { remaining.contains($0) })
            if skipped.count > 10_000 { break }
        }
        return (deleted, failed)
    }

    /// `collect`, for a request: waits at most `stragglerGrace`. Whatever is not deleted by then
    /// (a provider that stopped answering) stays on the garbage list for `gc`; a request never
    /// waits on a provider it does not need.
    func collectPromptly(_ blobs: [BlobRef]) async {
        guard !blobs.isEmpty else { return }
        _ = try? await withDeadline(stragglerGrace, time: time, onTimeout: { CancellationError() }) { await self.collect(blobs) }
    }

    /// Deletes blobs that the catalog has already moved to the garbage list, forgetting those
    /// that are gone; failures stay listed for `gc`.
    @discardableResult
    func collect(_ blobs: [BlobRef]) async -> Int {
        // A piece is never deleted alone: the catalog lists its pack once no piece of it is live.
        let packs = Array(Set(blobs.filter(\.isPiece).map(\.whole)))
        let deadPacks = packs.isEmpty ? [] : await tolerating("find the packs whose last piece went (gc deletes them)") {
            try await catalog.garbageAmong(packs)
        } ?? []
        let blobs = blobs.filter { !$0.isPiece } + deadPacks
        let deleted = await withTaskGroup(of: BlobRef?.self) { group in
            for ref in blobs where !neverContacted.contains(ref.provider) {
                group.addTask {
                    do {
                        try await self.provider(named: ref.provider).delete(ref.blob)
                        return ref
                    } catch {
                        // One line per blob would flood the log while a provider is down: debug, and counted.
                        Self.tolerated("delete a garbage blob (kept for the next run)", error, logger: self.logger, level: .debug,
                                       metadata: ["provider": "\(ref.provider)"])
                        return nil
                    }
                }
            }
            var deleted: [BlobRef] = []
            for await ref in group { if let ref { deleted.append(ref) } }
            return deleted
        }
        await tolerating("forget deleted garbage blobs (deleted again later)") { try await catalog.removeGarbage(deleted) }
        return deleted.count
    }
}

extension Engine {
    /// Runs `body`, tolerating its error: logged with its cause at `level` and counted
    /// (`nuage_tolerated_errors_total{what}`), never thrown.
    /// - Returns: the result, or nil when it failed.
    @discardableResult
    public func tolerating<T>(_ what: String, level: Logger.Level = .warning, metadata: Logger.Metadata = [:],
                       _ body: () async throws -> T) async -> T? {
        do { return try await body() } catch {
            Self.tolerated(what, error, logger: logger, level: level, metadata: metadata)
            return nil
        }
    }

    static func tolerated(_ what: String, _ error: any Error, logger: Logger, level: Logger.Level, metadata: Logger.Metadata = [:]) {
        var metadata = metadata
        metadata["error"] = "\(error)"
        logger.log(level: level, "tolerated: could not \(what)", metadata: metadata)
        Counter(label: "nuage_tolerated_errors_total", dimensions: [("what", what)]).increment()
    }
}

/// Reed-Solomon codecs by shape, built once each.
final class CodecCache: Sendable {
    private let codecs = Mutex<[Int: ReedSolomon]>([:])

    func codec(dataShards k: Int, parityShards m: Int, kernel: Kernel) throws -> ReedSolomon {
        let key = k << 16 | m
        if let codec = codecs.withLock({ $0[key] }) { return codec }
        let codec = try ReedSolomon(dataShards: k, parityShards: m, kernel: kernel)
        codecs.withLock { $0[key] = codec }
        return codec
    }
}
