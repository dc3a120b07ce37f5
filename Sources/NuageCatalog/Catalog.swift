import Foundation
import NuageCore

/// The gateway's strongly consistent metadata: buckets, object versions with their manifests,
/// write intents, blobs awaiting deletion and shards awaiting repair.
///
/// The contract every implementation keeps (and `CatalogConformance` checks):
/// - Each method is atomic: it happens entirely or not at all, and concurrent callers (in this
///   process or in other gateways sharing the catalog) see it entirely or not at all.
/// - Crash safety of puts rests on intents: the engine records an intent naming every blob it
///   is about to write *before* writing any. ``commit(_:intent:expectedVersion:)`` makes the
///   object visible and retires the intent in one transaction (the intent's blobs the object
///   leaves out, shards that did not land, go to the garbage list); ``abandonIntent(_:)`` moves an intent's blobs to the
///   garbage list. So every blob on a provider is referenced by an object, an intent or the
///   garbage list, and ``gc`` can tell an orphan from a write in progress.
/// - Replacing or deleting an object moves its blobs to the garbage list in the same
///   transaction.
/// - Listings are in ascending byte order of the key's UTF-8 bytes (S3's order).
/// - Errors are `NuageError`s: `noSuchBucket`, `bucketAlreadyExists`, `bucketNotEmpty`,
///   `preconditionFailed` for a failed condition, `noSuchUpload`, `invalidPart`, `objectLocked`;
///   anything else is `internalError` with a cause.
/// - Versions: a key has at most one current version (``object(bucket:key:)``, what listings,
///   reads and conditions see) and any number of older ones and delete markers, newest first.
///   The current version, when there is one, is the newest. A record's `versioned` flag decides
///   what a write does: a versioned record keeps every earlier version; a null one (unversioned
///   and Suspended buckets) replaces the key's null version, current or not, whose blobs go to
///   garbage. A version under Object Lock retention or legal hold (``ObjectLock``) is never
///   removed: every method that would remove one throws `objectLocked` and changes nothing.
public protocol Catalog: Sendable {
    /// - Parameter objectLock: the bucket's Object Lock configuration (stored form), for a
    ///   bucket created with Object Lock: its versioning is Enabled from the start.
    /// - Throws: `bucketAlreadyExists`, whoever owns it.
    func createBucket(_ name: String, owner: String, objectLock: String?) async throws
    /// Uploads in progress in the bucket are aborted with it.
    /// - Throws: `noSuchBucket`, or `bucketNotEmpty` when it holds any version or delete marker.
    func deleteBucket(_ name: String) async throws
    func bucket(_ name: String) async throws -> BucketRecord?
    func listBuckets() async throws -> [BucketRecord]
    /// Replaces an existing bucket's settings (encryption, tags, CORS, lifecycle, policy,
    /// versioning, Object Lock); its name, owner and creation date stay.
    /// - Throws: `noSuchBucket`; `invalidArgument` when versioning or Object Lock would be
    ///   removed once set, or a bucket with Object Lock would have its versioning suspended.
    func updateBucket(_ bucket: BucketRecord) async throws

    /// Records that the blobs of `intent` are about to be written.
    func recordIntent(_ intent: WriteIntent) async throws
    /// Makes `object` the current version of its key and retires `intent`. A versioned `object`
    /// keeps the version it follows (noncurrent); a null one replaces the key's null version,
    /// whose blobs go to the garbage list.
    /// - Parameter expectedVersion: when set, commit only if the current version is this one
    ///   (`[]` meaning "no current version"); otherwise throws `preconditionFailed`.
    /// - Returns: the replaced current version, if any (nil when it was kept as noncurrent).
    /// - Throws: `noSuchBucket` when the bucket no longer exists; `preconditionFailed` when the
    ///   intent is gone (garbage collection gave it up, so its blobs may be deleted).
    @discardableResult
    func commit(_ object: ObjectRecord, intent: String, expectedVersion: [UInt8]?) async throws -> ObjectRecord?
    /// Moves an intent's blobs to the garbage list and forgets the intent.
    func abandonIntent(_ id: String) async throws
    /// Intents recorded before `date` (writes that crashed or are still running).
    func intents(before date: Date) async throws -> [WriteIntent]

    /// The current version (never a delete marker).
    func object(bucket: String, key: String) async throws -> ObjectRecord?
    /// The version of `bucket`/`key` with this id, current or not, delete markers included;
    /// nil `versionID`: the null version.
    func version(bucket: String, key: String, versionID: [UInt8]?) async throws -> ObjectRecord?
    /// Deletes the current version as a DELETE without a version id does (only when it is
    /// `version`, if given; `[]`: only when there is none).
    /// - Parameter marker: nil in an unversioned bucket: the current version goes, its blobs to
    ///   the garbage list. Otherwise the delete marker (``ObjectRecord/deleteMarker(bucket:key:versioned:modified:)``)
    ///   becomes the newest version: versioned, it keeps the current version as noncurrent; null,
    ///   it replaces the key's null version.
    /// - Returns: the version whose blobs went to the garbage list, or nil.
    @discardableResult
    func deleteObject(bucket: String, key: String, ifVersion version: [UInt8]?, marker: ObjectRecord?) async throws -> ObjectRecord?
    /// Removes one version (or delete marker) for good, its blobs to the garbage list. When it
    /// was the newest, the next newest becomes current unless it is a delete marker.
    /// - Parameters:
    ///   - bypassGovernance: GOVERNANCE retention does not hold (the caller may bypass it).
    ///   - now: retention that ends at or before `now` no longer holds.
    /// - Returns: the removed version, or nil when there is no such version.
    /// - Throws: `objectLocked` while the version's retention or legal hold holds.
    @discardableResult
    func deleteVersion(bucket: String, key: String, versionID: [UInt8], bypassGovernance: Bool, now: Date) async throws -> ObjectRecord?
    /// Versions and delete markers whose keys start with `prefix`, by key (UTF-8 byte order),
    /// newest first within a key; strictly after (`key`, `versionID`) when `after` is given
    /// (after every version of `key` when its `versionID` is nil), at most `limit`.
    func listVersions(bucket: String, prefix: String, after: (key: String, versionID: [UInt8]?)?, limit: Int) async throws -> [ObjectVersion]
    /// Replaces the metadata of the version of `bucket`/`key` with id `versionID`, current or
    /// not (tags, retention and legal holds changed in place); journaled.
    /// - Returns: the updated version, or nil when the key has no such version (or it is a delete marker).
    /// - Throws: `objectLocked` when the change would weaken retention in force at `now`
    ///   (``ObjectLock/weakening(_:_:now:bypassGovernance:)``).
    func replaceMetadata(bucket: String, key: String, versionID: [UInt8], metadata: [String: String],
                         bypassGovernance: Bool, now: Date) async throws -> ObjectRecord?
    /// Objects whose keys start with `prefix` and sort strictly after `after` (UTF-8 byte
    /// order), ascending, at most `limit`.
    func listObjects(bucket: String, prefix: String, after: String?, limit: Int) async throws -> [ObjectRecord]
    /// Replaces, in a version of a key (current or not), the part whose manifest has `versionID`
    /// (repair, drain), retiring `intent` (the write of the new blobs) in the same transaction;
    /// blobs of the old manifest that the new one drops go to the garbage list.
    /// - Returns: false when no part has that version id (nothing changes, the intent stays).
    func updateManifest(bucket: String, key: String, versionID: [UInt8], manifest: Manifest, retiringIntent intent: String?) async throws -> Bool

    // MARK: Multipart uploads
    // Parts are written like objects (intent first) but committed to their upload. Completing
    // an upload makes one object of chosen parts; parts not chosen, and the parts of aborted
    // uploads, go to the garbage list in the same transaction.

    /// - Throws: `noSuchBucket`.
    func createUpload(_ upload: UploadRecord) async throws
    func upload(id: String) async throws -> UploadRecord?
    /// Uploads in `bucket` whose keys start with `prefix`, ordered by key bytes then id, strictly
    /// after (`key`, `id`) when `after` is given (after every upload of `key` when its `id` is
    /// nil), at most `limit`.
    func listUploads(bucket: String, prefix: String, after: (key: String, id: String?)?, limit: Int) async throws -> [UploadRecord]
    /// Uploads created before `date` (for expiry).
    func uploads(before date: Date) async throws -> [UploadRecord]
    /// Records a part and retires its intent; a part with the same number is replaced (its
    /// blobs go to the garbage list).
    /// - Returns: the replaced part, if any.
    /// - Throws: `noSuchUpload` when the upload is gone; `preconditionFailed` when the intent is.
    @discardableResult
    func commitPart(_ part: PartRecord, intent: String) async throws -> PartRecord?
    /// The parts of an upload, by number.
    func parts(uploadID: String) async throws -> [PartRecord]
    /// Makes `object` (whose parts are manifests of this upload's parts) the current version of
    /// its key and forgets the upload; its unused parts and the replaced version go to garbage.
    /// - Parameter expectedVersion: as in ``commit(_:intent:expectedVersion:)``.
    /// - Returns: the replaced version, if any.
    /// - Throws: `noSuchUpload`; `invalidPart` when a part of `object` is no longer in the upload.
    @discardableResult
    func completeUpload(id: String, object: ObjectRecord, expectedVersion: [UInt8]?) async throws -> ObjectRecord?
    /// Forgets an upload; its parts go to the garbage list.
    /// - Throws: `noSuchUpload`.
    func abortUpload(id: String) async throws

    /// Blobs that may be deleted now: every garbage blob no read can need (of writes that never
    /// committed, of parts never completed), and those of replaced or deleted versions (or
    /// swapped-out shards) listed before `readableBefore`, so that a read that started before
    /// the change can finish; only blobs listed by changes through `journaledThrough`, so that
    /// nothing the journal at providers still points at is deleted.
    func garbage(limit: Int, readableBefore: Date, journaledThrough: Int64) async throws -> [BlobRef]
    /// Forgets garbage entries once their blobs are deleted.
    func removeGarbage(_ blobs: [BlobRef]) async throws
    /// Those of `blobs` that are on the garbage list (a pack whose last piece just went is).
    func garbageAmong(_ blobs: [BlobRef]) async throws -> [BlobRef]
    /// The names of every blob on `provider` referenced by an object, an uploaded part, an
    /// intent or the garbage list.
    func referencedBlobs(provider: String) async throws -> Set<String>

    /// Stores a new access key.
    /// - Throws: `invalidArgument` when the id exists.
    func createAccessKey(_ key: AccessKeyRecord) async throws
    func accessKey(id: String) async throws -> AccessKeyRecord?
    /// An access key and a bucket read together, in one snapshot and one trip to the catalog:
    /// what every signed request needs before its operation runs.
    func accessKey(id: String, bucket: String?) async throws -> (key: AccessKeyRecord?, bucket: BucketRecord?)
    func listAccessKeys() async throws -> [AccessKeyRecord]
    /// - Returns: false when there was no such key.
    @discardableResult
    func deleteAccessKey(id: String) async throws -> Bool
    /// Replaces an existing access key's record (its secret sealed anew by a rotation).
    /// - Throws: `invalidArgument` when there is no such key.
    func updateAccessKey(_ key: AccessKeyRecord) async throws

    /// Stores a new KMS key.
    /// - Throws: `invalidArgument` when a key of that name exists (or existed: names are never reused).
    func createKMSKey(_ key: KMSKeyRecord) async throws
    /// Every KMS key, destroyed ones included, by name.
    func kmsKeys() async throws -> [KMSKeyRecord]
    /// Replaces a KMS key's record (its state, or its material wrapped anew by a rotation).
    /// - Throws: `invalidArgument` when there is no such key.
    func updateKMSKey(_ key: KMSKeyRecord) async throws

    /// Notes shards of a version (an object's part) of `bucket`/`key` that need repair
    /// (missing, corrupt or never written).
    func noteRepair(bucket: String, key: String, versionID: [UInt8], shards: [Int], reason: String) async throws
    /// Notes in the order they were taken, at most `limit`.
    func pendingRepairs(limit: Int) async throws -> [RepairNote]
    /// Forgets notes once their shards are repaired (or their version is gone).
    func clearRepairs(versionID: [UInt8], shards: [Int]) async throws

    // MARK: Journal
    //
    // Every change of buckets, objects (puts, copies, completed uploads, deletes, manifests moved
    // by repair or drain) and access keys is also written as a ``JournalEntry`` in the same
    // transaction, numbered in commit order; the engine copies entries to providers (segments)
    // and from time to time the whole state (a snapshot), so that the catalog can be rebuilt.

    /// Head, durable and snapshot sequence numbers.
    func journalState() async throws -> JournalState
    /// Entries after `seq` not yet known to be at providers, in order, at most `limit`.
    func journalEntries(after seq: Int64, limit: Int) async throws -> [JournalEntry]
    /// Notes that the entries through `blob.last` are at providers in `blob` (a segment): they
    /// leave the catalog, and the blob is remembered (it is referenced, so gc keeps it).
    func noteJournalSegment(_ blob: JournalBlob) async throws
    /// The recoverable state, read in one transaction, numbered with the journal's head.
    func snapshot() async throws -> CatalogSnapshot
    /// Notes that `blob` holds a snapshot as of `blob.last`: entries and segments it covers, and
    /// older snapshots, go (their blobs to the garbage list).
    func noteJournalSnapshot(_ blob: JournalBlob) async throws
    /// Journal segments and snapshots at providers.
    func journalBlobs() async throws -> [JournalBlob]
    /// Remembers another blob kept at providers for recovery or audit (referenced: gc keeps it).
    func noteJournalBlob(_ blob: JournalBlob) async throws
    /// Forgets journal or audit blobs; their copies go to the garbage list.
    func retireJournalBlobs(_ blobs: [JournalBlob]) async throws
    /// Fills an empty catalog with a recovered state; journal numbering continues after
    /// `state.seq`, and `blobs` (what recovery found at providers) are remembered.
    func restore(_ state: CatalogSnapshot, blobs: [JournalBlob]) async throws

    /// Notes that a scrub checked these versions at `date`; a deep scrub counts as a light one
    /// too. A version removed since it was read is left out.
    func noteScrubbed(_ objects: [ObjectRecord], deep: Bool, at date: Date) async throws
    /// When a scrub last checked the current version of `bucket`/`key` (nil: never, or the
    /// object is gone); overwriting an object starts its record afresh.
    func lastScrub(bucket: String, key: String) async throws -> ScrubTimes?

    // MARK: Leases
    // Background jobs that must run once across the gateways sharing a catalog (repair, drain,
    // gc, scrubs, lifecycle…) run only while their gateway holds the job's lease.

    /// Gives `holder` the lease on `job` until `until` when no one holds it, it expired at
    /// `now`, or `holder` holds it already (a renewal).
    /// - Returns: whether `holder` holds it now.
    func claimLease(_ job: String, holder: String, now: Date, until: Date) async throws -> Bool
    /// Who holds the lease on `job` until when (nil: no one ever claimed it).
    func lease(_ job: String) async throws -> (holder: String, until: Date)?
}

/// When a version was last checked by a light and by a deep scrub.
public struct ScrubTimes: Hashable, Sendable {
    public var light: Date?
    public var deep: Date?
    public init(light: Date?, deep: Date?) {
        self.light = light
        self.deep = deep
    }
}

public struct BucketRecord: Hashable, Sendable, Codable {
    public var name: String
    public var created: Date
    /// The owner (account) whose access key created it.
    public var owner: String
    /// The default encryption of writes that name none (nil: the gateway's own keys, AES256).
    public var encryption: BucketEncryption?
    /// The bucket's tags (PutBucketTagging), in `x-amz-tagging`'s query form; nil: none.
    public var tagging: String?
    /// The bucket's CORS configuration (PutBucketCors), as the gateway encodes it; nil: none.
    public var cors: String?
    /// The bucket's lifecycle configuration (PutBucketLifecycleConfiguration), as the gateway
    /// encodes it; nil: none.
    public var lifecycle: String?
    /// The bucket's policy document (PutBucketPolicy), as the client sent it; nil: none.
    public var policy: String?
    /// Versioning (PutBucketVersioning); nil: never enabled. Once set it is never nil again.
    public var versioning: VersioningStatus?
    /// The bucket's Object Lock configuration, as the gateway encodes it; nil: the bucket was
    /// not created with Object Lock (it can never have it). Such a bucket's versioning is always Enabled.
    public var objectLock: String?
    public init(name: String, created: Date, owner: String = Owner.default, encryption: BucketEncryption? = nil, tagging: String? = nil,
                cors: String? = nil, lifecycle: String? = nil, policy: String? = nil, versioning: VersioningStatus? = nil,
                objectLock: String? = nil) {
        self.name = name
        self.created = created
        self.owner = owner
        self.encryption = encryption
        self.tagging = tagging
        self.cors = cors
        self.lifecycle = lifecycle
        self.policy = policy
        self.versioning = versioning
        self.objectLock = objectLock
    }
}

/// One current object version: one part for a plain put, the completed parts of a multipart
/// upload in order otherwise. Each part is its own sealed stream with its own data key.
public struct ObjectRecord: Hashable, Sendable, Codable {
    public var bucket: String
    public var key: String
    /// Names this version (conditional writes compare it); for a plain put, its part's version id.
    public var versionID: [UInt8]
    public var size: Int64
    public var etag: String
    public var modified: Date
    /// Content type, user metadata (`x-amz-meta-*`) and other stored headers.
    public var metadata: [String: String]
    /// The object's bytes are the parts' plaintexts, concatenated in this order.
    public var parts: [Manifest]
    /// The version has an id of its own (written while its bucket's versioning was Enabled);
    /// false: it is the key's null version (unversioned or Suspended bucket), which the next
    /// null version replaces.
    public var versioned: Bool
    /// A delete marker: no content (no parts), the newest version of a key deleted in a
    /// versioned bucket.
    public var deleteMarker: Bool

    public init(bucket: String, key: String, versionID: [UInt8], size: Int64, etag: String, modified: Date,
                metadata: [String: String], parts: [Manifest], versioned: Bool = false, deleteMarker: Bool = false) {
        self.bucket = bucket
        self.key = key
        self.versionID = versionID
        self.size = size
        self.etag = etag
        self.modified = modified
        self.metadata = metadata
        self.parts = parts
        self.versioned = versioned
        self.deleteMarker = deleteMarker
    }

    /// A delete marker for `bucket`/`key` (null when not `versioned`), dated to the millisecond
    /// (as catalogs keep dates).
    public static func deleteMarker(bucket: String, key: String, versioned: Bool, modified: Date) -> ObjectRecord {
        let modified = Date(timeIntervalSince1970: (modified.timeIntervalSince1970 * 1000).rounded() / 1000)
        return ObjectRecord(bucket: bucket, key: key, versionID: .random(count: 16), size: 0, etag: "", modified: modified,
                     metadata: [:], parts: [], versioned: versioned, deleteMarker: true)
    }

    /// The version id S3 clients see: `null` for the null version, else the id in hex.
    public var s3VersionID: String { versioned ? versionID.hex : "null" }

    /// A version stored by one put.
    public init(bucket: String, key: String, size: Int64, etag: String, modified: Date,
                metadata: [String: String], manifest: Manifest) {
        self.init(bucket: bucket, key: key, versionID: manifest.versionID, size: size, etag: etag, modified: modified,
                  metadata: metadata, parts: [manifest])
    }

    /// Every blob of every part.
    public var blobs: [BlobRef] { parts.flatMap(\.blobs) }
}

/// A multipart upload in progress.
public struct UploadRecord: Hashable, Sendable {
    /// Sorts in creation order (a time prefix, then random bytes).
    public var id: String
    public var bucket: String
    public var key: String
    public var created: Date
    /// Stored headers given when the upload was created; the completed object gets them.
    public var metadata: [String: String]

    public init(id: String, bucket: String, key: String, created: Date, metadata: [String: String]) {
        self.id = id
        self.bucket = bucket
        self.key = key
        self.created = created
        self.metadata = metadata
    }
}

/// One uploaded part of a multipart upload.
public struct PartRecord: Hashable, Sendable {
    public var uploadID: String
    /// 1 to 10,000.
    public var number: Int
    public var size: Int64
    /// The MD5 of the part's bytes, in hex.
    public var etag: String
    public var modified: Date
    public var manifest: Manifest
    /// The checksums its upload carried and the gateway checked (`x-amz-checksum-crc32` → base64).
    public var checksums: [String: String]

    public init(uploadID: String, number: Int, size: Int64, etag: String, modified: Date, manifest: Manifest,
                checksums: [String: String] = [:]) {
        self.uploadID = uploadID
        self.number = number
        self.size = size
        self.etag = etag
        self.modified = modified
        self.manifest = manifest
        self.checksums = checksums
    }
}

/// Blobs a write is about to create.
public struct WriteIntent: Hashable, Sendable {
    public var id: String
    public var created: Date
    public var blobs: [BlobRef]
    public init(id: String, created: Date, blobs: [BlobRef]) {
        self.id = id
        self.created = created
        self.blobs = blobs
    }

    /// Ids of the intents of packs (``isPack``) begin with this.
    public static let packPrefix = "pack-"

    /// A pack intent covers the packs of one batch of small-object writes (docs/FORMAT.md,
    /// "Packs"): recording it opens a pack row for each of its blobs; each version committed
    /// under it counts the pieces it keeps (the intent stays); abandoning it closes the packs,
    /// and a closed pack with no live piece goes to the garbage list.
    public var isPack: Bool { Self.isPack(id) }
    public static func isPack(_ id: String) -> Bool { id.hasPrefix(packPrefix) }
}

/// A shard of a version that needs repair.
public struct RepairNote: Hashable, Sendable {
    public var bucket: String
    public var key: String
    public var versionID: [UInt8]
    public var shard: Int
    public var reason: String
    public init(bucket: String, key: String, versionID: [UInt8], shard: Int, reason: String) {
        self.bucket = bucket
        self.key = key
        self.versionID = versionID
        self.shard = shard
        self.reason = reason
    }
}

extension Catalog {
    /// Creates a bucket of the default owner.
    public func createBucket(_ name: String) async throws { try await createBucket(name, owner: Owner.default, objectLock: nil) }
    /// Creates a bucket without Object Lock.
    public func createBucket(_ name: String, owner: String) async throws { try await createBucket(name, owner: owner, objectLock: nil) }

    /// ``deleteObject(bucket:key:ifVersion:marker:)`` of an unversioned bucket: the current version goes.
    @discardableResult
    public func deleteObject(bucket: String, key: String, ifVersion version: [UInt8]? = nil) async throws -> ObjectRecord? {
        try await deleteObject(bucket: bucket, key: key, ifVersion: version, marker: nil)
    }

    /// ``replaceMetadata(bucket:key:versionID:metadata:bypassGovernance:now:)`` without bypass, now.
    @discardableResult
    public func replaceMetadata(bucket: String, key: String, versionID: [UInt8], metadata: [String: String]) async throws -> ObjectRecord? {
        try await replaceMetadata(bucket: bucket, key: key, versionID: versionID, metadata: metadata, bypassGovernance: false, now: Date())
    }

    /// Every version and delete marker of `bucket`/`key`, newest first.
    public func versions(bucket: String, key: String) async throws -> [ObjectRecord] {
        var all: [ObjectRecord] = []
        // `key` sorts before every other key it prefixes: its versions come first.
        var after: (key: String, versionID: [UInt8]?)?
        while true {
            let page = try await listVersions(bucket: bucket, prefix: key, after: after, limit: 1000).map(\.record)
            let mine = page.filter { $0.key == key }
            all += mine
            guard page.count == 1000, mine.count == page.count, let last = page.last else { break }
            after = (key, last.versionID)
        }
        return all
    }

    /// ``updateManifest(bucket:key:versionID:manifest:retiringIntent:)`` with no intent.
    public func updateManifest(bucket: String, key: String, versionID: [UInt8], manifest: Manifest) async throws -> Bool {
        try await updateManifest(bucket: bucket, key: key, versionID: versionID, manifest: manifest, retiringIntent: nil)
    }
}

/// An S3 access key. The secret is stored sealed under the master key (SigV4 needs the secret
/// itself to verify signatures, so it cannot be a one-way hash).
public struct AccessKeyRecord: Hashable, Sendable, Codable {
    public var id: String
    public var name: String
    /// The owner (account) the key acts for: the buckets it creates are this owner's.
    public var owner: String
    public var sealedSecret: [UInt8]
    /// Only reads (GET, HEAD, listings) are allowed.
    public var readOnly: Bool
    /// Buckets the key may use; empty for all.
    public var buckets: [String]
    public var created: Date

    public init(id: String, name: String, owner: String = Owner.default, sealedSecret: [UInt8], readOnly: Bool, buckets: [String], created: Date) {
        self.id = id
        self.name = name
        self.owner = owner
        self.sealedSecret = sealedSecret
        self.readOnly = readOnly
        self.buckets = buckets
        self.created = created
    }
}

extension Catalog {
    /// Every blob waiting to be deleted.
    public func garbage(limit: Int) async throws -> [BlobRef] {
        try await garbage(limit: limit, readableBefore: .distantFuture, journaledThrough: .max)
    }
}

/// Owners (accounts): access keys act for one, buckets belong to one. Records written before
/// owners existed belong to the default owner.
public enum Owner {
    public static let `default` = "nuage"

    /// 1 to 64 lower-case letters, digits, `.`, `_` and `-`, starting with a letter or digit.
    public static func validate(_ name: String) throws {
        guard (1...64).contains(name.count), name.first.map({ $0.isASCII && ($0.isLowercase || $0.isNumber) }) == true,
              name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || "._-".contains($0)) }) else {
            throw NuageError(.invalidArgument, "an owner is 1 to 64 lower-case letters, digits, '.', '_' and '-', starting with a letter or digit; not '\(name.prefix(80))'")
        }
    }
}

extension BucketRecord {
    private enum CodingKeys: String, CodingKey { case name, created, owner, encryption, tagging, cors, lifecycle, policy, versioning, objectLock }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try c.decode(String.self, forKey: .name), created: try c.decode(Date.self, forKey: .created),
                  owner: try c.decodeIfPresent(String.self, forKey: .owner) ?? Owner.default,
                  encryption: try c.decodeIfPresent(BucketEncryption.self, forKey: .encryption),
                  tagging: try c.decodeIfPresent(String.self, forKey: .tagging), cors: try c.decodeIfPresent(String.self, forKey: .cors),
                  lifecycle: try c.decodeIfPresent(String.self, forKey: .lifecycle), policy: try c.decodeIfPresent(String.self, forKey: .policy),
                  versioning: try c.decodeIfPresent(VersioningStatus.self, forKey: .versioning),
                  objectLock: try c.decodeIfPresent(String.self, forKey: .objectLock))
    }
}

extension AccessKeyRecord {
    private enum CodingKeys: String, CodingKey { case id, name, owner, sealedSecret, readOnly, buckets, created }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(id: try c.decode(String.self, forKey: .id), name: try c.decode(String.self, forKey: .name),
                  owner: try c.decodeIfPresent(String.self, forKey: .owner) ?? Owner.default,
                  sealedSecret: try c.decode([UInt8].self, forKey: .sealedSecret), readOnly: try c.decode(Bool.self, forKey: .readOnly),
                  buckets: try c.decode([String].self, forKey: .buckets), created: try c.decode(Date.self, forKey: .created))
    }
}

extension ObjectRecord {
    private enum CodingKeys: String, CodingKey { case bucket, key, versionID, size, etag, modified, metadata, parts, versioned, deleteMarker }

    /// Records written before versioning have neither flag: null versions, not markers.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(bucket: try c.decode(String.self, forKey: .bucket), key: try c.decode(String.self, forKey: .key),
                  versionID: try c.decode([UInt8].self, forKey: .versionID), size: try c.decode(Int64.self, forKey: .size),
                  etag: try c.decode(String.self, forKey: .etag), modified: try c.decode(Date.self, forKey: .modified),
                  metadata: try c.decode([String: String].self, forKey: .metadata), parts: try c.decode([Manifest].self, forKey: .parts),
                  versioned: try c.decodeIfPresent(Bool.self, forKey: .versioned) ?? false,
                  deleteMarker: try c.decodeIfPresent(Bool.self, forKey: .deleteMarker) ?? false)
    }

    /// The flags are written only when set, so that an unversioned record reads as it always did.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(bucket, forKey: .bucket)
        try c.encode(key, forKey: .key)
        try c.encode(versionID, forKey: .versionID)
        try c.encode(size, forKey: .size)
        try c.encode(etag, forKey: .etag)
        try c.encode(modified, forKey: .modified)
        try c.encode(metadata, forKey: .metadata)
        try c.encode(parts, forKey: .parts)
        if versioned { try c.encode(true, forKey: .versioned) }
        if deleteMarker { try c.encode(true, forKey: .deleteMarker) }
    }
}
