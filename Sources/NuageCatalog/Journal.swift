import Foundation
import NuageCore

/// One change of the catalog's state, as the journal keeps it: enough to replay the change
/// into an empty catalog, in order, after the gateway's disk is lost (`nuage recover`).
public enum CatalogChange: Codable, Hashable, Sendable {
    case bucketCreated(BucketRecord)
    case bucketDeleted(String)
    /// A put, a copy or a completed multipart upload: the key's current version is now this
    /// one (versioned: the previous one is kept; null: it replaces the null version).
    case objectPut(ObjectRecord)
    /// The current version of an unversioned bucket's key was deleted.
    case objectDeleted(bucket: String, key: String)
    /// A DELETE without a version id in a versioned (or suspended) bucket: this delete marker
    /// is the key's newest version.
    case deleteMarkerPut(ObjectRecord)
    /// One version (or delete marker) was removed for good.
    case versionDeleted(bucket: String, key: String, versionID: [UInt8])
    /// A version's metadata (tags, retention, legal hold) was replaced in place.
    case metadataReplaced(bucket: String, key: String, versionID: [UInt8], metadata: [String: String])
    /// A repair or a drain moved shards of the part with this manifest's version id.
    case manifestUpdated(bucket: String, key: String, manifest: Manifest)
    case accessKeyCreated(AccessKeyRecord)
    case accessKeyDeleted(String)
    /// A bucket's settings changed (default encryption).
    case bucketUpdated(BucketRecord)
    /// A KMS key was created or changed (state, rewrapped material, destroyed).
    case kmsKeyChanged(KMSKeyRecord)
}

/// A change with its place in the catalog's history. Sequence numbers are assigned in the
/// transaction that makes the change, so their order is the order of the changes.
public struct JournalEntry: Codable, Hashable, Sendable {
    public var seq: Int64
    public var change: CatalogChange
    public init(seq: Int64, change: CatalogChange) {
        self.seq = seq
        self.change = change
    }
}

/// Where the journal stands: changes up to `head` exist; those up to `durable` are at providers
/// (in journal segments or a snapshot).
public struct JournalState: Hashable, Sendable {
    public var head: Int64
    public var durable: Int64
    /// The sequence number of the newest snapshot at providers (0: none yet).
    public var snapshot: Int64
    public init(head: Int64, durable: Int64, snapshot: Int64) {
        self.head = head
        self.durable = durable
        self.snapshot = snapshot
    }
}

/// A blob at providers that holds part of the journal: a segment (changes `first...last`) or a
/// snapshot (the whole state as of `last`; `first` is 0).
public struct JournalBlob: Hashable, Sendable, Codable {
    /// `audit`: a copy of the audit log (kept until removed by hand; gc leaves it alone).
    public enum Kind: String, Codable, Sendable { case segment, snapshot, audit }
    public var kind: Kind
    public var first: Int64
    public var last: Int64
    /// The same bytes on several providers (in distinct jurisdictions).
    public var copies: [BlobRef]
    public init(kind: Kind, first: Int64, last: Int64, copies: [BlobRef]) {
        self.kind = kind
        self.first = first
        self.last = last
        self.copies = copies
    }
}

/// The catalog's whole recoverable state as of `seq`: buckets, object versions, access keys
/// and KMS keys (multipart uploads in progress, repair notes, garbage and scrub times are not
/// kept: a recovered gateway finds those again or does without them).
public struct CatalogSnapshot: Codable, Hashable, Sendable {
    public var seq: Int64
    public var buckets: [BucketRecord]
    /// Current versions, by bucket and key.
    public var objects: [ObjectRecord]
    /// Noncurrent versions and delete markers, by bucket and key, oldest first within a key.
    public var versions: [ObjectRecord]
    public var accessKeys: [AccessKeyRecord]
    public var kmsKeys: [KMSKeyRecord]
    public init(seq: Int64, buckets: [BucketRecord], objects: [ObjectRecord], versions: [ObjectRecord] = [],
                accessKeys: [AccessKeyRecord], kmsKeys: [KMSKeyRecord] = []) {
        self.seq = seq
        self.buckets = buckets
        self.objects = objects
        self.versions = versions
        self.accessKeys = accessKeys
        self.kmsKeys = kmsKeys
    }

    private enum CodingKeys: String, CodingKey { case seq, buckets, objects, versions, accessKeys, kmsKeys }

    /// How many pieces of each pack the state's versions keep: the pack rows a restored
    /// catalog starts with (their batches are long over).
    public static func livePieces(_ state: CatalogSnapshot) -> [(pack: BlobRef, live: Int64)] {
        var live: [BlobRef: Int64] = [:]
        for record in state.objects + state.versions {
            for piece in record.blobs where piece.isPiece { live[piece.whole, default: 0] += 1 }
        }
        return live.sorted { $0.key.description < $1.key.description }.map { ($0.key, $0.value) }
    }

    /// Snapshots written before KMS keys or versions existed have none.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        seq = try container.decode(Int64.self, forKey: .seq)
        buckets = try container.decode([BucketRecord].self, forKey: .buckets)
        objects = try container.decode([ObjectRecord].self, forKey: .objects)
        versions = try container.decodeIfPresent([ObjectRecord].self, forKey: .versions) ?? []
        accessKeys = try container.decode([AccessKeyRecord].self, forKey: .accessKeys)
        kmsKeys = try container.decodeIfPresent([KMSKeyRecord].self, forKey: .kmsKeys) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(seq, forKey: .seq)
        try container.encode(buckets, forKey: .buckets)
        try container.encode(objects, forKey: .objects)
        if !versions.isEmpty { try container.encode(versions, forKey: .versions) }
        try container.encode(accessKeys, forKey: .accessKeys)
        try container.encode(kmsKeys, forKey: .kmsKeys)
    }

    /// The state after `entries` (in sequence order, each after `seq`), as a replay would leave it.
    public func applying(_ entries: [JournalEntry]) -> CatalogSnapshot {
        var buckets = Dictionary(uniqueKeysWithValues: self.buckets.map { ($0.name, $0) })
        var objects: [String: [String: KeyHistory]] = [:]
        for object in self.objects { objects[object.bucket, default: [:]][object.key, default: KeyHistory()].current = object }
        for version in versions { objects[version.bucket, default: [:]][version.key, default: KeyHistory()].older.append(version) }
        var keys = Dictionary(uniqueKeysWithValues: accessKeys.map { ($0.id, $0) })
        var kmsKeys = Dictionary(uniqueKeysWithValues: self.kmsKeys.map { ($0.name, $0) })
        var seq = self.seq
        for entry in entries where entry.seq > seq {
            seq = entry.seq
            switch entry.change {
            case .bucketCreated(let bucket): buckets[bucket.name] = bucket
            case .bucketDeleted(let name):
                buckets[name] = nil
                objects[name] = nil
            case .objectPut(let object): objects[object.bucket, default: [:]][object.key, default: KeyHistory()].put(object)
            case .objectDeleted(let bucket, let key): objects[bucket]?[key]?.delete(marker: nil)
            case .deleteMarkerPut(let marker): objects[marker.bucket, default: [:]][marker.key, default: KeyHistory()].delete(marker: marker)
            case .versionDeleted(let bucket, let key, let versionID): objects[bucket]?[key]?.deleteVersion(versionID)
            case .metadataReplaced(let bucket, let key, let versionID, let metadata):
                objects[bucket]?[key]?.update(where: { $0.versionID == versionID }) { $0.metadata = metadata }
            case .manifestUpdated(let bucket, let key, let manifest):
                objects[bucket]?[key]?.update(where: { $0.parts.contains { $0.versionID == manifest.versionID } }) { record in
                    for index in record.parts.indices where record.parts[index].versionID == manifest.versionID { record.parts[index] = manifest }
                }
            case .accessKeyCreated(let key): keys[key.id] = key
            case .accessKeyDeleted(let id): keys[id] = nil
            case .bucketUpdated(let bucket): if buckets[bucket.name] != nil { buckets[bucket.name] = bucket }
            case .kmsKeyChanged(let key): kmsKeys[key.name] = key
            }
        }
        // By bucket, then key in UTF-8 byte order (S3's order, and the catalog's).
        let histories = objects.flatMap { bucket, keys in keys.map { (bucket: bucket, key: Array($0.key.utf8), value: $0.value) } }
            .filter { !$0.value.isEmpty }
            .sorted { $0.bucket != $1.bucket ? $0.bucket < $1.bucket : $0.key.lexicographicallyPrecedes($1.key) }
        return CatalogSnapshot(seq: seq, buckets: buckets.values.sorted { $0.name < $1.name },
                               objects: histories.compactMap(\.value.current),
                               versions: histories.flatMap(\.value.older),
                               accessKeys: keys.values.sorted { $0.id < $1.id },
                               kmsKeys: kmsKeys.values.sorted { $0.name < $1.name })
    }
}
